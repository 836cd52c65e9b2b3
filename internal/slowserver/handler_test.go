package slowserver

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs one request through h and returns the answer and how long it
// took. Inside a synctest bubble the time is exact.
// A handler aborted with http.ErrAbortHandler (net/http closes the
// connection) returns what it wrote before, as net/http would send it.
func serve(h http.Handler, req *http.Request) (*httptest.ResponseRecorder, time.Duration) {
	rec := httptest.NewRecorder()
	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != nil && p != http.ErrAbortHandler {
				panic(p)
			}
		}()
		h.ServeHTTP(rec, req)
	}()
	return rec, time.Since(start)
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	cfg := Config{Delay: 5 * time.Second, MaxDelay: 10 * time.Second, MaxBytes: 1000, MaxBodyBytes: 100}
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		code   int
		want   string // the body, or a prefix of it when it ends in "..."
		size   int    // the body's length, when want is empty
		took   time.Duration
	}{
		{"hello", "GET", "/", "", 200, "hello!", 0, 5 * time.Second},
		{"hello any method", "POST", "/", "x", 200, "hello!", 0, 5 * time.Second},
		{"delay duration", "GET", "/delay/2s", "", 200, "hello!", 0, 2 * time.Second},
		{"delay seconds", "GET", "/delay/1.5", "", 200, "hello!", 0, 1500 * time.Millisecond},
		{"delay zero", "GET", "/delay/0", "", 200, "hello!", 0, 0},
		{"delay capped", "GET", "/delay/1h", "", 200, "hello!", 0, 10 * time.Second},
		{"delay negative", "GET", "/delay/-1s", "", 400, "bad delay...", 0, 0},
		{"delay garbage", "GET", "/delay/soon", "", 400, "bad delay...", 0, 0},
		{"delay NaN", "GET", "/delay/NaN", "", 400, "bad delay...", 0, 0},
		{"delay infinite", "GET", "/delay/Inf", "", 400, "bad delay...", 0, 0},
		{"status", "GET", "/status/418", "", 418, "I'm a teapot\n", 0, 0},
		{"status 503", "GET", "/status/503", "", 503, "Service Unavailable\n", 0, 0},
		{"status too low", "GET", "/status/101", "", 400, "bad status...", 0, 0},
		{"status too high", "GET", "/status/600", "", 400, "bad status...", 0, 0},
		{"bytes", "GET", "/bytes/100", "", 200, "", 100, 0},
		{"bytes zero", "GET", "/bytes/0", "", 200, "", 0, 0},
		{"bytes capped", "GET", "/bytes/1000000", "", 200, "", 1000, 0},
		{"bytes garbage", "GET", "/bytes/lots", "", 400, "bad size...", 0, 0},
		{"stream", "GET", "/stream/4", "", 200, "chunk 1 of 4\nchunk 2 of 4\nchunk 3 of 4\nchunk 4 of 4\n", 0, 5 * time.Second},
		{"stream zero", "GET", "/stream/0", "", 200, "", 0, 0},
		{"stream garbage", "GET", "/stream/-3", "", 400, "bad count...", 0, 0},
		{"drop without hijack", "GET", "/drop", "", 500, "cannot drop...", 0, 0},
		{"not found", "GET", "/nope", "", 404, "404 page not found...", 0, 0},
		{"body too large", "POST", "/", strings.Repeat("x", 101), 413, "request body over 100 bytes\n", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := New(cfg)
				req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
				rec, took := serve(h, req)
				if rec.Code != tt.code {
					t.Errorf("status = %d, want %d (body %q)", rec.Code, tt.code, rec.Body)
				}
				got := rec.Body.String()
				switch prefix, ok := strings.CutSuffix(tt.want, "..."); {
				case ok && !strings.HasPrefix(got, prefix):
					t.Errorf("body = %q, want it to start with %q", got, prefix)
				case !ok && tt.want != "" && got != tt.want:
					t.Errorf("body = %q, want %q", got, tt.want)
				case tt.want == "" && len(got) != tt.size:
					t.Errorf("body is %d bytes, want %d", len(got), tt.size)
				}
				if took != tt.took {
					t.Errorf("took %v, want %v", took, tt.took)
				}
				st := h.Stats()
				if st.Requests != 1 || st.ByStatus[tt.code] != 1 || st.InFlight != 0 {
					t.Errorf("stats = %+v, want one request answered %d", st, tt.code)
				}
			})
		})
	}
}

// The largest durations a user can give must neither panic nor wrap
// around to a negative wait that answers at once.
func TestHugeDelayAndJitter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const huge = time.Duration(math.MaxInt64)
		h := New(Config{Delay: huge, Jitter: huge, Seed: 1})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Hour, cancel)
		rec, took := serve(h, httptest.NewRequestWithContext(ctx, "GET", "/", nil))
		if took != time.Hour || rec.Body.Len() != 0 {
			t.Errorf("took %v and wrote %q, want to wait until the client left after 1h", took, rec.Body)
		}
	})
}

func TestStreamSpreadsChunksOverTheDelay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := New(Config{Delay: 3 * time.Second})
		w := &timedWriter{ResponseRecorder: httptest.NewRecorder(), start: time.Now()}
		h.ServeHTTP(w, httptest.NewRequest("GET", "/stream/3", nil))
		want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}
		if len(w.flushes) != len(want) {
			t.Fatalf("flushed at %v, want %v", w.flushes, want)
		}
		for i := range want {
			if w.flushes[i] != want[i] {
				t.Errorf("flushed at %v, want %v", w.flushes, want)
				break
			}
		}
	})
}

