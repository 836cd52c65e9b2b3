package fetcher

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
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

// TestOrder fetches URLs that take 3, 1 and 2 seconds (fake time): input
// order yields them as given, done order as they finish, and both take 3 s.
func TestOrder(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		order gather.Order
		want  []int
	}{
		{gather.InputOrder, []int{1, 2, 3}},
		{gather.CompletionOrder, []int{2, 3, 1}},
	} {
		forPaths(t, func(t *testing.T, path string) {
			f := mustNew(t, onPath(t, path, Options{Concurrency: 3, Order: tt.order, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
				d, _ := time.ParseDuration(r.URL.Query().Get("d"))
				if err := sleepReq(r, d); err != nil {
					return nil, err
				}
				return respond(r, 200, "ok"), nil
			})}))
			start := time.Now()
			recs := run(t, f, []string{"http://x/?d=3s", "http://x/?d=1s", "http://x/?d=2s"})
			var got []int
			for _, r := range recs {
				got = append(got, r.Line)
				if !r.OK() {
					t.Errorf("line %d: %s %s", r.Line, r.Error, r.Message)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("order %v: lines %v, want %v", tt.order, got, tt.want)
			}
			if d := time.Since(start); d != 3*time.Second {
				t.Errorf("took %v, want 3s", d)
			}
		})
	}
}

// TestRetries checks which outcomes are retried, how many times, and that
// the backoff waits stay within their jittered bounds (fake time).
func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses []int // one per attempt; 0 means a connection error
		retries  int
		attempts int
		kind     string
	}{
		{"success", []int{200}, 3, 1, ""},
		{"503 then success", []int{503, 502, 200}, 3, 3, ""},
		{"429 then success", []int{429, 200}, 3, 2, ""},
		{"network error then success", []int{0, 200}, 3, 2, ""},
		{"gives up", []int{500, 500, 500}, 2, 3, KindStatus},
		{"network error, gives up", []int{0, 0}, 1, 2, KindConnection},
		{"404 is not retried", []int{404, 200}, 3, 1, KindStatus},
		{"no retries", []int{503, 200}, 0, 1, KindStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forPaths(t, func(t *testing.T, path string) {
				const base = 100 * time.Millisecond
				var times []time.Time
				f := mustNew(t, onPath(t, path, Options{Retries: tt.retries, Backoff: base, MaxBackoff: time.Hour,
					Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
						times = append(times, time.Now())
						code := tt.statuses[len(times)-1]
						if code == 0 {
							return nil, io.ErrUnexpectedEOF
						}
						return respond(r, code, "body"), nil
					})}))
				rec := run(t, f, []string{"http://x/"})[0]
				if rec.Attempts != tt.attempts || len(times) != tt.attempts || rec.Error != tt.kind {
					t.Fatalf("attempts %d (%d requests), error %q %s; want %d attempts, error %q",
						rec.Attempts, len(times), rec.Error, rec.Message, tt.attempts, tt.kind)
				}
				for i := 1; i < len(times); i++ {
					wait := times[i].Sub(times[i-1])
					full := base << (i - 1)
					if wait < full/2 || wait > full {
						t.Errorf("wait before retry %d: %v, want within [%v, %v]", i, wait, full/2, full)
					}
				}
			})
		})
	}
}

// TestRetryAfter checks that a Retry-After in seconds or as a date sets
// the wait exactly, and that one over the cap is not retried.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		header   func(now time.Time) string
		wait     time.Duration
		attempts int
	}{
		{"seconds", func(time.Time) string { return "3" }, 3 * time.Second, 2},
		{"date", func(now time.Time) string { return now.Add(5 * time.Second).UTC().Format(http.TimeFormat) }, 5 * time.Second, 2},
		{"past date", func(now time.Time) string { return now.Add(-time.Hour).UTC().Format(http.TimeFormat) }, 0, 2},
		{"malformed uses backoff", func(time.Time) string { return "soon" }, -1, 2},
		{"over the cap", func(time.Time) string { return "120" }, 0, 1},
		{"too large for a Duration", func(time.Time) string { return "99999999999999999999" }, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forPaths(t, func(t *testing.T, path string) {
				var times []time.Time
				f := mustNew(t, onPath(t, path, Options{Retries: 1, Backoff: time.Second, MaxRetryAfter: time.Minute,
					Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
						now := time.Now()
						times = append(times, now)
						if len(times) == 1 {
							return respond(r, 503, "busy", "Retry-After", tt.header(now)), nil
						}
						return respond(r, 200, "ok"), nil
					})}))
				rec := run(t, f, []string{"http://x/"})[0]
				if rec.Attempts != tt.attempts {
					t.Fatalf("attempts %d, want %d (%s %s)", rec.Attempts, tt.attempts, rec.Error, rec.Message)
				}
				if tt.attempts == 1 {
					if rec.Status != 503 || !strings.Contains(rec.Message, "Retry-After") {
						t.Errorf("record %+v: want status 503 and a message about Retry-After", rec)
					}
					return
				}
				wait := times[1].Sub(times[0])
				if tt.wait >= 0 && wait != tt.wait || tt.wait < 0 && (wait < time.Second/2 || wait > time.Second) {
					t.Errorf("waited %v, want %v", wait, tt.wait)
				}
			})
		})
	}
}

