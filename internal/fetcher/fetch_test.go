package fetcher

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/gather-dev/gather"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTransport answers requests in memory, so that tests can run in a
// synctest bubble (fake time) or at a rate no socket would allow.
type fakeTransport func(*http.Request) (*http.Response, error)

func (f fakeTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func respond(r *http.Request, status int, body string, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r,
		ContentLength: int64(len(body)), ProtoMajor: 1, ProtoMinor: 1,
	}
}

// sleepReq waits d, or until the request is cancelled.
func sleepReq(r *http.Request, d time.Duration) error {
	return gather.Sleep(r.Context(), d)
}

// forClients runs test for each Client, in a parallel subtest.
func forClients(t *testing.T, test func(t *testing.T, client Client)) {
	for _, c := range []struct {
		name   string
		client Client
	}{{"own", ClientAuto}, {"net/http", ClientNetHTTP}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			test(t, c.client)
		})
	}
}

// forPaths runs test for each of paths, in a subtest, in a synctest bubble.
func forPaths(t *testing.T, test func(t *testing.T, path string)) {
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { test(t, path) })
		})
	}
}

func mustNew(t *testing.T, opts Options) *Fetcher {
	t.Helper()
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// inFlight counts a server's concurrent requests per host, and the most
// it ever saw.
type inFlight struct {
	mu   sync.Mutex
	now  map[string]int
	peak map[string]int
}

func (c *inFlight) enter(host string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now[host]++
	c.peak[host] = max(c.peak[host], c.now[host])
}

func (c *inFlight) leave(host string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now[host]--
}

// TestPerHost runs 60 requests to two hosts (127.0.0.1 and localhost, one
// real server) at -c 20 with --per-host 3, and checks on the server side
// that neither host ever saw more than 3 at once, while the limit was
// actually reached.
func TestPerHost(t *testing.T) {
	t.Parallel()
	forClients(t, func(t *testing.T, client Client) {
		c := &inFlight{now: map[string]int{}, peak: map[string]int{}}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := strings.Cut(r.Host, ":")
			c.enter(host)
			defer c.leave(host)
			time.Sleep(20 * time.Millisecond) // lets requests overlap; not a synchronization
			io.WriteString(w, "ok")
		}))
		defer srv.Close()
		port := srv.URL[strings.LastIndex(srv.URL, ":"):]
		var lines []string
		for i := range 60 {
			host := "127.0.0.1"
			if i%2 == 1 {
				host = "localhost"
			}
			lines = append(lines, fmt.Sprintf("http://%s%s/?i=%d", host, port, i))
		}
		f := mustNew(t, Options{Concurrency: 20, PerHost: 3, Client: client})
		for _, r := range run(t, f, lines) {
			if !r.OK() {
				t.Fatalf("line %d: %s %s", r.Line, r.Error, r.Message)
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, host := range []string{"127.0.0.1", "localhost"} {
			if p := c.peak[host]; p != 3 {
				t.Errorf("%s: at most %d requests at once, want exactly 3", host, p)
			}
		}
		if n := f.hosts.size(); n != 0 {
			t.Errorf("%d hosts still have an entry after the run", n)
		}
	})
}

// TestRate checks that --rate spaces the starts of requests to one host
// evenly, retries included, while other hosts are not held back (fake time).
func TestRate(t *testing.T) {
	t.Parallel()
	forPaths(t, func(t *testing.T, path string) {
		var mu sync.Mutex
		starts := map[string][]time.Duration{}
		begin := time.Now()
		f := mustNew(t, onPath(t, path, Options{Concurrency: 10, Rate: 4, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			starts[r.URL.Host] = append(starts[r.URL.Host], time.Since(begin))
			mu.Unlock()
			return respond(r, 200, "ok"), nil
		})}))
		var lines []string
		for i := range 5 {
			lines = append(lines, fmt.Sprintf("http://a/%d", i), fmt.Sprintf("http://b/%d", i))
		}
		run(t, f, lines)
		for _, host := range []string{"a", "b"} {
			got := fmt.Sprint(starts[host])
			if want := "[0s 250ms 500ms 750ms 1s]"; got != want {
				t.Errorf("host %s: starts at %s, want %s", host, got, want)
			}
		}
	})
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	forClients(t, func(t *testing.T, client Client) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow-body" {
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, "start")
				w.(http.Flusher).Flush()
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		f := mustNew(t, Options{Concurrency: 2, Timeout: 50 * time.Millisecond, Retries: 1, Backoff: time.Millisecond, Client: client})
		for _, r := range run(t, f, []string{srv.URL + "/slow-headers", srv.URL + "/slow-body"}) {
			if r.Error != KindTimeout || r.Attempts != 2 {
				t.Errorf("line %d: error %q (%s), %d attempts; want timeout after 2", r.Line, r.Error, r.Message, r.Attempts)
			}
		}
	})
}

