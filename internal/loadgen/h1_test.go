package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/h1/h1test"
	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/targets"
)

// rawServer is a loopback TCP server whose every connection is served by
// handle. Cleanup closes the listener and every connection and waits for
// the handlers.
type rawServer struct {
	ln     net.Listener
	scheme string       // http, or https for a listener that speaks TLS
	conns  atomic.Int64 // connections accepted
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   []net.Conn
}

func newRawServer(t testing.TB, handle func(c net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveRaw(t, ln, "http", handle)
}

// serveRaw serves ln's connections with handle, as newRawServer does.
func serveRaw(t testing.TB, ln net.Listener, scheme string, handle func(c net.Conn)) *rawServer {
	s := &rawServer{ln: ln, scheme: scheme}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

// url returns the server's root URL.
func (s *rawServer) url() string { return s.scheme + "://" + s.addr() + "/" }

// readRequest reads one bodyless request's header block; canned answers
// every request on a connection with one response.
var (
	readRequest = h1test.ReadRequest
	canned      = h1test.Canned
)

// testRequests holds, by set, request 0 of its targets, as a worker would
// pass it to a doer.
var testRequests sync.Map

// doFirst sends request 0 of set through d. It allocates nothing once the
// set's request is made, so tests may count the doer's allocations.
func doFirst(ctx context.Context, d Doer, set *targets.Set) (int, int64, error) {
	r, ok := testRequests.Load(set)
	if !ok {
		nr := set.NewRequest()
		nr.Next(0, time.Time{})
		r, _ = testRequests.LoadOrStore(set, nr)
	}
	return d.Do(ctx, r.(*targets.Request))
}

// testRequest returns a bodyless request with method m to example.test.
func testRequest(m string) *h1Request {
	p := &Plan{URL: &url.URL{Scheme: "http", Host: "example.test", Path: "/"}, Method: m}
	return p.h1Request()
}

func testDoer(t *testing.T, addr string) *h1Doer {
	d := newH1Doer(t.Context(), addr, testRequest("GET"), 5*time.Second)
	t.Cleanup(func() { d.Close() })
	return d
}

// A responseCase is a server's answer to every request on a connection
// and what a client must make of two requests.
type responseCase struct {
	name   string
	resp   string
	close  bool  // the server closes after each response
	status int   // 0: want an error
	body   int64 // body bytes, decoded
	kind   report.ErrorKind
	conns  int64 // connections for two requests
	// whole: the response must arrive in one write, because what
	// the client sees depends on where the writes split it
	whole bool
}

// check checks the summary of a run of two requests against tt, and the
// connections the server and the report counted.
func (tt responseCase) check(t *testing.T, s *report.Summary, srv *rawServer) {
	t.Helper()
	if s.Requests != 2 {
		t.Fatalf("%d requests, want 2", s.Requests)
	}
	if tt.status != 0 {
		if s.Status[tt.status] != 2 || s.Errors != 0 || s.Bytes != 2*tt.body {
			t.Errorf("statuses %v, errors %v, %d bytes; want 2 × %d with %d bytes each",
				s.Status, s.ErrorKinds, s.Bytes, tt.status, tt.body)
		}
	} else if s.ErrorKinds[tt.kind] != 2 {
		t.Errorf("errors %v, statuses %v; want 2 × %v", s.ErrorKinds, s.Status, tt.kind)
	}
	if got := srv.conns.Load(); got != tt.conns || s.ConnectionsOpened() != got {
		t.Errorf("%d connections for two requests, %d in the report; want %d", got, s.ConnectionsOpened(), tt.conns)
	}
}

// forEachResponse runs test for every response case, served whole by a
// loopback server and, where that may not change the outcome, byte by
// byte, each in a parallel subtest.
func forEachResponse(t *testing.T, test func(t *testing.T, tt responseCase, srv *rawServer)) {
	forEachResponseOver(t, nil, test)
}

// forEachResponseOver is forEachResponse over TLS when tlsConfig is set;
// byte by byte is then one TLS record per byte.
func forEachResponseOver(t *testing.T, tlsConfig *tls.Config, test func(t *testing.T, tt responseCase, srv *rawServer)) {
	for _, tt := range responseCases {
		splits := []bool{false, true}
		if tt.whole {
			splits = splits[:1]
		}
		for _, split := range splits {
			name := tt.name
			if split {
				name += ", byte by byte"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				handle := canned(tt.resp, split, tt.close)
				if tlsConfig != nil {
					test(t, tt, newTLSServer(t, tlsConfig, handle))
				} else {
					test(t, tt, newRawServer(t, handle))
				}
			})
		}
	}
}

// responseCases are the shared cases of [h1test.Cases] and what the
// HTTP/1.1 clients must make of two requests answered by each: the
// blocking client (TestH1Responses) and the event loops (TestLoopResponses).
var responseCases = func() []responseCase {
	kinds := map[h1test.Failure]report.ErrorKind{h1test.Protocol: report.ErrProtocol, h1test.Cut: report.ErrReset}
	var cases []responseCase
	for _, c := range h1test.Cases {
		cases = append(cases, responseCase{name: c.Name, resp: c.Response, close: c.Close, status: c.Status,
			body: c.Body, kind: kinds[c.Fail], conns: c.Conns, whole: c.Whole})
	}
	return cases
}()

func TestH1Responses(t *testing.T) {
	t.Parallel()
	forEachResponse(t, func(t *testing.T, tt responseCase, srv *rawServer) {
		d := testDoer(t, srv.addr())
		for i := range 2 {
			status, n, err := doFirst(t.Context(), d, d.req.set)
			if kind := Classify(err); status != tt.status && tt.status != 0 || kind != tt.kind {
				t.Fatalf("request %d: status %d, error %v (%v); want %d, %v", i, status, err, kind, tt.status, tt.kind)
			}
			if err == nil && n != tt.body {
				t.Errorf("request %d: %d body bytes, want %d", i, n, tt.body)
			}
		}
		if got := srv.conns.Load(); got != tt.conns {
			t.Errorf("%d connections for two requests, want %d", got, tt.conns)
		}
	})
}

// The request bytes carry the method, target, Host (the real one, or
// --host's), the user's headers in order, and the body's length.
func TestBuildRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		plan   Plan
		target string
		want   string
	}{
		{
			name:   "plain GET",
			plan:   Plan{URL: mustURL(t, "http://127.0.0.1:8080")},
			target: "/",
			want:   "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: " + UserAgent + "\r\n\r\n",
		},
		{
			name: "POST with headers, body and a Host",
			plan: Plan{URL: mustURL(t, "http://127.0.0.1/a/b?q=1&r=%20"), Method: "POST", Host: "example.com",
				Header: [][2]string{{"X-One", "1"}, {"User-Agent", "me"}}, Body: []byte("hello")},
			want: "POST /a/b?q=1&r=%20 HTTP/1.1\r\nHost: example.com\r\nX-One: 1\r\nUser-Agent: me\r\nContent-Length: 5\r\n\r\nhello",
		},
		{
			name: "no keep-alive",
			plan: Plan{URL: mustURL(t, "http://[::1]:81/x"), NoKeepAlive: true},
			want: "GET /x HTTP/1.1\r\nHost: [::1]:81\r\nUser-Agent: " + UserAgent + "\r\nConnection: close\r\n\r\n",
		},
		{
			name: "empty POST",
			plan: Plan{URL: mustURL(t, "http://h/"), Method: "POST"},
			want: "POST / HTTP/1.1\r\nHost: h\r\nUser-Agent: " + UserAgent + "\r\nContent-Length: 0\r\n\r\n",
		},
	}
	for _, tt := range tests {
		p := tt.plan
		got := string(p.h1Request().bytes)
		if got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
		// net/http must read it as the same request.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(got)))
		if err != nil {
			t.Errorf("%s: net/http cannot read it: %v", tt.name, err)
			continue
		}
		if req.Host != p.host() || req.Method != p.method() {
			t.Errorf("%s: net/http reads host %q method %q", tt.name, req.Host, req.Method)
		}
	}
}

