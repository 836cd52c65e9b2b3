package loadgen

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// testCert is a self-signed P-256 certificate, its own authority, for
// 127.0.0.1, localhost and example.test, made once per test binary.
var testCert = sync.OnceValue(func() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gather test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "example.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
})

// testRoots trusts testCert.
func testRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(testCert().Leaf)
	return pool
}

// serverTLS returns a server configuration with testCert that speaks at
// most version (0: TLS 1.3).
func serverTLS(version uint16) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testCert()}, MaxVersion: version}
}

// newTLSServer is newRawServer over TLS: handle gets each connection as a
// *tls.Conn whose handshake it starts by reading.
func newTLSServer(t testing.TB, config *tls.Config, handle func(c net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveRaw(t, tls.NewListener(ln, config), "https", handle)
}

// tlsEngines are the engines that drive HTTPS with gather's own client,
// each a Plan edit and what the Engine line says (the goroutines where
// the system has no event loops).
var tlsEngines = []struct {
	name   string
	set    func(p *Plan)
	engine string
}{
	{"goroutines", func(p *Plan) { p.Goroutines = true }, "goroutine"},
	{"event loops", func(p *Plan) {}, map[bool]string{true: "event loop", false: "goroutine"}[loopsSupported]},
}

// The 38 responses of the HTTP/1.1 table make the same over TLS as over
// plain TCP, on every engine, with the same connections.
func TestTLSResponses(t *testing.T) {
	t.Parallel()
	for _, e := range tlsEngines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			forEachResponseOver(t, serverTLS(0), func(t *testing.T, tt responseCase, srv *rawServer) {
				// A minute: a 100 KB body sent a byte at a time, each byte
				// its own TLS record, took 19.6 s under -race on a loaded
				// machine.
				p := &Plan{URL: mustURL(t, srv.url()), RootCAs: testRoots(), Connections: 1, Requests: 2, Timeout: time.Minute}
				e.set(p)
				s, err := Run(t.Context(), p)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(s.Generator.Engine, e.engine) || !strings.Contains(s.Generator.Engine, "own HTTP/1.1 client over TLS 1.3") {
					t.Errorf("engine %q", s.Generator.Engine)
				}
				tt.check(t, s, srv)
			})
		})
	}
}

// helloTLS answers every request on a TLS connection with helloResponse
// and counts the connections whose handshake resumed a session.
func helloTLS(resumed *atomic.Int64) func(net.Conn) {
	hello := canned(helloResponse, false, false)
	return func(c net.Conn) {
		tc := c.(*tls.Conn)
		if tc.Handshake() != nil {
			return
		}
		if tc.ConnectionState().DidResume {
			resumed.Add(1)
		}
		hello(c)
	}
}

// A connection opened to replace another resumes the session, with TLS
// 1.2 and 1.3 alike, and the report counts full and resumed handshakes as
// the server saw them.
func TestTLSResumption(t *testing.T) {
	t.Parallel()
	for _, e := range tlsEngines {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			for _, churn := range []struct {
				name             string
				noKeepAlive      bool
				perConn          int
				requests, opened int64
			}{
				{"no keep-alive", true, 0, 6, 6},
				{"3 requests per connection", false, 3, 9, 3},
			} {
				name := e.name + ", " + tls.VersionName(version) + ", " + churn.name
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					var resumed atomic.Int64
					srv := newTLSServer(t, serverTLS(version), helloTLS(&resumed))
					p := &Plan{URL: mustURL(t, srv.url()), RootCAs: testRoots(), Connections: 1, Requests: churn.requests,
						NoKeepAlive: churn.noKeepAlive, RequestsPerConn: churn.perConn, Timeout: 10 * time.Second}
					e.set(p)
					s, err := Run(t.Context(), p)
					if err != nil {
						t.Fatal(err)
					}
					if s.Status[200] != churn.requests {
						t.Fatalf("statuses %v, errors %v", s.Status, s.ErrorKinds)
					}
					full, res := s.TLSHandshakes()
					if s.ConnectionsOpened() != churn.opened || srv.conns.Load() != churn.opened ||
						res != resumed.Load() || res != churn.opened-1 || full != 1 {
						t.Errorf("report: %d opened, %d full, %d resumed; server: %d connections, %d resumed; want %d, 1 full",
							s.ConnectionsOpened(), full, res, srv.conns.Load(), resumed.Load(), churn.opened)
					}
					if want := "over " + tls.VersionName(version); !strings.HasSuffix(s.Generator.Engine, want) {
						t.Errorf("engine %q, want it to end %q", s.Generator.Engine, want)
					}
					if c, h := s.Connect(), s.TLSHandshake(); c.Count != churn.opened || h.Count != churn.opened || h.Max <= 0 {
						t.Errorf("connect %+v, handshake %+v; want %d of each", c, h, churn.opened)
					}
					if fb := s.FirstByte(); fb.Count != churn.requests || fb.Max > s.Response().Max {
						t.Errorf("first byte %+v, want one per request, none after its response's end", fb)
					}
				})
			}
		}
	}
}

