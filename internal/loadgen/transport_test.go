package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// hostEcho answers with the Host header it received.
var hostEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Host", r.Host)
	w.Write([]byte(r.Host))
})

// Both clients send --host as the real Host header.
func TestHostHeader(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hosts := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts[r.Host]++
		mu.Unlock()
	}))
	defer srv.Close()
	for _, netHTTP := range []bool{false, true} {
		p := &Plan{URL: mustURL(t, srv.URL), Host: "example.com:1234", Connections: 2, Requests: 4, NetHTTP: netHTTP, Timeout: 5 * time.Second}
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status[200] != 4 {
			t.Errorf("netHTTP=%v: statuses %v", netHTTP, s.Status)
		}
	}
	srv.Close()
	if hosts["example.com:1234"] != 8 || len(hosts) != 1 {
		t.Errorf("hosts seen: %v", hosts)
	}
}

// Each kind of failure is classified the same by both clients, against a
// real server on loopback that fails that way.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr + "/"
	}
	raw := func(handle func(net.Conn)) func(t *testing.T) string {
		return func(t *testing.T) string { return "http://" + newRawServer(t, handle).addr() + "/" }
	}
	reset := raw(func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		c.(*net.TCPConn).SetLinger(0)
	})
	hang := raw(func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		c.Read(make([]byte, 1)) // until the client or the cleanup closes it
	})
	status500 := func(t *testing.T) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusInternalServerError)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tlsServer := func(t *testing.T) string {
		srv := httptest.NewUnstartedServer(hostEcho)
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name     string
		target   func(t *testing.T) string
		insecure bool
		kind     report.ErrorKind
		status   int
	}{
		{name: "closed port", target: closedPort, kind: report.ErrRefused},
		{name: "reset", target: reset, kind: report.ErrReset},
		{name: "hang past the timeout", target: hang, kind: report.ErrTimeout},
		{name: "500 only", target: status500, status: 500},
		{name: "malformed", target: raw(canned("HTTP/1.1 OK 200\r\n\r\n", false, false)), kind: report.ErrProtocol},
		{name: "malformed header", target: raw(canned("HTTP/1.1 200 OK\r\nContent-Length\r\n\r\n", false, false)), kind: report.ErrProtocol},
		{name: "untrusted certificate", target: tlsServer, kind: report.ErrTLS},
		{name: "insecure", target: tlsServer, insecure: true, status: 200},
	}
	for _, tt := range tests {
		for _, engine := range []string{"event loop", "goroutine", "net/http"} {
			name := tt.name + ", " + engine
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				// Only the hanging server should meet the timeout: a TLS
				// handshake under -race on a loaded machine can take
				// hundreds of milliseconds.
				timeout := 10 * time.Second
				if tt.kind == report.ErrTimeout {
					timeout = 300 * time.Millisecond
				}
				p := &Plan{
					URL:         mustURL(t, tt.target(t)),
					Connections: 2,
					Requests:    4,
					Timeout:     timeout,
					NetHTTP:     engine == "net/http",
					Goroutines:  engine == "goroutine",
					Insecure:    tt.insecure,
				}
				s, err := Run(t.Context(), p)
				if err != nil {
					t.Fatal(err)
				}
				want := engine
				if !p.EventLoops() && engine == "event loop" {
					want = "goroutine" // https, or a system without epoll
				}
				if !strings.Contains(s.Generator.Engine, want) {
					t.Errorf("engine %q, want %s", s.Generator.Engine, want)
				}
				if s.Requests != 4 {
					t.Fatalf("requests %d, want 4", s.Requests)
				}
				if tt.status != 0 {
					if s.Status[tt.status] != 4 || s.Errors != 0 {
						t.Errorf("statuses %v, errors %v; want 4 × %d", s.Status, s.ErrorKinds, tt.status)
					}
					return
				}
				if s.ErrorKinds[tt.kind] != 4 {
					t.Errorf("errors by kind %v, want 4 × %v", s.ErrorKinds, tt.kind)
				}
			})
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want report.ErrorKind
	}{
		{nil, report.ErrNone},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, report.ErrDNS},
		{&net.OpError{Op: "dial", Err: &net.DNSError{Err: "timeout", IsTimeout: true}}, report.ErrDNS},
		{context.DeadlineExceeded, report.ErrTimeout},
		{fmt.Errorf("%w: header line longer than 64 KiB", ErrProtocol), report.ErrProtocol},
		{errors.New("net/http: HTTP/1.x transport connection broken: malformed HTTP response \"x\""), report.ErrProtocol},
		{errors.New("something else"), report.ErrOther},
		{errors.New(`Get "https://h:80/": http: server gave HTTP response to HTTPS client`), report.ErrTLS},
		{errors.New("remote error: tls: handshake failure"), report.ErrTLS},
		{errors.New(`Get "https://h/": remote error: tls: no application protocol`), report.ErrProtocol},
		{errors.New("http2: failed reading the frame payload: http2: frame too large, note that the frame header looked like an HTTP/1.1 header"), report.ErrProtocol},
		{errors.New("http2: client connection lost"), report.ErrReset},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// --http2 speaks HTTP/2 over TLS, and over cleartext with prior knowledge