func TestRetryAfterParse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{" 120 ", 2 * time.Minute, true},
		{"Fri, 02 Jan 2026 03:04:15 GMT", 10 * time.Second, true},
		{"Friday, 02-Jan-26 03:04:15 GMT", 10 * time.Second, true},
		{"Fri Jan  2 03:04:15 2026", 10 * time.Second, true},
		{"Thu, 01 Jan 2026 00:00:00 GMT", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"99999999999", math.MaxInt64, true},
		{"99999999999999999999999", math.MaxInt64, true},
		{"+5", 0, false},
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.v, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

// TestBackoff checks the bounds of each wait: doubled from the base, capped
// at the maximum, never more than the cap even after many retries, and
// still doubling when there is no cap.
func TestBackoff(t *testing.T) {
	t.Parallel()
	const s = time.Second
	tests := []struct {
		n         int
		base, max time.Duration
		want      time.Duration // the wait before jitter: it lies in [want/2, want]
	}{
		{1, s, 10 * s, s},
		{2, s, 10 * s, 2 * s},
		{4, s, 10 * s, 8 * s},
		{5, s, 10 * s, 10 * s},
		{1000, s, 10 * s, 10 * s},
		{1, 3 * s, s, s},
		{4, s, 0, 8 * s},
		{100, s, 0, math.MaxInt64},
		{3, 0, 10 * s, 0},
	}
	for _, tt := range tests {
		for range 20 {
			if got := backoff(tt.n, tt.base, tt.max); got < tt.want/2 || got > tt.want {
				t.Errorf("backoff(%d, %v, %v) = %v, want within [%v, %v]", tt.n, tt.base, tt.max, got, tt.want/2, tt.want)
				break
			}
		}
	}
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

// TestCancel interrupts a run whose requests never answer: the requests
// under way and all the lines after them get "cancelled" records, and
// every line has its record.
func TestCancel(t *testing.T) {
	t.Parallel()
	for _, order := range []gather.Order{gather.InputOrder, gather.CompletionOrder} {
		forPaths(t, func(t *testing.T, path string) {
			f := mustNew(t, onPath(t, path, Options{Concurrency: 5, Order: order, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
				if r.URL.Path == "/fast" {
					return respond(r, 200, "ok"), nil
				}
				<-r.Context().Done()
				return nil, r.Context().Err()
			})}))
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, cancel)
			var lines []string
			for i := range 100 {
				if i < 3 {
					lines = append(lines, "http://x/fast")
				} else {
					lines = append(lines, "http://x/hang")
				}
			}
			recs := runCtx(t, ctx, f, lines)
			seen := map[int]bool{}
			for _, r := range recs {
				seen[r.Line] = true
				wantOK := r.Line <= 3
				if r.OK() != wantOK || !wantOK && r.Error != KindCancelled {
					t.Errorf("line %d: error %q %s", r.Line, r.Error, r.Message)
				}
			}
			if len(recs) != 100 || len(seen) != 100 {
				t.Fatalf("%d records for %d distinct lines, want 100", len(recs), len(seen))
			}
		})
	}
}

// TestHundredThousand feeds 100,000 lines through an in-memory transport
// and checks that exactly 100,000 records come out, each line once, in
// input order; then the same for 20,000 lines in completion order (fewer,
// to keep the test under a few seconds with -race on two cores).
func TestHundredThousand(t *testing.T) {
	for _, tt := range []struct {
		order gather.Order
		n     int
	}{
		{gather.InputOrder, 100_000},
		{gather.CompletionOrder, 20_000},
	} {
		var b strings.Builder
		for i := range tt.n {
			fmt.Fprintf(&b, "http://h%d.example/p?i=%d\n", i%7, i)
		}
		var requests atomic.Int64
		f := mustNew(t, Options{Concurrency: 500, PerHost: 100, Order: tt.order, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			return respond(r, 200, r.URL.RawQuery), nil
		})})
		seen := make([]bool, tt.n+1)
		count, prev, inOrder := 0, 0, true
		err := f.Run(context.Background(), Lines(strings.NewReader(b.String())).All(), func(r *Record) error {
			count++
			if r.Line < 1 || r.Line > tt.n || seen[r.Line] {
				return fmt.Errorf("line %d out of range or seen twice", r.Line)
			}
			seen[r.Line] = true
			if want := fmt.Sprintf("i=%d", r.Line-1); !r.OK() || r.Bytes != int64(len(want)) || !strings.HasSuffix(r.URL, want) {
				return fmt.Errorf("line %d: record %+v", r.Line, r)
			}
			inOrder = inOrder && r.Line == prev+1
			prev = r.Line
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if count != tt.n || requests.Load() != int64(tt.n) {
			t.Fatalf("order %v: %d records, %d requests; want %d", tt.order, count, requests.Load(), tt.n)
		}
		if tt.order == gather.InputOrder && !inOrder {
			t.Errorf("input order: records out of order")
		}
	}
}

