//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// Among connections that the server answers at once, the ones it leaves
// hanging time out near the timeout, while the others go on; and the run
// counts what the server saw: every request it left hanging as a timeout,
// every answer as a status (or as a timeout, if a loaded machine delayed
// it that long), none lost when the duration ends with requests in
// flight.
func TestSomeConnectionsHang(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "event loops", true: "goroutines"}[goroutines], func(t *testing.T) {
			t.Parallel()
			var (
				accepted, answered atomic.Int64
				hanging            atomic.Int64 // requests not yet given up
				mu                 sync.Mutex
				hung               []time.Duration // from the request to the client's close
			)
			srv := newRawServer(t, func(c net.Conn) {
				hang := accepted.Add(1)%2 == 0
				br := bufio.NewReader(c)
				for {
					if _, err := readRequest(br); err != nil {
						return
					}
					if hang {
						hanging.Add(1)
						start := time.Now()
						br.ReadByte() // until the client gives up and closes
						mu.Lock()
						hung = append(hung, time.Since(start))
						mu.Unlock()
						hanging.Add(-1)
						return
					}
					// Counted before the write: the client may record the
					// response before this goroutine runs again.
					answered.Add(1)
					if _, err := io.WriteString(c, helloResponse); err != nil {
						return
					}
				}
			})
			s, err := Run(t.Context(), &Plan{
				URL:         mustURL(t, "http://"+srv.addr()+"/"),
				Connections: 6,
				Duration:    600 * time.Millisecond,
				Timeout:     timeout,
				Goroutines:  goroutines,
			})
			if err != nil {
				t.Fatal(err)
			}
			// The client closes before Run returns, but the handler may
			// not have seen it yet: wait for it as the server's cleanup
			// would.
			for deadline := time.Now().Add(10 * time.Second); hanging.Load() > 0; {
				if time.Now().After(deadline) {
					t.Fatalf("%d requests still hanging 10 s after Run returned", hanging.Load())
				}
				time.Sleep(5 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			ok, timeouts, left := s.Status[200], s.ErrorKinds[report.ErrTimeout], int64(len(hung))
			// A timeout on a connection that the server answers is a
			// request that it answered late or had not yet read.
			if s.Requests != ok+timeouts || timeouts < left || ok > answered.Load() || answered.Load() > ok+timeouts-left {
				t.Errorf("%d requests, statuses %v, errors %v; the server answered %d and left %d hanging",
					s.Requests, s.Status, s.ErrorKinds, answered.Load(), left)
			}
			if len(hung) < 3 || s.Status[200] < 100 {
				t.Errorf("%d hanging requests, %d answered: want at least the first 3, and the others going on", len(hung), s.Status[200])
			}
			for _, d := range hung {
				// The server's clock starts after the client's: a little
				// short of the timeout is fine, much past it is not.
				if d < timeout/2 || d > timeout+2*time.Second {
					t.Errorf("a hanging request timed out after %v, want about %v", d, timeout)
				}
			}
		})
	}
}

// fullBacklog returns the address of a listener that accepts nothing and
// whose accept queue is full, so that connecting to it hangs: the kernel
// drops the SYNs.
func fullBacklog(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // one connection fills it
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return addr
}

// Connecting to a listener with a full backlog hangs: each request times
// out, or the cancel ends the run at once; either way every socket the
// loops opened is closed.
func TestLoopFullBacklog(t *testing.T) {
	addr := fullBacklog(t)
	fds := openFDs(t)
	start := time.Now()
	s := runLoops(t, t.Context(), &Plan{
		URL:         mustURL(t, "http://"+addr+"/"),
		Connections: 4,
		Requests:    8,
		Timeout:     100 * time.Millisecond,
	})
	if s.Requests != 8 || s.ErrorKinds[report.ErrTimeout] != 8 {
		t.Errorf("%d requests, errors %v; want 8 timeouts", s.Requests, s.ErrorKinds)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("8 requests of 100 ms over 4 connections took %v", took)
	}
	waitFDs(t, fds)

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	s = runLoops(t, ctx, &Plan{
		URL:         mustURL(t, "http://"+addr+"/"),
		Connections: 4,
		Duration:    time.Minute,
	})
	if s.Requests != 0 {
		t.Errorf("%d requests counted, want none: all were interrupted", s.Requests)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v after the cancel", took)
	}
	waitFDs(t, fds)
}