// Writing takes time; chunk k is still due at k·delay/n from the start,
// so the stream ends on time however slow the writes.
func TestStreamScheduleAbsorbsWriteTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := New(Config{Delay: 3 * time.Second})
		w := &timedWriter{ResponseRecorder: httptest.NewRecorder(), start: time.Now(), cost: 300 * time.Millisecond}
		h.ServeHTTP(w, httptest.NewRequest("GET", "/stream/3", nil))
		want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}
		if !slices.Equal(w.flushes, want) {
			t.Errorf("flushed at %v, want %v", w.flushes, want)
		}
	})
}

// timedWriter notes when each flush starts; a flush then takes cost.
type timedWriter struct {
	*httptest.ResponseRecorder
	start   time.Time
	cost    time.Duration
	flushes []time.Duration
}

func (w *timedWriter) Flush() {
	w.flushes = append(w.flushes, time.Since(w.start))
	w.ResponseRecorder.Flush()
	time.Sleep(w.cost)
}

func TestStreamIsCapped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := New(Config{})
		rec, _ := serve(h, httptest.NewRequest("GET", "/stream/99999999", nil))
		if got := strings.Count(rec.Body.String(), "\n"); got != MaxStreamChunks {
			t.Errorf("got %d lines, want %d", got, MaxStreamChunks)
		}
	})
}

func TestJitter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const delay, jitter = time.Second, 500 * time.Millisecond
		h := New(Config{Delay: delay, Jitter: jitter, Seed: 1})
		seen := map[time.Duration]bool{}
		for range 50 {
			rec, took := serve(h, httptest.NewRequest("GET", "/", nil))
			if rec.Code != 200 || took < delay || took > delay+jitter {
				t.Fatalf("answered %d after %v, want 200 after %v to %v", rec.Code, took, delay, delay+jitter)
			}
			seen[took] = true
		}
		if len(seen) < 40 {
			t.Errorf("only %d different waits in 50 requests: jitter is not random", len(seen))
		}
	})
}

// failures returns which of n requests to h failed.
func failures(h *Handler, n int) []bool {
	fails := make([]bool, n)
	for i := range fails {
		rec, _ := serve(h, httptest.NewRequest("GET", "/", nil))
		fails[i] = rec.Code == http.StatusInternalServerError
	}
	return fails
}

func TestFailRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate     float64
		min, max int // failures expected in 1000 requests
	}{
		{0, 0, 0},
		{0.3, 200, 400}, // the mean is 300, the standard deviation about 14.5
		{1, 1000, 1000},
		{-1, 0, 0}, // clamped
		{7, 1000, 1000},
	}
	for _, tt := range tests {
		h := New(Config{FailRate: tt.rate, Seed: 42})
		n := 0
		for _, failed := range failures(h, 1000) {
			if failed {
				n++
			}
		}
		if n < tt.min || n > tt.max {
			t.Errorf("FailRate %v: %d of 1000 failed, want %d to %d", tt.rate, n, tt.min, tt.max)
		}
		if st := h.Stats(); st.ByStatus[500] != int64(n) || st.ByStatus[200] != int64(1000-n) {
			t.Errorf("FailRate %v: stats %v, want 500: %d, 200: %d", tt.rate, st, n, 1000-n)
		}
	}
}

func TestSeedReplaysTheSameFailures(t *testing.T) {
	t.Parallel()
	a := failures(New(Config{FailRate: 0.5, Seed: 7}), 200)
	b := failures(New(Config{FailRate: 0.5, Seed: 7}), 200)
	c := failures(New(Config{FailRate: 0.5, Seed: 8}), 200)
	if !equal(a, b) {
		t.Error("two handlers with the same seed failed different requests")
	}
	if equal(a, c) {
		t.Error("two handlers with different seeds failed the same 200 requests")
	}
}

func equal(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestClientGoneStopsTheDelay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := New(Config{Delay: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		rec := httptest.NewRecorder()
		start := time.Now()
		var aborted any
		func() {
			defer func() { aborted = recover() }()
			h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, "GET", "/", nil))
		}()
		// Aborted, so that net/http closes the connection with nothing
		// written rather than answer 200 with an empty body.
		if took := time.Since(start); took != time.Second || rec.Body.Len() != 0 || aborted != http.ErrAbortHandler {
			t.Errorf("took %v, wrote %q and panicked with %v, want to abort after 1s without an answer", took, rec.Body, aborted)
		}
		if st := h.Stats(); st.Gone != 1 || len(st.ByStatus) != 0 {
			t.Errorf("stats = %v, want one client gone", st)
		}
	})
}

func TestStatsString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		st   Stats
		want string
	}{
		{Stats{ByStatus: map[int]int64{}}, "0 requests, 0 dropped, 0 client gone, 0 in flight cut"},
		{
			Stats{Requests: 1009, ByStatus: map[int]int64{500: 5, 200: 1000}, Dropped: 2, Gone: 1, Cut: 1},
			"1009 requests (200: 1000, 500: 5), 2 dropped, 1 client gone, 1 in flight cut",
		},
		{Stats{Requests: 3, InFlight: 3}, "3 requests, 0 dropped, 0 client gone, 0 in flight cut, 3 still in flight"},
	}
	for _, tt := range tests {
		if got := tt.st.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// BenchmarkServeHTTP measures the handler's own cost per request, without
// a delay or a network: the routing, the counting and the answer.
func BenchmarkServeHTTP(b *testing.B) {
	for _, path := range []string{"/", "/status/204", "/bytes/1024"} {
		b.Run(path, func(b *testing.B) {
			h := New(Config{})
			req := httptest.NewRequest("GET", path, nil)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
