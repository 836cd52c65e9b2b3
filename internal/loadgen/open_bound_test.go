package loadgen

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// -z bounds the open model on every engine (issue 17, item 1): against a
// server slower than the rate, each run ends at -z and the last
// responses, every request due is sent or counted as dropped, and none is
// sent late after the end. TestLoopOpenDeadline covers the event loops
// over plain HTTP and TestDurationBoundsOpenModel the schedule in fake
// time; this covers the engines each of which claims requests with its
// own code: the loops over TLS, the goroutines over HTTP and TLS, the
// HTTP/2 client over TLS and h2c, and net/http.
func TestDurationBoundsOpenModelOnEveryEngine(t *testing.T) {
	t.Parallel()
	var cc concurrency
	h := cc.handler(100*time.Millisecond, "hi")
	urls := h2Servers(t, h, 0)
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	for _, tt := range []struct {
		name   string
		url    string
		plan   Plan
		engine string
	}{
		{"loops over TLS", urls["TLS"], Plan{}, "event loop"},
		{"goroutines", plain.URL, Plan{Goroutines: true}, "goroutines, own HTTP/1.1 client"},
		{"goroutines over TLS", urls["TLS"], Plan{Goroutines: true}, "goroutines, own HTTP/1.1 client over TLS"},
		{"HTTP/2", urls["TLS"], Plan{HTTP2: true}, "own HTTP/2 client over TLS"},
		{"HTTP/2, 4 streams", urls["TLS"], Plan{HTTP2: true, Streams: 4}, "own HTTP/2 client over TLS"},
		{"h2c", urls["h2c"], Plan{HTTP2: true}, "own HTTP/2 client over cleartext"},
		{"net/http", plain.URL, Plan{NetHTTP: true}, "net/http"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.plan
			p.URL = mustURL(t, tt.url+"/")
			p.RootCAs = testRoots()
			// -t 30s: a run that waited for a timeout would take that long.
			p.Connections, p.Rate, p.Duration, p.Timeout = 2, 1000, 500*time.Millisecond, 30*time.Second
			start := time.Now()
			s, err := Run(t.Context(), &p)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if !strings.Contains(s.Generator.Engine, tt.engine) {
				t.Errorf("engine %q, want %q", s.Generator.Engine, tt.engine)
			}
			// 2 connections (8 streams at most) at 100 ms a request carry
			// 10 to 40 requests in 500 ms; unbounded, the other 460 or more
			// would be sent after -z, for 6 to 25 s more. The run takes
			// about 600 ms; 15 s leaves room for a loaded machine (4.9 s
			// seen, seven engines at once under -race at load 14) and
			// still tells a run that waited for -t.
			if s.Requests > 100 || s.Requests+s.Dropped != 500 || s.Errors != 0 || took > 15*time.Second {
				t.Errorf("%d requests, %d dropped, %d errors %v in %v; want 10 to 40, the rest of 500 dropped, in about 600 ms",
					s.Requests, s.Dropped, s.Errors, s.ErrorKinds, took)
			}
			if w := strings.Join(s.Generator.Warnings, "\n"); !strings.Contains(w, "due and never sent") {
				t.Errorf("warnings %q, want the dropped requests named", w)
			}
		})
	}
}