// The client sends the URL's host, or --host's, in SNI (none for an IP
// address, as crypto/tls does), verifies the certificate against that
// name, and offers http/1.1 in ALPN.
func TestTLSServerNameAndALPN(t *testing.T) {
	t.Parallel()
	for _, e := range tlsEngines {
		for _, tt := range []struct {
			host, sni string
		}{
			{"", ""},
			{"example.test:8443", "example.test"},
			{"localhost", "localhost"},
		} {
			t.Run(e.name+", host "+tt.host, func(t *testing.T) {
				t.Parallel()
				var mu sync.Mutex
				var hellos []*tls.ClientHelloInfo
				config := serverTLS(0)
				config.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
					mu.Lock()
					hellos = append(hellos, h)
					mu.Unlock()
					return nil, nil
				}
				config.NextProtos = []string{"h2", "http/1.1"}
				srv := newTLSServer(t, config, func(c net.Conn) {
					tc := c.(*tls.Conn)
					if tc.Handshake() != nil || tc.ConnectionState().NegotiatedProtocol != "http/1.1" {
						return
					}
					canned(helloResponse, false, false)(c)
				})
				p := &Plan{URL: mustURL(t, srv.url()), Host: tt.host, RootCAs: testRoots(), Connections: 2, Requests: 4, Timeout: 10 * time.Second}
				e.set(p)
				s, err := Run(t.Context(), p)
				if err != nil {
					t.Fatal(err)
				}
				if s.Status[200] != 4 {
					t.Errorf("statuses %v, errors %v", s.Status, s.ErrorKinds)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, h := range hellos {
					if h.ServerName != tt.sni || strings.Join(h.SupportedProtos, ",") != "http/1.1" {
						t.Errorf("SNI %q, ALPN %q; want %q, http/1.1", h.ServerName, h.SupportedProtos, tt.sni)
					}
				}
			})
		}
	}
}

