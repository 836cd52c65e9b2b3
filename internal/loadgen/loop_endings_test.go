//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// TCP_CORK the data waits, and the FIN that closing sends rides on it.
func corked(c net.Conn, b string) {
	if rc, err := c.(*net.TCPConn).SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1) })
	}
	io.WriteString(c, b)
}

// The ways a connection can end under a response all end the request,
// with no timeout to fall back on: whatever the order of data, FIN and RST
// and of their wake-ups, no request waits for an edge that has come and
// gone.
func TestConnectionEndings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		handle func(c net.Conn)
		status int // 0: want kind
		kind   report.ErrorKind
		bytes  int64 // per request
		conns  int64
	}{
		{
			name: "body to EOF, FIN in its segment",
			handle: func(c net.Conn) {
				readRequest(bufio.NewReader(c))
				corked(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
			},
			status: 200, bytes: 13, conns: 2,
		},
		{
			name: "length and FIN in one segment",
			handle: func(c net.Conn) {
				readRequest(bufio.NewReader(c))
				corked(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			},
			status: 200, bytes: 2, conns: 2, // the second on a new connection
		},
		{
			name: "RST mid-body",
			handle: func(c net.Conn) {
				readRequest(bufio.NewReader(c))
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nok")
				c.(*net.TCPConn).SetLinger(0)
			},
			kind: report.ErrReset, conns: 2,
		},
		{
			name: "RST after the response",
			handle: func(c net.Conn) {
				readRequest(bufio.NewReader(c))
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				c.(*net.TCPConn).SetLinger(0)
			},
			status: 200, bytes: 2, conns: 2,
		},
		{
			name: "interim and final in separate writes",
			handle: func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					if _, err := readRequest(br); err != nil {
						return
					}
					for _, b := range []string{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 102 Processing\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"} {
						if _, err := io.WriteString(c, b); err != nil {
							return
						}
					}
				}
			},
			status: 200, bytes: 2, conns: 1,
		},
	}
	for _, tt := range tests {
		for _, goroutines := range []bool{false, true} {
			name := tt.name + map[bool]string{false: ", event loops", true: ", goroutines"}[goroutines]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := newRawServer(t, tt.handle)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				time.AfterFunc(20*time.Second, cancel) // a hang fails, not blocks
				s, err := Run(ctx, &Plan{
					URL:         mustURL(t, "http://"+srv.addr()+"/"),
					Connections: 1,
					Requests:    2,
					Goroutines:  goroutines,
				})
				if err != nil {
					t.Fatal(err)
				}
				if tt.status != 0 {
					if s.Requests != 2 || s.Status[tt.status] != 2 || s.Bytes != 2*tt.bytes {
						t.Errorf("%d requests, statuses %v, errors %v, %d bytes; want 2 × %d with %d bytes each",
							s.Requests, s.Status, s.ErrorKinds, s.Bytes, tt.status, tt.bytes)
					}
				} else if s.Requests != 2 || s.ErrorKinds[tt.kind] != 2 {
					t.Errorf("%d requests, statuses %v, errors %v; want 2 × %v", s.Requests, s.Status, s.ErrorKinds, tt.kind)
				}
				if got := srv.conns.Load(); got != tt.conns {
					t.Errorf("%d connections, want %d", got, tt.conns)
				}
			})
		}
	}
}