// TestEmitError checks that Run stops, without leaking, when the output
// fails.
func TestEmitError(t *testing.T) {
	t.Parallel()
	forPaths(t, func(t *testing.T, path string) {
		f := mustNew(t, onPath(t, path, Options{Concurrency: 4, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/hang" {
				<-r.Context().Done()
				return nil, r.Context().Err()
			}
			return respond(r, 200, "ok"), nil
		})}))
		boom := fmt.Errorf("disk full")
		calls := 0
		err := f.Run(context.Background(), Args([]string{"http://x/", "http://x/hang", "http://x/hang", "http://x/"}).All(),
			func(r *Record) error { calls++; return boom })
		if err != boom || calls != 1 {
			t.Fatalf("Run = %v after %d emits, want %v after 1", err, calls, boom)
		}
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

// TestSlowLineDoesNotStall checks that in input order a slow first line
// holds back the records after it but not their fetches, and that no more
// than Concurrency requests are ever in flight (fake time): at -c 2, a
// 10 s line and seven 1 s lines take 10 s (7 s for the fast ones on the
// second slot), not the 13 s it takes when a finished record keeps its
// slot until the slow one is emitted.
func TestSlowLineDoesNotStall(t *testing.T) {
	t.Parallel()
	forPaths(t, func(t *testing.T, path string) {
		var now, peak atomic.Int64
		f := mustNew(t, onPath(t, path, Options{Concurrency: 2, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
			n := now.Add(1)
			defer now.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			d := time.Second
			if r.URL.Path == "/slow" {
				d = 10 * time.Second
			}
			if err := sleepReq(r, d); err != nil {
				return nil, err
			}
			return respond(r, 200, "ok"), nil
		})}))
		lines := []string{"http://x/slow"}
		for range 7 {
			lines = append(lines, "http://x/fast")
		}
		start := time.Now()
		recs := run(t, f, lines)
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("took %v, want 10s", d)
		}
		if p := peak.Load(); p != 2 {
			t.Errorf("at most %d requests in flight, want 2", p)
		}
		for i, r := range recs {
			if r.Line != i+1 || !r.OK() {
				t.Errorf("record %d: line %d, error %q", i, r.Line, r.Error)
			}
		}
	})
}

// TestInputOrderEmitsPromptly checks that in input order a record is
// emitted as soon as the records before it are, not when the reorder
// window has filled (fake time): at -c 2, ten 1 s lines finish two by two,
// and line k is emitted after ceil(k/2) s.
func TestInputOrderEmitsPromptly(t *testing.T) {
	t.Parallel()
	forPaths(t, func(t *testing.T, path string) {
		f := mustNew(t, onPath(t, path, Options{Concurrency: 2, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
			if err := sleepReq(r, time.Second); err != nil {
				return nil, err
			}
			return respond(r, 200, "ok"), nil
		})}))
		var lines []string
		for i := range 10 {
			lines = append(lines, fmt.Sprintf("http://x/%d", i))
		}
		start := time.Now()
		var got []time.Duration
		err := f.Run(context.Background(), Args(lines).All(), func(r *Record) error {
			got = append(got, time.Since(start))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := "[1s 1s 2s 2s 3s 3s 4s 4s 5s 5s]"
		if fmt.Sprint(got) != want {
			t.Errorf("records emitted at %v, want %s", got, want)
		}
	})
}

// TestStalled checks that in input order a slow line holds back the
// records after it while the fetches go on, until the window is full;
// then the input waits, and Options.Stalled hears of the line once, a
// second after the window filled (fake time).
func TestStalled(t *testing.T) {
	t.Parallel()
	forPaths(t, func(t *testing.T, path string) {
		type stall struct{ line, held int }
		var stalls []stall
		f := mustNew(t, onPath(t, path, Options{Concurrency: 2,
			Stalled: func(l Line, held int) { stalls = append(stalls, stall{l.Number, held}) },
			Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
				d := 700 * time.Millisecond
				if r.URL.Path == "/slow" {
					d = 10 * time.Second
				}
				if err := sleepReq(r, d); err != nil {
					return nil, err
				}
				return respond(r, 200, "ok"), nil
			})}))
		f.hold = 6
		lines := []string{"http://x/slow"}
		for range 10 {
			lines = append(lines, "http://x/fast")
		}
		start := time.Now()
		recs := run(t, f, lines)
		if len(recs) != 11 {
			t.Fatalf("%d records, want 11", len(recs))
		}
		// The window of 6 fills at 1.4 s (the slow line, two fast ones
		// done, one being fetched, two ready for the next free slot), the
		// note comes at 2.4 s with three records held, the slow line ends
		// at 10 s, and the last five fast ones take two slots 2.1 s.
		if want := []stall{{1, 3}}; fmt.Sprint(stalls) != fmt.Sprint(want) {
			t.Errorf("stalls %v, want %v", stalls, want)
		}
		if d := time.Since(start); d != 12100*time.Millisecond {
			t.Errorf("took %v, want 12.1s", d)
		}
	})
}
