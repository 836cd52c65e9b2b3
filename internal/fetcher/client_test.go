package fetcher

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeDNS resolves every name in names to loopback, and counts lookups.
type fakeDNS struct {
	names   map[string]bool
	lookups atomic.Int64
}

func (d *fakeDNS) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	d.lookups.Add(1)
	if !d.names[host] {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// A redirect keeps the user's sensitive fields within the first URL's
// domain and drops them outside it, sends a Referer, keeps a Host the
// user set only for a relative Location, and a URL's user becomes basic
// authentication: as net/http's client does, on both clients.
func TestRedirectFields(t *testing.T) {
	t.Parallel()
	forClients(t, func(t *testing.T, client Client) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if loc := r.URL.Query().Get("to"); loc != "" {
				http.Redirect(w, r, loc, http.StatusFound)
				return
			}
			fmt.Fprintf(w, "auth=%s cookie=%s referer=%s host=%s", r.Header.Get("Authorization"),
				r.Header.Get("Cookie"), r.Header.Get("Referer"), r.Host)
		}))
		defer srv.Close()
		port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
		dns := &fakeDNS{names: map[string]bool{"a.test": true, "sub.a.test": true, "other.test": true}}
		at := func(host, query string) string { return "http://" + host + ":" + port + "/" + query }
		to := func(host, target string) string { return at(host, "?to="+url.QueryEscape(target)) }
		tests := []struct {
			name, in, want string
			header         http.Header
		}{
			{"same host", to("a.test", at("a.test", "")), "auth=Bearer x cookie=c=1 referer=" + to("a.test", at("a.test", "")) + " host=a.test:" + port, nil},
			{"subdomain", to("a.test", at("sub.a.test", "")), "auth=Bearer x cookie=c=1 referer=" + to("a.test", at("sub.a.test", "")) + " host=sub.a.test:" + port, nil},
			{"other domain", to("a.test", at("other.test", "")), "auth= cookie= referer=" + to("a.test", at("other.test", "")) + " host=other.test:" + port, nil},
			{"Host kept, relative", to("a.test", "/"), "auth=Bearer x cookie=c=1 referer=" + to("a.test", "/") + " host=virtual.test", http.Header{"Host": {"virtual.test"}}},
			{"Host dropped, absolute", to("a.test", at("a.test", "")), "auth=Bearer x cookie=c=1 referer=" + to("a.test", at("a.test", "")) + " host=a.test:" + port, http.Header{"Host": {"virtual.test"}}},
			{"user", "http://u:p@a.test:" + port + "/", "auth=Basic " + base64.StdEncoding.EncodeToString([]byte("u:p")) + " cookie=c=1 referer= host=a.test:" + port, http.Header{"Authorization": nil}},
		}
		for _, tt := range tests {
			h := http.Header{"Authorization": {"Bearer x"}, "Cookie": {"c=1"}}
			for k, v := range tt.header {
				if v == nil {
					delete(h, k)
				} else {
					h[k] = v
				}
			}
			f := mustNew(t, Options{Client: client, MaxRedirects: 1, Body: true, MaxBody: 1000, Header: h, Lookup: dns.lookup})
			r := run(t, f, []string{tt.in})[0]
			if !r.OK() || r.Body == nil || *r.Body != tt.want {
				t.Errorf("%s: record %s %s, body\n%v\nwant\n%s", tt.name, r.Error, r.Message, ptr(r.Body), tt.want)
			}
		}
	})
}

