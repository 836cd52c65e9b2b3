package slowserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// exchange writes reqs on one new connection to s and returns every byte
// the server sent until it closed the connection, with Date headers
// masked.
func exchange(t *testing.T, s *Server, reqs string) string {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // generous: a loaded machine
	if _, err := io.WriteString(c, reqs); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answers: %v (got %q)", err, got)
	}
	return dateHeader.ReplaceAllString(string(got), "Date: (masked)\r")
}

var dateHeader = regexp.MustCompile(`(?m)^Date: [^\r]*\r`)

// The lean path answers byte for byte as net/http does, whatever the
// requests on a connection are: the ones it serves itself, and the ones it
// hands to net/http with the bytes already read.
func TestLeanAnswersAsNetHTTP(t *testing.T) {
	t.Parallel()
	const closing = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	tests := []struct {
		name string
		cfg  Config
		reqs string
	}{
		{"pipelined GET /", Config{}, "GET /?i=1 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\nUser-Agent: t\r\n\r\n" + closing},
		{"other routes between", Config{}, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /status/418 HTTP/1.1\r\nHost: x\r\n\r\nGET /?a=b HTTP/1.1\r\nHost: x\r\n\r\n" + closing},
		{"HEAD", Config{}, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + closing},
		{"POST with a body", Config{}, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" + closing},
		{"HTTP/1.0", Config{}, "GET / HTTP/1.0\r\n\r\n"},
		{"no Host", Config{}, "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"},
		{"two Hosts", Config{}, "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"},
		{"absolute target", Config{}, "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n" + closing},
		{"malformed header", Config{}, "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"},
		{"oversized header", Config{}, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", MaxHeaderBytes+8192) + "\r\n\r\n"},
		{"injected failures", Config{FailRate: 1}, "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + closing},
		{"a delay", Config{Delay: 20 * time.Millisecond, PreciseTimer: true}, "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + closing},
		// Malformed heads net/http refuses (400) or reads otherwise: the
		// lean path must not answer them 200, nor wait for a CRLF that
		// does not come.
		{"lines ending in bare LF", Config{}, "GET / HTTP/1.1\nHost: x\nConnection: close\n\n"},
		{"a bare LF hiding a Content-Length", Config{}, "GET / HTTP/1.1\r\nHost: x\nContent-Length: 37\r\n\r\n" +
			"GET /status/418 HTTP/1.1\r\nHost: x\r\n\r\n" + closing}, // a body, not a request
		{"a bare CR in a value", Config{}, "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n" + closing},
		{"a NUL in a value", Config{}, "GET / HTTP/1.1\r\nHost: x\r\nX: \x00\r\n\r\n" + closing},
		{"a DEL in a value", Config{}, "GET / HTTP/1.1\r\nHost: x\r\nX: \x7f\r\n\r\n" + closing},
		{"a tab in a value", Config{}, "GET / HTTP/1.1\r\nHost: x\r\nX: a\tb\r\n\r\n" + closing},
		{"a name not a token", Config{}, "GET / HTTP/1.1\r\nHost: x\r\nX(: y\r\n\r\n" + closing},
		{"a control byte in a name", Config{}, "GET / HTTP/1.1\r\nHost: x\r\nX\x01: y\r\n\r\n" + closing},
		{"a malformed Host", Config{}, "GET / HTTP/1.1\r\nHost: x/y\r\n\r\n" + closing},
		{"a Host with a space", Config{}, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n" + closing},
		{"a Host ending in NBSP", Config{}, "GET / HTTP/1.1\r\nHost: x\xc2\xa0\r\n\r\n" + closing},
		{"a control byte in the target", Config{}, "GET /?a\x01 HTTP/1.1\r\nHost: x\r\n\r\n" + closing},
		{"a tab in the target", Config{}, "GET /?a\tb HTTP/1.1\r\nHost: x\r\n\r\n" + closing},
		{"bytes over 0x7f", Config{}, "GET /?\xff HTTP/1.1\r\nHost: x\r\nX: \xff\r\n\r\n" + closing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lean := tt.cfg
			lean.Lean = true
			want := exchange(t, start(t, tt.cfg), tt.reqs)
			got := exchange(t, start(t, lean), tt.reqs)
			if got != want {
				t.Errorf("lean path answered\n%q\nnet/http\n%q", got, want)
			}
			if !strings.HasPrefix(want, "HTTP/1.") {
				t.Errorf("net/http answered %q", want)
			}
		})
	}
}

// The lean path counts what it answers as net/http's path does.
func TestLeanStats(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Lean: true})
	c := client(t, 1)
	for range 3 {
		if code, body, err := get(c, s.URL()+"/?i=1"); err != nil || code != 200 || body != "hello!" {
			t.Fatalf("GET / = %d %q, %v", code, body, err)
		}
	}
	if code, _, err := get(c, s.URL()+"/status/404"); err != nil || code != 404 {
		t.Fatalf("GET /status/404 = %d, %v", code, err)
	}
	st, err := s.Shutdown(time.Second)
	if err != nil || st.String() != "4 requests (200: 3, 404: 1), 0 dropped, 0 client gone, 0 in flight cut" {
		t.Errorf("Shutdown = %q, %v", st, err)
	}
}

// A lean delay on the precise timer is never shorter than asked.
func TestLeanDelayNeverEarly(t *testing.T) {
	t.Parallel()
	const delay = 30 * time.Millisecond
	s := start(t, Config{Delay: delay, PreciseTimer: true, Lean: true})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for range 10 {
		begin := time.Now()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if took := time.Since(begin); took < delay {
			t.Errorf("answered after %v, want at least %v", took, delay)
		}
	}
}

// A lean connection whose client closes it ends its goroutine (goleak in
// TestMain checks), idle or between a request and its answer.
func TestLeanClientCloses(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Delay: 50 * time.Millisecond, Lean: true})
	for _, reqs := range []string{"", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHo"} {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, reqs)
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	if st, err := s.Shutdown(time.Second); err != nil || st.Requests > 1 || st.InFlight != 0 {
		t.Errorf("Shutdown = %v, %v; want at most the one request, none in flight", st, err)
	}
}

// Telling a request the lean path answers costs no allocation: it runs
// once per request on the server's one core.
func TestLeanHeadAllocs(t *testing.T) {
	head := []byte("GET /?i=1 HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nUser-Agent: gather/1 (a benchmark)\r\nAccept: */*\r\n")
	if !isLean(head) {
		t.Fatalf("isLean(%q) = false", head)
	}
	if n := testing.AllocsPerRun(100, func() { isLean(head) }); n != 0 {
		t.Errorf("isLean: %v allocations, want none", n)
	}
}

// The header timeout runs from a request's first byte, as net/http's
// does, not from each read: a client that sends its head a byte a second
// is cut off after ReadHeaderTimeout. (The timeout is 10 s, so the test
// takes that long; it runs beside the others.)
func TestLeanHeaderTimeoutFromFirstByte(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Lean: true})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Generous: on a loaded machine the server's timer may fire late; a
	// deadline reset at each read would never fire while the bytes come.
	limit := ReadHeaderTimeout + 20*time.Second
	c.SetReadDeadline(time.Now().Add(limit))
	stop := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		head := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; i < len(head); i++ {
			if _, err := io.WriteString(c, head[i:i+1]); err != nil {
				return // the server closed the connection
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	begin := time.Now()
	n, err := c.Read(make([]byte, 1))
	close(stop)
	<-wrote
	// Closed: io.EOF, or a reset when the server closed with the head's
	// bytes unread. The client's own deadline is the bug.
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("after %v, a head sent a byte a second: read %d bytes, %v; want the connection closed after about %v",
			time.Since(begin).Round(time.Millisecond), n, err, ReadHeaderTimeout)
	}
}

// failingListener fails every Accept with its errors in turn, the last
// one for good.
type failingListener struct {
	errs []error
	mu   sync.Mutex
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.errs[0]
	if len(l.errs) > 1 {
		l.errs = l.errs[1:]
	}
	return nil, err
}

func (l *failingListener) Close() error   { return nil }
func (l *failingListener) Addr() net.Addr { return pipeAddr{} }

// The lean accept loop does what net/http's Serve does: a temporary
// error (EMFILE) passes after a back-off of 5 ms doubling, logged once
// each; a permanent one stops the server with that error, where retrying
// it would spin. Not parallel: it takes the standard logger's output.
func TestLeanAcceptErrors(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	permanent := errors.New("accept: a permanent failure")
	synctest.Test(t, func(t *testing.T) {
		s := Serve(&failingListener{errs: []error{emfile, emfile, emfile, permanent}}, Config{Lean: true})
		select {
		case <-s.Done():
		case <-time.After(time.Minute):
			t.Fatal("the server still accepts a minute after a permanent accept error")
		}
		if _, err := s.Shutdown(0); !errors.Is(err, permanent) {
			t.Errorf("Shutdown returned %v, want %v", err, permanent)
		}
	})
	for _, d := range []string{"5ms", "10ms", "20ms"} {
		if want := "http: Accept error: " + emfile.Error() + "; retrying in " + d + "\n"; !strings.Contains(logged.String(), want) {
			t.Errorf("log %q lacks %q", logged.String(), want)
		}
	}
	if n := strings.Count(logged.String(), "\n"); n != 3 {
		t.Errorf("%d lines logged, want one per back-off (3):\n%s", n, logged.String())
	}
}

// After some error answers (431, a head too large) net/http half-closes
// the connection and lingers 500 ms before it closes it
// (closeWriteAndWait), even after Close:
// Shutdown waits for that, so that no goroutine of the server outlives
// it. Not parallel: it looks at every goroutine.
func TestShutdownWaitsForLingeringConnections(t *testing.T) {
	for _, lean := range []bool{false, true} {
		s, err := Start("127.0.0.1:0", Config{Lean: lean})
		if err != nil {
			t.Fatal(err)
		}
		if got := exchange(t, s, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", MaxHeaderBytes+8192)+"\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
			t.Fatalf("lean %v: answered %q, want a 431", lean, got)
		}
		s.Close()
		buf := make([]byte, 1<<20)
		if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "closeWriteAndWait") {
			t.Errorf("lean %v: a connection still lingers after Close", lean)
		}
	}
}