// for http:// URLs; without it, net/http speaks HTTP/1.1 even to a server
// that offers HTTP/2.
func TestHTTP2(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	protos := map[string]int{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos[r.Proto]++
		mu.Unlock()
		w.Write([]byte("hi"))
	})
	tlsSrv := httptest.NewUnstartedServer(handler)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // net/http may drop a spare connection mid-handshake
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	h2c := httptest.NewUnstartedServer(handler)
	h2c.Config.Protocols = new(http.Protocols)
	h2c.Config.Protocols.SetHTTP1(true)
	h2c.Config.Protocols.SetUnencryptedHTTP2(true)
	h2c.Start()
	defer h2c.Close()
	for _, tt := range []struct {
		url   string
		http2 bool
	}{
		{tlsSrv.URL, true},
		{h2c.URL, true},
		{tlsSrv.URL, false},
	} {
		p := &Plan{URL: mustURL(t, tt.url), HTTP2: tt.http2, Insecure: true, Connections: 3, Requests: 6, Timeout: 10 * time.Second}
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status[200] != 6 {
			t.Errorf("%s http2=%v: statuses %v, errors %v", tt.url, tt.http2, s.Status, s.ErrorKinds)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if protos["HTTP/2.0"] != 12 || protos["HTTP/1.1"] != 6 {
		t.Errorf("protocols seen: %v", protos)
	}
}

// A client and server that do not speak the same protocol fail with the
// kind that says so, and the report keeps the message: https:// against a
// plain HTTP port is tls; --http2 against a server without HTTP/2 is
// protocol in cleartext, and tls over TLS, where ALPN settles it in the
// handshake (issue 9).
func TestMismatchedProtocolKinds(t *testing.T) {
	t.Parallel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	plain := httptest.NewServer(handler)
	defer plain.Close()
	tls1 := httptest.NewUnstartedServer(handler)
	tls1.Config.ErrorLog = log.New(io.Discard, "", 0) // it logs each refused handshake
	tls1.EnableHTTP2 = false
	tls1.StartTLS()
	defer tls1.Close()
	plain.Config.ErrorLog = log.New(io.Discard, "", 0)
	for _, tt := range []struct {
		name  string
		url   string
		http2 bool
		want  report.ErrorKind
		msg   string
	}{
		{"https to plain HTTP", strings.Replace(plain.URL, "http:", "https:", 1), false, report.ErrTLS, "not look like a TLS handshake"},
		{"h2c to HTTP/1", plain.URL, true, report.ErrProtocol, "the server answered in HTTP/1.x"},
		{"h2 to TLS HTTP/1", tls1.URL, true, report.ErrTLS, "no application protocol"},
	} {
		p := &Plan{URL: mustURL(t, tt.url), HTTP2: tt.http2, Insecure: true, Connections: 2, Requests: 4, Timeout: 10 * time.Second}
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		// Over one HTTP/2 connection, the requests that waited for it
		// may fail as it is torn down: reset, but never other. HTTP/2 to
		// a server without it stops at the first request of each
		// connection.
		want := int64(4)
		if tt.http2 {
			want = s.Requests
			if s.Requests < 1 || s.Requests > 2 || len(s.Generator.Warnings) == 0 {
				t.Errorf("%s: %d requests, warnings %q: want the run stopped at 1 or 2, saying why", tt.name, s.Requests, s.Generator.Warnings)
			}
		}
		if s.Errors != want || s.ErrorKinds[tt.want] == 0 || s.ErrorKinds[report.ErrOther] != 0 {
			t.Errorf("%s: errors by kind %v, want %d errors, mostly %v, none other", tt.name, s.ErrorKinds, want, tt.want)
		}
		samples := s.ErrorSamples(tt.want)
		if len(samples) == 0 || !strings.Contains(samples[0], tt.msg) {
			t.Errorf("%s: sample messages %q, want one with %q", tt.name, samples, tt.msg)
		}
	}
}