func ptr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// A host name is resolved once for many URLs; a name that does not exist
// is a "dns" record, not retried; a lookup that fails for now is retried.
func TestDNSRecords(t *testing.T) {
	t.Parallel()
	forClients(t, func(t *testing.T, client Client) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		defer srv.Close()
		port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
		dns := &fakeDNS{names: map[string]bool{"cached.test": true}}
		var temporary atomic.Int64
		lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
			if host == "flaky.test" {
				temporary.Add(1)
				return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
			}
			return dns.lookup(ctx, host)
		}
		f := mustNew(t, Options{Client: client, Concurrency: 10, Retries: 2, Backoff: time.Millisecond, Lookup: lookup})
		var lines []string
		for i := range 50 {
			lines = append(lines, fmt.Sprintf("http://cached.test:%s/?i=%d", port, i))
		}
		lines = append(lines, "http://nowhere.test:"+port+"/", "http://flaky.test:"+port+"/")
		recs := run(t, f, lines)
		for _, r := range recs[:50] {
			if !r.OK() {
				t.Fatalf("line %d: %s %s", r.Line, r.Error, r.Message)
			}
		}
		if r := recs[50]; r.Error != KindDNS || r.Attempts != 1 {
			t.Errorf("no such host: %s %s after %d attempts, want dns after 1", r.Error, r.Message, r.Attempts)
		}
		if r := recs[51]; r.Error != KindDNS || r.Attempts != 3 || temporary.Load() != 3 {
			t.Errorf("temporary failure: %s %s after %d attempts (%d lookups), want dns after 3", r.Error, r.Message, r.Attempts, temporary.Load())
		}
		// One lookup for cached.test, one for nowhere.test (then kept).
		if n := dns.lookups.Load(); n != 2 {
			t.Errorf("%d lookups, want 2", n)
		}
	})
}

// The cache keeps an answer for its TTL, a "no such host" too, but not a
// failure that may pass; lookups of one name at once wait for one answer.
func TestDNSCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var lookups atomic.Int64
		release := make(chan struct{})
		c := newDNSCache(func(ctx context.Context, host string) ([]netip.Addr, error) {
			lookups.Add(1)
			switch host {
			case "slow.test":
				<-release
			case "missing.test":
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			case "flaky.test":
				return nil, &net.DNSError{Err: "timeout", Name: host, IsTimeout: true}
			}
			return []netip.Addr{netip.MustParseAddr("192.0.2.1")}, nil
		}, time.Minute)
		ctx := context.Background()
		check := func(host string, want int64) {
			t.Helper()
			before := lookups.Load()
			c.resolve(ctx, host)
			if got := lookups.Load() - before; got != want {
				t.Errorf("resolve(%s): %d lookups, want %d", host, got, want)
			}
		}
		check("a.test", 1)
		check("a.test", 0)
		time.Sleep(59 * time.Second)
		check("a.test", 0)
		time.Sleep(2 * time.Second)
		check("a.test", 1) // expired
		check("missing.test", 1)
		check("missing.test", 0)
		check("flaky.test", 1)
		check("flaky.test", 1)
		check("192.0.2.7", 0) // an address needs no lookup

		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if addrs, err := c.resolve(ctx, "slow.test"); err != nil || len(addrs) != 1 {
					t.Errorf("slow.test: %v, %v", addrs, err)
				}
			})
		}
		synctest.Wait()
		before := lookups.Load()
		close(release)
		wg.Wait()
		if n := lookups.Load() - before; n != 0 {
			t.Errorf("%d more lookups after the first of 10 at once", n)
		}
		time.Sleep(time.Hour)
		c.resolve(ctx, "b.test") // expired entries go when the map is swept
		if n := c.size(); n > 4 {
			t.Errorf("%d entries after an hour, want the expired ones gone when swept", n)
		}
	})
}

