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
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// runLoops runs p and checks that the event loops ran it.
func runLoops(t *testing.T, ctx context.Context, p *Plan) *report.Summary {
	t.Helper()
	s, err := Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Generator.Engine, "event loop") {
		t.Fatalf("engine %q, want the event loops", s.Generator.Engine)
	}
	return s
}

// openFDs returns the number of the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// waitFDs waits until the process has want open file descriptors: the
// servers' handlers close their ends once they see the client's close.
func waitFDs(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d open file descriptors, want %d", openFDs(t), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The event loops make of every response what the blocking client makes
// of it (TestH1Responses), with the same connections.
func TestLoopResponses(t *testing.T) {
	t.Parallel()
	forEachResponse(t, func(t *testing.T, tt responseCase, srv *rawServer) {
		s := runLoops(t, t.Context(), &Plan{
			URL:         mustURL(t, "http://"+srv.addr()+"/"),
			Connections: 1,
			Requests:    2,
			Timeout:     5 * time.Second,
		})
		tt.check(t, s, srv)
	})
}

// Hundreds of connections spread over the loops all carry their share,
// and when the run ends every socket, epoll set and pipe is closed.
func TestLoopManyConnections(t *testing.T) {
	fds := openFDs(t)
	srv := newRawServer(t, quiet(helloResponse))
	const conns, requests = 300, 6000
	s := runLoops(t, t.Context(), &Plan{
		URL:         mustURL(t, "http://"+srv.addr()+"/"),
		Connections: conns,
		Requests:    requests,
		Timeout:     10 * time.Second,
	})
	if s.Requests != requests || s.Status[200] != requests || s.Bytes != 13*requests {
		t.Errorf("%d requests, statuses %v, %d bytes; want %d × 200 with 13 bytes each",
			s.Requests, s.Status, s.Bytes, requests)
	}
	// Each loop opens all its connections before any answer can come,
	// unless one loop ran the whole run before the other started.
	if got := srv.conns.Load(); got != conns && got != conns/2 {
		t.Errorf("%d connections, want %d", got, conns)
	}
	waitFDs(t, fds+1) // the listener is left
}

// Cancelling the context stops the loops at once, with requests in flight
// that are not counted, and closes everything they opened.
func TestLoopCancel(t *testing.T) {
	fds := openFDs(t)
	srv := newRawServer(t, func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		c.Read(make([]byte, 1)) // until the client closes
	})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	s := runLoops(t, ctx, &Plan{
		URL:         mustURL(t, "http://"+srv.addr()+"/"),
		Connections: 4,
		Duration:    time.Minute,
	})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Run took %v after the cancel", took)
	}
	if s.Requests != 0 {
		t.Errorf("%d requests counted, want none: all were interrupted", s.Requests)
	}
	waitFDs(t, fds+1)
}

// A request on a connection the server closed while idle is sent again on
// a new one only if sending it twice is harmless.
func TestStaleConnectionReplay(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"GET", "POST"} {
		for _, goroutines := range []bool{false, true} {
			name := method + map[bool]string{false: ", event loops", true: ", goroutines"}[goroutines]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				// One answer per connection, then the server closes it.
				srv := newRawServer(t, canned("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, true))
				s, err := Run(t.Context(), &Plan{
					URL:         mustURL(t, "http://"+srv.addr()+"/"),
					Method:      method,
					Connections: 1,
					Requests:    2,
					Timeout:     5 * time.Second,
					Goroutines:  goroutines,
				})
				if err != nil {
					t.Fatal(err)
				}
				if method == "GET" {
					if s.Status[200] != 2 || srv.conns.Load() != 2 {
						t.Errorf("statuses %v, errors %v, %d connections; want 2 × 200 over 2 connections",
							s.Status, s.ErrorKinds, srv.conns.Load())
					}
					return
				}
				if s.Status[200] != 1 || s.ErrorKinds[report.ErrReset] != 1 || srv.conns.Load() != 1 {
					t.Errorf("statuses %v, errors %v, %d connections; want one 200 and one reset on 1 connection",
						s.Status, s.ErrorKinds, srv.conns.Load())
				}
			})
		}
	}
}

// A host name is resolved once, to the address that answers a dial, and
// the loops serve the run.
func TestLoopHostName(t *testing.T) {
	srv := newRawServer(t, quiet(helloResponse))
	_, port, _ := net.SplitHostPort(srv.addr())
	s := runLoops(t, t.Context(), &Plan{
		URL:         mustURL(t, "http://localhost:"+port+"/"),
		Connections: 2,
		Requests:    20,
		Timeout:     10 * time.Second,
	})
	if s.Status[200] != 20 {
		t.Errorf("statuses %v, errors %v; want 20 × 200", s.Status, s.ErrorKinds)
	}
	// The dial that found the address, then the loops' one or two (a
	// loop may have run all 20 before the other claimed one).
	if got := srv.conns.Load(); got < 2 || got > 3 {
		t.Errorf("%d connections, want the probe's and one or two", got)
	}
}

// A body larger than the socket's buffer is written in pieces, the loop
// waiting for room between them; HEAD answers carry no body; and
// --no-keepalive opens a connection per request.
func TestLoopRequestShapes(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("b", 16<<20)
	// echoLength answers every request with the length of its body, so
	// the client's bytes count what the server read.
	echoLength := func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			head, err := readRequest(br)
			if err != nil {
				return
			}
			n := 0
			for _, line := range strings.Split(head, "\r\n") {
				if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
					n, _ = strconv.Atoi(v)
				}
			}
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return
			}
			body := strconv.Itoa(n)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	}
	tests := []struct {
		name        string
		plan        Plan
		handle      func(net.Conn)
		bytesPerReq int64
		conns       int64
	}{
		{"16 MiB body", Plan{Method: "POST", Body: []byte(big)}, echoLength, int64(len(strconv.Itoa(len(big)))), 1},
		{"HEAD", Plan{Method: "HEAD"}, canned("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", false, false), 0, 1},
		{"no keep-alive", Plan{NoKeepAlive: true}, canned("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, true), 2, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, tt.handle)
			p := tt.plan
			p.URL = mustURL(t, "http://"+srv.addr()+"/")
			p.Connections, p.Requests, p.Timeout = 1, 6, 20*time.Second
			s := runLoops(t, t.Context(), &p)
			if s.Status[200] != 6 || s.Bytes != 6*tt.bytesPerReq {
				t.Errorf("statuses %v, errors %v, %d bytes; want 6 × 200 with %d bytes each",
					s.Status, s.ErrorKinds, s.Bytes, tt.bytesPerReq)
			}
			if got := srv.conns.Load(); got != tt.conns {
				t.Errorf("%d connections, want %d", got, tt.conns)
			}
		})
	}
}
