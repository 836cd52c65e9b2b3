package live

import (
	"errors"
	"io"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gather-dev/gather/internal/report"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var runStart = time.Date(2026, 1, 2, 3, 4, 5, 500_000_000, time.UTC) // half a second in

// knownIntervals records a run of 4 intervals after runStart and returns
// them as the run delivers them (see [report.Intervals.Closed]): interval
// k holds 100·(k+1) requests answered in k+1 ms, and interval 2 also 7
// timeouts and 5 answers 503. The first and the last are partial: the run
// went on for the last half of the first and 0.9 s of the last.
func knownIntervals(t testing.TB) []report.Interval {
	rec := report.NewRecorder()
	iv := report.NewIntervals(runStart, time.Second, rec)
	first := runStart.Truncate(time.Second)
	for k := range 4 {
		n := 100 * (k + 1)
		for j := range n {
			at := first.Add(time.Duration(k)*time.Second + 500*time.Millisecond + time.Duration(j)*400*time.Millisecond/time.Duration(n))
			iv.Cut(at)
			lat := time.Duration(k+1) * time.Millisecond
			rec.Record(report.Sample{Response: lat, Service: lat, Status: 200, End: at})
		}
		if k == 2 {
			at := first.Add(2*time.Second + 950*time.Millisecond)
			for range 7 {
				rec.Record(report.Sample{Err: report.ErrTimeout, End: at})
			}
			for range 5 {
				rec.Record(report.Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 503, End: at})
			}
		}
	}
	if n := iv.Finish(first.Add(3*time.Second+900*time.Millisecond), 0).Len(); n != 4 {
		t.Fatalf("%d intervals", n)
	}
	out := make([]report.Interval, 4)
	for i := range out {
		out[i] = iv.Closed(i)
	}
	return out
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[a-zA-Z]`)

func plain(s string) string { return ansi.ReplaceAllString(s, "") }

func TestScreen(t *testing.T) {
	t.Parallel()
	intervals := knownIntervals(t)
	info := Info{Target: "GET http://127.0.0.1:5000/", Model: "closed: 10 connections", Duration: 10 * time.Second, Interval: time.Second, Start: runStart}
	s := state{start: runStart}
	empty := plain(screen(&s, &info, runStart.Add(300*time.Millisecond), 100))
	if !strings.Contains(empty, "waiting for the first interval") || !strings.Contains(empty, "elapsed 0.3 s  remaining 9.7 s") {
		t.Errorf("before the first interval:\n%s", empty)
	}
	for _, iv := range intervals {
		s.add(iv)
	}
	now := runStart.Add(3500 * time.Millisecond)
	got := plain(screen(&s, &info, now, 100))
	for _, want := range []string{
		"gather bench  GET http://127.0.0.1:5000/",
		"elapsed 3.5 s  remaining 6.5 s",
		// The last interval: 400 requests in the 0.9 s the run went on
		// in it; overall 1012 in 3.5 s.
		"now      444.4   overall      289.1   requests 1012",
		// p99 of the last interval is 4 ms; of the run 4 ms as well (within
		// 1%), p50 of the run 3 ms (612 of 1012 answered in 1 to 3 ms).
		"p99              4.015 ms       4.015 ms",
		"p50              4.015 ms       3.007 ms",
		"timeout 7 (0)",
		"Status       200 1000 (400)  503 5 (0)",
		"req/s", "p99 ms", "max 444",
		"q or Ctrl-C",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("screen lacks %q:\n%s", want, got)
		}
	}
	// The first interval covered half a second: 100 requests are 200/s;
	// the last 0.9 s: 400 requests are 444.4/s.
	if s.rates[0] != 200 {
		t.Errorf("rate of the partial first interval %v, want 200", s.rates[0])
	}
	if want := 400 / 0.9; math.Abs(s.rates[3]-want) > 1e-9 {
		t.Errorf("rate of the partial last interval %v, want %v", s.rates[3], want)
	}
	// The open model shows the rate requests were due at.
	open := info
	open.Open, open.Rate = true, 100
	if got := plain(screen(&s, &open, now, 100)); !strings.Contains(got, "Due/s        now        0.0   target       100.0   late 0, dropped 0") {
		t.Errorf("open model:\n%s", got)
	}
	// With -n, the bar follows the requests, and the remaining time is
	// at the overall rate.
	info.Duration, info.Requests = 0, 2024
	if got := plain(screen(&s, &info, now, 100)); !strings.Contains(got, "remaining 3.5 s") {
		t.Errorf("-n 2024 after 1012 in 3.5 s:\n%s", got)
	}
}

// The status codes show one by one, the run's with the last interval's
// in parentheses, wrapped to the width; past the eight most frequent
// codes of an interval, the rest are other codes.
func TestScreenStatusCodes(t *testing.T) {
	t.Parallel()
	rec := report.NewRecorder()
	first := runStart.Truncate(time.Second)
	iv := report.NewIntervals(first, time.Second, rec)
	answer := func(at time.Duration, code, n int) {
		for range n {
			iv.Cut(first.Add(at))
			rec.Record(report.Sample{Response: time.Millisecond, Service: time.Millisecond, Status: code, End: first.Add(at)})
		}
	}
	// Interval 0: ten codes, code i answered i+1 times; interval 1:
	// 200 and 204, a code the first did not have.
	for i, code := range []int{200, 404, 503, 201, 301, 500, 429, 302, 418, 100} {
		answer(time.Duration(i)*10*time.Millisecond, code, i+1)
	}
	answer(1100*time.Millisecond, 200, 30)
	answer(1200*time.Millisecond, 204, 2)
	series := iv.Finish(first.Add(1500*time.Millisecond), 0)
	s := state{start: first}
	for iv := range series.All() {
		s.add(iv)
	}
	info := Info{Target: "GET http://127.0.0.1:5000/", Interval: time.Second, Start: first}
	got := plain(screen(&s, &info, first.Add(1500*time.Millisecond), 120))
	// 200 ×1 and 404 ×2 were not among the first interval's eight most
	// frequent: they are other codes, and the run's 200 the second's 30.
	want := "Status       100 10 (0)  200 30 (30)  201 4 (0)  204 2 (2)  301 5 (0)  302 8 (0)  418 9 (0)  429 7 (0)  500 6 (0)\n" +
		"             503 3 (0)  other codes 3 (0)\n"
	if !strings.Contains(got, want) {
		t.Errorf("screen lacks\n%s in:\n%s", want, got)
	}
	if narrow := plain(screen(&s, &info, first.Add(1500*time.Millisecond), 60)); !strings.Contains(narrow,
		"Status       100 10 (0)  200 30 (30)  201 4 (0)  204 2 (2)\n             301 5 (0)") {
		t.Errorf("60 columns:\n%s", narrow)
	}
}

// syncBuffer is a terminal's output the test can read while the view
// writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The view draws the intervals it is handed, calls stop once on q, and
// ends; Stop after that returns at once.
func TestViewStopsOnQ(t *testing.T) {
	t.Parallel()
	in, keys := io.Pipe()
	defer keys.Close()
	var out syncBuffer
	stopped := make(chan struct{})
	v := Start(in, &out, Info{Target: "GET http://127.0.0.1:5000/", Interval: time.Second, Start: runStart}, func() { close(stopped) })
	for _, iv := range knownIntervals(t) {
		v.Interval(iv)
	}
	waitFor(t, "the view drew the last interval", func() bool { return strings.Contains(plain(out.String()), "requests 1012") })
	if _, err := keys.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("q did not stop the run")
	}
	<-v.Done()
	if err := v.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	// The alternate screen was entered and left.
	if o := out.String(); !strings.Contains(o, "\x1b[?1049h") || !strings.Contains(o, "\x1b[?1049l") {
		t.Errorf("the view did not enter and leave the alternate screen: %q", o[max(0, len(o)-200):])
	}
	v.Interval(knownIntervals(t)[0]) // after the end: nothing, no block
}

// Stop ends a view that nobody stopped with a key, without calling stop.
func TestViewStop(t *testing.T) {
	t.Parallel()
	in, keys := io.Pipe()
	defer keys.Close()
	var out syncBuffer
	v := Start(in, &out, Info{Interval: time.Second, Start: time.Now()}, func() { t.Error("stop called without a key") })
	waitFor(t, "the first frame", func() bool { return strings.Contains(out.String(), "waiting for the first interval") })
	if err := v.Stop(); err != nil && !errors.Is(err, io.EOF) {
		t.Errorf("Stop: %v", err)
	}
	if err := v.Stop(); err != nil && !errors.Is(err, io.EOF) {
		t.Errorf("second Stop: %v", err)
	}
}

// BenchmarkViewInterval is the view's cost per interval of the run: take
// the interval in, draw the screen. Once a second, that is the view's
// CPU cost per second, besides the terminal's own work.
func BenchmarkViewInterval(b *testing.B) {
	intervals := knownIntervals(b)
	info := Info{Target: "GET http://127.0.0.1:5000/", Model: "closed: 50 connections", Duration: time.Hour, Interval: time.Second, Start: runStart}
	s := state{start: runStart}
	now := runStart.Add(time.Hour / 2)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.add(intervals[i%len(intervals)])
		_ = screen(&s, &info, now, 120)
		i++
	}
}