// Each way a handshake can fail is a request error of kind tls with a
// one-line message, and the run goes on: every request is counted.
func TestTLSHandshakeFailures(t *testing.T) {
	t.Parallel()
	silent := func(c net.Conn) { io.Copy(io.Discard, c) } // reads the ClientHello, never answers
	hangUp := func(c net.Conn) { c.Read(make([]byte, 10)) }
	plainHTTP := func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	}
	tests := []struct {
		name    string
		server  func(t *testing.T) string
		roots   bool
		host    string
		version uint16
		timeout time.Duration
		message string // in the error's text
	}{
		{name: "untrusted certificate", server: tlsURL(serverTLS(0)), message: "certificate signed by unknown authority"},
		{name: "name mismatch", server: tlsURL(serverTLS(0)), roots: true, host: "other.test", message: "not other.test"},
		{name: "version refused", server: tlsURL(serverTLS(tls.VersionTLS12)), roots: true, version: tls.VersionTLS13, message: "protocol version"},
		{name: "handshake timeout", server: plainURL(silent), roots: true, timeout: 300 * time.Millisecond, message: "timed out"},
		{name: "closed mid-handshake", server: plainURL(hangUp), roots: true, message: "the server "}, // closed or reset
		{name: "plain HTTP server", server: plainURL(plainHTTP), roots: true, message: "does not look like a TLS handshake"},
	}
	for _, e := range tlsEngines {
		for _, tt := range tests {
			t.Run(e.name+", "+tt.name, func(t *testing.T) {
				t.Parallel()
				timeout := tt.timeout
				if timeout == 0 {
					timeout = 10 * time.Second
				}
				p := &Plan{URL: mustURL(t, tt.server(t)), Host: tt.host, TLSVersion: tt.version, Connections: 2, Requests: 4, Timeout: timeout}
				if tt.roots {
					p.RootCAs = testRoots()
				}
				e.set(p)
				s, err := Run(t.Context(), p)
				if err != nil {
					t.Fatal(err)
				}
				if s.Requests != 4 || s.ErrorKinds[report.ErrTLS] != 4 {
					t.Errorf("%d requests, errors %v; want 4 of kind tls", s.Requests, s.ErrorKinds)
				}
				// The message, from the handshake every engine shares.
				newDoer, err := transport(p, 1)
				if err != nil {
					t.Fatal(err)
				}
				d, _ := newDoer(t.Context(), 0)
				defer d.Close()
				_, _, err = doFirst(t.Context(), d, p.targetSet())
				if msg := fmt.Sprint(err); Classify(err) != report.ErrTLS || !strings.Contains(msg, tt.message) ||
					strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "TLS handshake with 127.0.0.1:") {
					t.Errorf("error %q (%v), want one line of kind tls with %q", msg, Classify(err), tt.message)
				}
			})
		}
	}
}

func tlsURL(config *tls.Config) func(t *testing.T) string {
	return func(t *testing.T) string {
		return newTLSServer(t, config, canned(helloResponse, false, false)).url()
	}
}

// plainURL serves handle over plain TCP but gives an https:// URL.
func plainURL(handle func(net.Conn)) func(t *testing.T) string {
	return func(t *testing.T) string { return "https://" + newRawServer(t, handle).addr() + "/" }
}

// --no-keepalive closes each connection from the client after its
// response, on every engine, even when the server ignores Connection:
// close and would keep it open.
func TestNoKeepAliveClosesFromClient(t *testing.T) {
	t.Parallel()
	engines := append(slices.Clone(tlsEngines), struct {
		name   string
		set    func(p *Plan)
		engine string
	}{"net/http", func(p *Plan) { p.NetHTTP = true }, "net/http"})
	for _, e := range engines {
		for _, scheme := range []string{"http", "https"} {
			t.Run(e.name+", "+scheme, func(t *testing.T) {
				t.Parallel()
				var closedByClient atomic.Int64
				stubborn := func(c net.Conn) {
					br := bufio.NewReader(c)
					for {
						if _, err := readRequest(br); err != nil {
							if err == io.EOF {
								closedByClient.Add(1)
							}
							return
						}
						io.WriteString(c, helloResponse) // keep-alive, whatever the request said
					}
				}
				var srv *rawServer
				if scheme == "https" {
					srv = newTLSServer(t, serverTLS(0), stubborn)
				} else {
					srv = newRawServer(t, stubborn)
				}
				p := &Plan{URL: mustURL(t, srv.url()), RootCAs: testRoots(), NoKeepAlive: true, Connections: 2, Requests: 8, Timeout: 10 * time.Second}
				e.set(p)
				s, err := Run(t.Context(), p)
				if err != nil {
					t.Fatal(err)
				}
				if s.Status[200] != 8 || srv.conns.Load() != 8 {
					t.Errorf("statuses %v, errors %v, %d connections; want 8 of each", s.Status, s.ErrorKinds, srv.conns.Load())
				}
				deadline := time.Now().Add(5 * time.Second)
				for closedByClient.Load() != 8 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if got := closedByClient.Load(); got != 8 {
					t.Errorf("the client closed %d connections, want 8", got)
				}
			})
		}
	}
}
