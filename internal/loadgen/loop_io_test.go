//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/h1"
	"github.com/gather-dev/gather/internal/report"
)

// contentLength returns the Content-Length of a request's header block.
func contentLength(head string) int64 {
	for _, line := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// A server may answer before it has read the whole request body: the
// loops read while they wait to write, the goroutine workers write from a
// goroutine of their own, or the two ends wait for each other until the
// timeout (here: forever, the runs have none).
func TestAnswerWhileWriting(t *testing.T) {
	t.Parallel()
	const size = 8 << 20 // far more than the sockets' buffers hold
	tests := []struct {
		name   string
		handle func(c net.Conn, hold <-chan struct{})
		status int
		bytes  int64 // per request
		conns  int64
	}{
		{
			// The answer streams the body back as the server reads it.
			name: "echo",
			handle: func(c net.Conn, _ <-chan struct{}) {
				c.(*net.TCPConn).SetReadBuffer(64 << 10)
				c.(*net.TCPConn).SetWriteBuffer(64 << 10)
				br := bufio.NewReader(c)
				for {
					head, err := readRequest(br)
					if err != nil {
						return
					}
					n := contentLength(head)
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.FormatInt(n, 10)+"\r\n\r\n"); err != nil {
						return
					}
					if _, err := io.CopyN(c, br, n); err != nil {
						return
					}
				}
			},
			status: 200, bytes: size, conns: 1,
		},
		{
			// An early error: the server answers at once and reads no
			// more. The connection cannot carry another request.
			name: "early 413",
			handle: func(c net.Conn, hold <-chan struct{}) {
				readRequest(bufio.NewReader(c))
				io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig")
				<-hold
			},
			status: 413, bytes: 3, conns: 2,
		},
	}
	body := []byte(strings.Repeat("e", size))
	for _, tt := range tests {
		for _, goroutines := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: ", event loops", true: ", goroutines"}[goroutines], func(t *testing.T) {
				t.Parallel()
				hold := make(chan struct{})
				srv := newRawServer(t, func(c net.Conn) { tt.handle(c, hold) })
				t.Cleanup(func() { close(hold) }) // before the server's cleanup
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				time.AfterFunc(20*time.Second, cancel) // a hang fails, not blocks
				s, err := Run(ctx, &Plan{
					URL:         mustURL(t, "http://"+srv.addr()+"/"),
					Method:      "POST",
					Body:        body,
					Connections: 1,
					Requests:    2,
					Goroutines:  goroutines,
				})
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]string{false: "event loop", true: "goroutine"}[goroutines]; !strings.Contains(s.Generator.Engine, want) {
					t.Fatalf("engine %q, want %s", s.Generator.Engine, want)
				}
				if s.Requests != 2 || s.Status[tt.status] != 2 || s.Bytes != 2*tt.bytes {
					t.Errorf("%d requests, statuses %v, errors %v, %d bytes; want 2 × %d with %d bytes each",
						s.Requests, s.Status, s.ErrorKinds, s.Bytes, tt.status, tt.bytes)
				}
				if got := srv.conns.Load(); got != tt.conns {
					t.Errorf("%d connections, want %d", got, tt.conns)
				}
			})
		}
	}
}