// TestRecords checks the fields of records against a real server: invalid
// lines in the middle of the input, headers sent, gzip decoded, bodies
// truncated, a refused connection.
func TestRecords(t *testing.T) {
	t.Parallel()
	forClients(t, func(t *testing.T, client Client) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/header":
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, r.Header.Get("X-Test")+"|"+r.Host+"|"+r.UserAgent())
			case "/gzip":
				w.Header().Set("Content-Encoding", "gzip")
				zw := gzip.NewWriter(w)
				io.WriteString(zw, strings.Repeat("z", 5000))
				zw.Close()
			case "/long":
				io.WriteString(w, strings.Repeat("é", 100)) // 200 bytes
			default:
				http.NotFound(w, r)
			}
		}))
		defer srv.Close()
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		f := mustNew(t, Options{Concurrency: 4, Body: true, MaxBody: 51, Client: client,
			Header: http.Header{"X-Test": {"yes"}, "Host": {"virtual.example"}}})
		lines := []string{srv.URL + "/header", "# comment", "not a url", srv.URL + "/gzip", "", srv.URL + "/long", srv.URL + "/missing", closed.URL + "/"}
		recs := run(t, f, lines)
		byLine := map[int]Record{}
		for _, r := range recs {
			byLine[r.Line] = r
		}
		if len(recs) != 6 || len(byLine) != 6 {
			t.Fatalf("%d records for 6 URL lines: %+v", len(recs), recs)
		}
		check := func(line int, cond bool, what string) {
			t.Helper()
			if !cond {
				t.Errorf("line %d: want %s; record %+v", line, what, byLine[line])
			}
		}
		r := byLine[1]
		check(1, r.OK() && r.Status == 200 && r.ContentType == "text/plain" && *r.Body == "yes|virtual.example|gather-fetch" && r.Attempts == 1, "headers echoed")
		r = byLine[3]
		check(3, r.Error == KindInvalid && r.URL == "not a url" && r.Attempts == 0, "invalid")
		r = byLine[4]
		check(4, r.OK() && r.Bytes == 5000 && r.BodyTruncated, "5000 bytes decoded from gzip")
		r = byLine[6]
		check(6, r.OK() && r.Bytes == 200 && r.BodyTruncated && *r.Body == strings.Repeat("é", 25), "body cut at a character boundary")
		r = byLine[7]
		check(7, r.Error == KindStatus && r.Status == 404 && r.Message == "404 Not Found", "404")
		r = byLine[8]
		check(8, r.Error == KindRefused && r.Status == 0 && r.Attempts == 1, "refused")
	})
}

// TestHTTP2 checks that the default transport speaks HTTP/2 to a TLS
// server that offers it, and HTTP/1.1 to a plain one.
func TestHTTP2(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain := httptest.NewServer(h)
	defer plain.Close()

	f := mustNew(t, Options{Body: true, MaxBody: 100})
	// Trust the test server's certificate, keeping the rest of the default
	// transport as New made it.
	f.net.rt.(*http.Transport).TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	recs := run(t, f, []string{tlsSrv.URL + "/", plain.URL + "/"})
	for i, want := range []string{"HTTP/2.0", "HTTP/1.1"} {
		if r := recs[i]; !r.OK() || r.Body == nil || *r.Body != want {
			t.Errorf("line %d: record %+v, want body %q", r.Line, r, want)
		}
	}
}
