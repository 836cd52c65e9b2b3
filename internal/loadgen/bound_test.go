package loadgen

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// -z bounds the open model on every engine (issue 17): against a server
// slower than the rate, the run ends at -z plus the last responses, and
// what was due but never sent is counted as dropped, not sent after the
// end. Before, -z 1s at 2000 req/s over 1 connection to a 10 ms server
// ran for 21 s.
func TestOpenModelBoundedOnEveryEngine(t *testing.T) {
	t.Parallel()
	var cc concurrency
	h := cc.handler(100*time.Millisecond, "hi")
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	urls := h2Servers(t, h, 0)
	loops := "goroutine" // where the loops do not run, the workers do
	if loopsSupported {
		loops = "event loop"
	}
	for _, tt := range []struct {
		name   string
		url    string
		plan   Plan
		engine string // a substring of the report's engine
	}{
		{"event loops", plain.URL, Plan{}, loops},
		{"goroutines", plain.URL, Plan{Goroutines: true}, "goroutines, own HTTP/1.1 client"},
		{"net/http", plain.URL, Plan{NetHTTP: true}, "goroutines, net/http"},
		{"HTTPS", urls["TLS"], Plan{}, "over TLS"},
		{"HTTP/2", urls["TLS"], Plan{HTTP2: true}, "own HTTP/2 client over TLS"},
		{"h2c", urls["h2c"], Plan{HTTP2: true}, "own HTTP/2 client over cleartext"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.plan
			p.URL, p.RootCAs = mustURL(t, tt.url), testRoots()
			// -t 30s: a run that waited for a timeout would take that long.
			p.Connections, p.Rate, p.Duration, p.Timeout = 2, 1000, 500*time.Millisecond, 30*time.Second
			start := time.Now()
			s, err := Run(t.Context(), &p)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			// 2 connections at 100 ms a request carry about 10 requests in
			// 500 ms; unbounded, the other 490 would take 25 s more. The
			// run takes about 600 ms; 15 s leaves room for a loaded machine
			// (5 s seen at load 14) and still tells a run that waited for -t.
			if !strings.Contains(s.Generator.Engine, tt.engine) {
				t.Errorf("engine %q, want %q", s.Generator.Engine, tt.engine)
			}
			if s.Requests > 20 || s.Requests+s.Dropped != 500 || s.Series.Totals().Dropped != s.Dropped || took > 15*time.Second {
				t.Errorf("%d requests, %d dropped (series %d) in %v; want about 10, the rest of 500 dropped, in about 600 ms",
					s.Requests, s.Dropped, s.Series.Totals().Dropped, took)
			}
			if s.Errors != 0 {
				t.Errorf("errors %v", s.ErrorKinds)
			}
			w := strings.Join(s.Generator.Warnings, "\n")
			if want := "due and never sent"; !strings.Contains(w, want) {
				t.Errorf("warnings %q, want %q", w, want)
			}
		})
	}
}