// TestTemplatedRequests: a target whose parts vary renders, request by
// request, the bytes the same target written out would send.
func TestTemplatedRequests(t *testing.T) {
	set, err := targets.Load(strings.NewReader(`{"url": "http://h:1/a/{{.seq}}?r={{randInt 7 7}}", "header": {"X-Seq": "{{.seq}}"}}
{"method": "POST", "url": "http://h:1/b", "header": {"Host": "api.example", "Content-Type": "application/json"}}
{"method": "PUT", "url": "http://h:1/c", "body": "{\"n\": {{.seq}}}"}
{"method": "HEAD", "url": "http://h:1/d", "body": "fixed"}
`), "t.jsonl", targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := &Plan{URL: set.Server(), Targets: set, NoKeepAlive: true}
	h := p.h1Request()
	if h.bytes != nil || !h.seq {
		t.Fatalf("a varying set: bytes %q, seq %v", h.bytes, h.seq)
	}
	r := set.NewRequest()
	var buf h1Buffers
	ua := "User-Agent: " + UserAgent + "\r\n"
	for seq, want := range []string{
		"GET /a/0?r=7 HTTP/1.1\r\nHost: h:1\r\n" + ua + "X-Seq: 0\r\nConnection: close\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: api.example\r\n" + ua + "Content-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"PUT /c HTTP/1.1\r\nHost: h:1\r\n" + ua + "Content-Length: 8\r\nConnection: close\r\n\r\n{\"n\": 2}",
		"HEAD /d HTTP/1.1\r\nHost: h:1\r\n" + ua + "Content-Length: 5\r\nConnection: close\r\n\r\nfixed",
		"GET /a/4?r=7 HTTP/1.1\r\nHost: h:1\r\n" + ua + "X-Seq: 4\r\nConnection: close\r\n\r\n",
		"PUT /c HTTP/1.1\r\nHost: h:1\r\n" + ua + "Content-Length: 9\r\nConnection: close\r\n\r\n{\"n\": 10}",
	} {
		if seq == 5 {
			seq = 10 // 10 mod 4 is the PUT again, with a longer body
		}
		tg, b := h.next(r, &buf, int64(seq), time.Now())
		if string(b) != want {
			t.Errorf("request %d:\n got %q\nwant %q", seq, b, want)
		}
		if tg.noBody != (r.Target.Method == "HEAD") || tg.replay != (r.Target.Method != "POST") {
			t.Errorf("request %d: noBody %v replay %v", seq, tg.noBody, tg.replay)
		}
		if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b))); err != nil {
			t.Errorf("request %d: net/http cannot read it: %v", seq, err)
		}
	}
	// Rendering into a connection's buffers allocates nothing once they
	// have grown.
	seq := int64(0)
	if allocs := testing.AllocsPerRun(1000, func() { seq++; h.next(r, &buf, seq, time.Now()) }); allocs != 0 {
		t.Errorf("%v allocations per request", allocs)
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Cancelling the context aborts a request stuck on a silent server at once.
func TestH1Abort(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(c net.Conn) { c.Read(make([]byte, 1<<10)); c.Read(make([]byte, 1)) })
	ctx, cancel := context.WithCancel(t.Context())
	d := newH1Doer(ctx, srv.addr(), testRequest("GET"), time.Minute)
	defer d.Close()
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := doFirst(ctx, d, d.req.set)
	if err == nil || time.Since(start) > 20*time.Second {
		t.Fatalf("Do returned %v after %v", err, time.Since(start))
	}
	if _, _, err := doFirst(ctx, d, d.req.set); err == nil {
		t.Fatal("Do after cancel succeeded")
	}
}