// endlessLoop returns an event loop of one connection that always has
// more of a body to read: a sparse file of a terabyte, after a header that
// announces a body without end. A real socket is like that when the
// server writes faster than the loop reads. (Not /dev/zero: the runtime's
// preemption signals cut its reads short.)
func endlessLoop(t *testing.T, timeout time.Duration) (*eventLoop, *loopConn) {
	var wake [2]int
	if err := syscall.Pipe2(wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(wake[0]); syscall.Close(wake[1]) })
	p := &Plan{URL: mustURL(t, "http://127.0.0.1:1/"), Connections: 1, Requests: 1, Timeout: timeout}
	l, err := newEventLoop(p, p.h1Request(), &syscall.SockaddrInet4{Port: 1}, syscall.AF_INET, wake[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	l.stop = new(atomic.Bool)
	l.run = &run{plan: p, t0: time.Now()}
	l.run.next.Store(1) // the request below is the run's only one
	// tmpfs reads holes without filling the page cache.
	dir := "/dev/shm"
	if _, err := os.Stat(dir); err != nil {
		dir = t.TempDir()
	}
	f, err := os.CreateTemp(dir, "endless")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	err = f.Truncate(1 << 40)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(f.Name(), syscall.O_RDONLY|syscall.O_CLOEXEC, 0) // the loop closes it
	if err != nil {
		t.Fatal(err)
	}
	c := &l.conns[0]
	c.fd, c.state, c.readable, c.start, c.target = fd, connReading, true, time.Now(), &l.req.targets[0]
	if timeout > 0 {
		c.deadline = c.start.Add(timeout)
	}
	if _, err := c.p.Feed([]byte("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	return l, c
}

// stepWithin runs l.step(c) and fails the test if it has not returned
// within a generous bound.
func stepWithin(t *testing.T, l *eventLoop, c *loopConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.step(c)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("step still reading after 10s") // and leaks the goroutine
	}
}

// A connection whose reads are never short (the server writes faster
// than the loop reads) must still meet its timeout, and the end of the
// run.
func TestLoopEndlessRead(t *testing.T) {
	t.Parallel()
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		l, c := endlessLoop(t, 50*time.Millisecond)
		stepWithin(t, l, c)
		s := report.Merge(l.rec)
		if s.Requests != 1 || s.ErrorKinds[report.ErrTimeout] != 1 || c.state != connRetired || c.fd != -1 {
			t.Errorf("%d requests, errors %v, state %v, fd %d; want one timeout, the connection retired and closed",
				s.Requests, s.ErrorKinds, c.state, c.fd)
		}
	})
	t.Run("stop", func(t *testing.T) {
		t.Parallel()
		l, c := endlessLoop(t, 0)
		time.AfterFunc(50*time.Millisecond, func() { l.stop.Store(true) })
		stepWithin(t, l, c)
		s := report.Merge(l.rec)
		if s.Requests != 0 || c.state != connRetired || c.fd != -1 {
			t.Errorf("%d requests, state %v, fd %d; want none counted, the connection retired and closed",
				s.Requests, c.state, c.fd)
		}
	})
}

// A response cut by the loop's read buffer anywhere near a line's end,
// or inside a line that the parser must take in two reads, is read as a
// whole one: what the first read leaves of a line is fed again before the
// bytes of the second.
func TestLoopReadAcrossBuffer(t *testing.T) {
	t.Parallel()
	// around returns a response in which suffix starts at offset off,
	// after a status line and filler fields.
	around := func(off int, suffix string) string {
		const filler = "X-Filler: 0123456789012345678901234567890123456789\r\n"
		head := "HTTP/1.1 200 OK\r\n" + strings.Repeat(filler, (off-200)/len(filler))
		pad := off - len(head) - len("X-Pad: \r\n")
		return head + "X-Pad: " + strings.Repeat("p", pad) + "\r\n" + suffix
	}
	type tc struct {
		name string
		resp string
		body int64
	}
	var tests []tc
	for d := -20; d <= 3; d++ {
		off := loopReadBuffer + d
		tests = append(tests,
			tc{fmt.Sprintf("length line at %+d", d), around(off, "Content-Length: 5\r\n\r\nhello"), 5},
			tc{fmt.Sprintf("chunk line at %+d", d), around(off-len("Transfer-Encoding: chunked\r\n\r\n"),
				"Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n"), 5})
	}
	// A line of almost the parser's limit that the buffer cuts early,
	// so that what it leaves fills most of the next read.
	long := "X-Long: " + strings.Repeat("l", h1.LineLimit-len("X-Long: \r\n")-1) + "\r\n"
	tests = append(tests, tc{"longest line cut", around(8<<10, long+"Content-Length: 2\r\n\r\nok"), 2})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fds[1])
			if err := syscall.SetsockoptInt(fds[1], syscall.SOL_SOCKET, syscall.SO_SNDBUF, 1<<20); err != nil {
				t.Fatal(err)
			}
			if n, err := syscall.Write(fds[1], []byte(tt.resp)); n != len(tt.resp) {
				t.Fatalf("wrote %d of %d bytes: %v", n, len(tt.resp), err)
			}
			l := &eventLoop{buf: make([]byte, loopReadBuffer), stop: new(atomic.Bool)}
			c := &loopConn{fd: fds[0], readable: true}
			defer l.closeConn(c)
			for reads := 0; ; reads++ {
				err := l.read(c)
				if err == nil {
					break
				}
				if err != syscall.EAGAIN || reads > 10 {
					t.Fatalf("read %d: %v", reads, err)
				}
			}
			if c.p.Status() != 200 || c.p.BodyBytes() != tt.body || len(c.pending) != 0 {
				t.Errorf("status %d, %d body bytes, %d bytes left; want 200, %d, 0", c.p.Status(), c.p.BodyBytes(), len(c.pending), tt.body)
			}
		})
	}
}