// The own client keeps at most -c connections open, idle ones included,
// however many hosts it visits, and at most --per-host idle ones per host.
func TestPoolBounds(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	var open, peak, dials atomic.Int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, srv.Listener.Addr().String())
		if err != nil {
			return nil, err
		}
		dials.Add(1)
		n := open.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		return &countedConn{Conn: c, open: &open}, nil
	}
	var lines []string
	for i := range 200 {
		lines = append(lines, fmt.Sprintf("http://h%d.test/?i=%d", i%20, i))
	}
	f := mustNew(t, Options{Concurrency: 4, PerHost: 1, Dial: dial})
	for _, r := range run(t, f, lines) {
		if !r.OK() {
			t.Fatalf("line %d: %s %s", r.Line, r.Error, r.Message)
		}
	}
	f.own.pool.mu.Lock()
	n, idle := f.own.pool.open, 0
	for _, conns := range f.own.pool.idle {
		idle += len(conns)
		if len(conns) > 1 {
			t.Errorf("%d idle connections to one host, want at most 1", len(conns))
		}
	}
	f.own.pool.mu.Unlock()
	// Run sheds its idle connections as its input runs out (pool.shed):
	// none is left for Close or the exit to close.
	if n != 0 || idle != 0 || open.Load() != 0 {
		t.Errorf("%d connections open (%d by the dialer), %d idle, after the run; want none", n, open.Load(), idle)
	}
	if p := peak.Load(); p > 4 || p < 2 {
		t.Errorf("%d connections at once, want 2 to 4", p)
	}
	f.Close()
	if f.own.pool.open != 0 || open.Load() != 0 {
		t.Errorf("%d connections open after Close (%d by the dialer)", f.own.pool.open, open.Load())
	}
}

// countedConn counts itself out of open when it is closed.
type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// With a proxy in the environment, plain http:// goes through net/http
// and the proxy; without, the own client fetches it.
func TestProxy(t *testing.T) {
	t.Parallel()
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		io.WriteString(w, "via proxy "+r.URL.String())
	}))
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)
	f := mustNew(t, Options{Body: true, MaxBody: 100})
	viaProxy := func(r *http.Request) (*url.URL, error) {
		if r.URL.Hostname() == "direct.test" {
			return nil, nil
		}
		return proxyURL, nil
	}
	f.proxy = viaProxy
	f.net.rt.(*http.Transport).Proxy = viaProxy
	r := run(t, f, []string{"http://far.test/page"})[0]
	if !r.OK() || ptr(r.Body) != "via proxy http://far.test/page" || proxied.Load() != 1 {
		t.Errorf("record %s %s, body %q, %d proxied; want the proxy's answer", r.Error, r.Message, ptr(r.Body), proxied.Load())
	}
	h := f.firstHop(&Line{URL: &url.URL{Scheme: "http", Host: "direct.test", Path: "/"}})
	if !h.own {
		t.Errorf("a host the proxy does not take is not on the own client")
	}
}

// Fetch, outside a Run, stops a request when its context ends, the body's
// reading included.
func TestFetchAbortsBody(t *testing.T) {
	t.Parallel()
	forClients(t, func(t *testing.T, client Client) {
		release := make(chan struct{})
		defer close(release)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "start")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		f := mustNew(t, Options{Client: client})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		u, _ := url.Parse(srv.URL + "/")
		start := time.Now()
		r := f.Fetch(ctx, Line{Number: 1, Text: srv.URL + "/", URL: u})
		if r.Error != KindCancelled || time.Since(start) > 10*time.Second {
			t.Errorf("record %s %s after %v, want cancelled at once", r.Error, r.Message, time.Since(start))
		}
	})
}

// A Run that ends sheds its idle connections, but not while another Run
// of the same Fetcher is under way: they share the pool, and the other
// Run would dial again for every connection closed under it.
func TestShedSparesAnotherRun(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	var dials atomic.Int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	f := mustNew(t, Options{Concurrency: 1, Dial: dial})
	pr, pw := io.Pipe()
	got := make(chan Record, 2)
	done := make(chan error, 1)
	go func() {
		done <- f.Run(t.Context(), Lines(pr).All(), func(r *Record) error { got <- *r; return nil })
	}()
	io.WriteString(pw, "http://a.test/1\n")
	if r := <-got; !r.OK() {
		t.Fatalf("line 1: %s %s", r.Error, r.Message)
	}
	// Another Run, to the same host, takes the idle connection, gives it
	// back, and ends while the first still waits for its input.
	for _, r := range run(t, f, []string{"http://a.test/2"}) {
		if !r.OK() {
			t.Fatalf("line 2: %s %s", r.Error, r.Message)
		}
	}
	io.WriteString(pw, "http://a.test/3\n")
	if r := <-got; !r.OK() {
		t.Fatalf("line 3: %s %s", r.Error, r.Message)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for 3 fetches to one host, one at a time; want 1", n)
	}
}