// A HEAD response announces a length but carries no body: the connection
// stays in step for the next request.
func TestH1Head(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, canned("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n", false, false))
	d := newH1Doer(t.Context(), srv.addr(), testRequest("HEAD"), 5*time.Second)
	defer d.Close()
	for i := range 3 {
		if status, n, err := doFirst(t.Context(), d, d.req.set); status != 200 || n != 0 || err != nil {
			t.Fatalf("request %d: status %d, %d bytes, %v", i, status, n, err)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 HEAD requests, want 1", n)
	}
}

// An abort that lands between two requests on a kept-alive connection
// (the context ends while the worker is recording) must not be undone by
// the next request setting its own deadline: that request fails at once
// instead of waiting for the timeout.
func TestH1AbortBetweenRequests(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		readRequest(br)
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
		readRequest(br) // and never answer
		br.ReadByte()
	})
	d := newH1Doer(context.Background(), srv.addr(), testRequest("GET"), time.Minute)
	defer d.Close()
	if _, _, err := doFirst(t.Context(), d, d.req.set); err != nil {
		t.Fatal(err)
	}
	d.abort() // as context.AfterFunc would, from another goroutine
	start := time.Now()
	if _, _, err := doFirst(t.Context(), d, d.req.set); err == nil {
		t.Fatal("Do after abort succeeded")
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("Do after abort took %v: it waited for the timeout", took)
	}
}

// quiet answers every request with resp, without allocating, so that
// AllocsPerRun counts only the client's allocations. It takes each read
// that ends a header block for one request.
func quiet(resp string) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 4<<10)
		out := []byte(resp)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if bytes.HasSuffix(buf[:n], []byte("\r\n\r\n")) {
				if _, err := c.Write(out); err != nil {
					return
				}
			}
		}
	}
}

// The fast client must not allocate per request, whether the body comes
// with a length or in chunks.
func TestH1NoAllocs(t *testing.T) {
	for _, resp := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n8\r\n, world\n\r\n0\r\n\r\n",
	} {
		srv := newRawServer(t, quiet(resp))
		testAllocs(t, srv.addr())
	}
}

func testAllocs(t *testing.T, addr string) {
	d := testDoer(t, addr)
	ctx := t.Context()
	if _, _, err := doFirst(ctx, d, d.req.set); err != nil { // connect
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if status, _, err := doFirst(ctx, d, d.req.set); err != nil || status != 200 {
			t.Fatalf("status %d, err %v", status, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}
