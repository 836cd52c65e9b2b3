package push

import (
	"context"
	"errors"
	"github.com/prometheus/prometheus/prompb"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/gather-dev/gather/internal/report"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeSink counts what it is given; each write waits for gate (if set)
// and answers with the next of fails (nil once they are used up).
type fakeSink struct {
	gate  chan struct{}
	mu    sync.Mutex
	fails []error
	got   [][]time.Time // the snapshots of each write that succeeded
}

func (f *fakeSink) name() string                    { return "fake" }
func (f *fakeSink) url() string                     { return "fake://" }
func (f *fakeSink) start([]label, string, []string) {}
func (f *fakeSink) histograms() (string, string)    { return "native", "" }
func (f *fakeSink) close()                          {}
func (f *fakeSink) samples(s *snapshot) int         { return 10 }
func (f *fakeSink) batches() [][]time.Time          { f.mu.Lock(); defer f.mu.Unlock(); return f.got }
func (f *fakeSink) setFails(errs ...error)          { f.mu.Lock(); f.fails = errs; f.mu.Unlock() }
func (f *fakeSink) write(ctx context.Context, snaps []*snapshot) (int, int, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fails) > 0 {
		err := f.fails[0]
		f.fails = f.fails[1:]
		if err != nil {
			return 0, 0, err
		}
	}
	var at []time.Time
	for _, s := range snaps {
		at = append(at, s.at)
	}
	f.got = append(f.got, at)
	return 10 * len(snaps), 100, nil
}

// interval returns interval k of 1 s, with n requests.
func interval(k int, n int64) report.Interval {
	iv := report.Interval{Start: time.Unix(int64(1000+k), 0), Length: time.Second}
	iv.Requests = n
	return iv
}

func newTestStream(t *testing.T, cfg Config, sinks ...Sink) *Stream {
	t.Helper()
	if cfg.RunID == "" {
		cfg.RunID = "r1"
	}
	if cfg.Targets == nil {
		cfg.Targets = []string{"t"}
	}
	s, err := New(cfg, sinks...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A receiver stuck on the first write: the buffer keeps the newest
// intervals up to its bound and counts the ones it drops; once the
// receiver answers, the first and the kept ones arrive, in order.
func TestBufferBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{gate: make(chan struct{})}
		s := newTestStream(t, Config{Buffer: 3, Timeout: time.Hour}, sink)
		for k := range 8 {
			s.Interval(interval(k, 1))
			synctest.Wait() // the first is in flight before the second comes
		}
		close(sink.gate)
		synctest.Wait()
		e := s.Close()[0]
		got := sink.batches()
		if len(got) != 2 || len(got[0]) != 1 || len(got[1]) != 3 || got[0][0].Unix() != 1001 || got[1][0].Unix() != 1006 {
			t.Errorf("writes %v, want interval 0, then 5, 6 and 7", got)
		}
		want := report.Export{Sink: "fake", URL: "fake://", Run: "r1", Histograms: "native", Intervals: 8,
			Samples: 40, Bytes: 200, Writes: 2, Dropped: 40, DroppedIntervals: 4}
		if e != want {
			t.Errorf("export %+v\nwant   %+v", e, want)
		}
	})
}

// A write that fails is tried again, with the intervals that came
// meanwhile, after a pause that grows; nothing is lost.
func TestRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		sink.setFails(errors.New("503"), errors.New("503"), errors.New("503"))
		s := newTestStream(t, Config{}, sink)
		start := time.Now()
		for k := range 3 {
			s.Interval(interval(k, 1))
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		e := s.Close()[0]
		got := sink.batches()
		if len(got) != 1 || len(got[0]) != 3 {
			t.Errorf("writes %v, want one of the 3 intervals", got)
		}
		if e.Failed != 3 || e.Dropped != 0 || e.Samples != 30 || e.LastError != "503" {
			t.Errorf("export %+v, want 3 failed writes, 30 samples, none dropped", e)
		}
		if took := time.Since(start); took < 250*time.Millisecond+500*time.Millisecond+1000*time.Millisecond {
			t.Errorf("three retries took %v, want pauses of 250 ms, 500 ms and 1 s", took)
		}
	})
}

// A write the receiver refuses for good is dropped, and the next goes on.
func TestPermanentFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		sink.setFails(errPermanent)
		s := newTestStream(t, Config{}, sink)
		s.Interval(interval(0, 1))
		synctest.Wait()
		s.Interval(interval(1, 1))
		synctest.Wait()
		e := s.Close()[0]
		if got := sink.batches(); len(got) != 1 || got[0][0].Unix() != 1002 {
			t.Errorf("writes %v, want interval 1 alone", got)
		}
		if e.Dropped != 10 || e.DroppedIntervals != 1 || e.Failed != 1 || e.Samples != 10 {
			t.Errorf("export %+v, want interval 0 dropped and interval 1 sent", e)
		}
	})
}

// Close gives a receiver that does not answer one more try, within the
// timeout, and counts what it could not deliver.
func TestCloseTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{gate: make(chan struct{})} // never opened
		s := newTestStream(t, Config{Timeout: 2 * time.Second}, sink)
		for k := range 5 {
			s.Interval(interval(k, 1))
		}
		start := time.Now()
		e := s.Close()[0]
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Close took %v, want at most the timeout", took)
		}
		if e.Dropped != 50 || e.DroppedIntervals != 5 || e.Samples != 0 || e.LastError != "no answer within 2s" {
			t.Errorf("export %+v, want all 5 intervals dropped after a deadline", e)
		}
	})
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tags [][2]string
		err  string
	}{
		{[][2]string{{"env", "ci"}, {"Region", "eu"}}, ""},
		{[][2]string{{"run", "x"}}, "gather sets that label itself"},
		{[][2]string{{"__name__", "x"}}, "Prometheus's own"},
		{[][2]string{{"1a", "x"}}, "want letters"},
		{[][2]string{{"a-b", "x"}}, "want letters"},
		{[][2]string{{"env", "a"}, {"env", "b"}}, "given twice"},
	} {
		s, err := New(Config{RunID: "r", Targets: []string{"t"}, Tags: tc.tags})
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("tags %v: error %v, want %q", tc.tags, err, tc.err)
		}
		if s != nil {
			s.Close()
		}
	}
	if _, err := New(Config{Targets: []string{"t"}}); err == nil {
		t.Error("a stream without a run id")
	}
	if _, err := New(Config{RunID: "r"}); err == nil {
		t.Error("a stream without target names")
	}
}

// A run of several targets sends each target's counters, cumulative,
// under its name; a run of one target sends its totals under its one name.
func TestPerTargetSeries(t *testing.T) {
	t.Parallel()
	sink, err := Prometheus("http://127.0.0.1:9/api/v1/write", HistogramsNative)
	if err != nil {
		t.Fatal(err)
	}
	p := sink.(*prometheusSink)
	p.start([]label{{"run", "r1"}}, "r1", []string{"login", "search"})
	var acc accumulator
	iv0, iv1 := interval(0, 5), interval(1, 5)
	iv0.Targets = []report.TargetCounts{{Requests: 3, Errors: 1}, {Requests: 2, Non2xx: 1}}
	iv1.Targets = []report.TargetCounts{{Requests: 1}, {Requests: 4, Errors: 2, Non2xx: 2}}
	var req prompb.WriteRequest
	if err := req.Unmarshal(writeRequest(nil, p.request([]*snapshot{acc.fold(iv0), acc.fold(iv1)}, true))); err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, ts := range req.Timeseries {
		var name, target string
		for _, l := range ts.Labels {
			switch l.Name {
			case "__name__":
				name = l.Value
			case "target":
				target = l.Value
			}
		}
		if target == "" {
			continue
		}
		for _, s := range ts.Samples {
			got[name+"/"+target] = append(got[name+"/"+target], s.Value)
		}
	}
	want := map[string][]float64{
		"gather_requests_by_target_total/login":  {0, 3, 4},
		"gather_requests_by_target_total/search": {0, 2, 6},
		"gather_errors_by_target_total/login":    {0, 1, 1},
		"gather_errors_by_target_total/search":   {0, 0, 2},
		"gather_non2xx_by_target_total/login":    {0, 0, 0},
		"gather_non2xx_by_target_total/search":   {0, 1, 3},
	}
	if len(got) != len(want) {
		t.Errorf("per-target series %v", got)
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}

	one := sink.(*prometheusSink)
	one.start(nil, "r2", []string{"http://h/"})
	var acc1 accumulator
	single := interval(0, 7)
	single.Errors, single.Status[2], single.Status[5] = 2, 4, 1
	s := acc1.fold(single)
	if s.targets[0] != (report.TargetCounts{Requests: 7, Errors: 2, Non2xx: 1}) {
		t.Errorf("the one target's counters %+v, want the totals", s.targets[0])
	}
}

// The rates are over the part of each interval the run went on for: a
// run's first and last intervals are partial, and a steady 100 requests
// a second (1000 due) read as that in them too, not lower.
func TestRatesOfPartialIntervals(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	start := time.Date(2026, 1, 2, 3, 4, 5, 500_000_000, time.UTC) // half a second in
	rec := report.NewRecorder()
	ivs := report.NewIntervals(start, time.Second, rec)
	ivs.CountDue(func(from, to time.Time) int64 { return int64(to.Sub(from) / ms) })
	answer := func(at time.Duration, n int) {
		for range n {
			ivs.Cut(start.Add(at))
			rec.Record(report.Sample{Response: ms, Service: ms, Status: 200, End: start.Add(at)})
		}
	}
	answer(100*ms, 50)   // the first interval, 0.5 s of the run
	answer(1000*ms, 100) // the second, whole
	answer(1600*ms, 20)  // the last, 0.2 s of the run
	if n := ivs.Finish(start.Add(1700*ms), 0).Len(); n != 3 {
		t.Fatalf("%d intervals, want 3", n)
	}
	value := func(name string, s *snapshot) float64 {
		for _, m := range allMetrics() {
			if m.name == name {
				return m.value(s)
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	var acc accumulator
	for i := range 3 {
		s := acc.fold(ivs.Closed(i))
		if got := value("gather_request_rate", s); math.Abs(got-100) > 1e-9 {
			t.Errorf("interval %d: gather_request_rate %v, want 100", i, got)
		}
		if got := value("gather_target_rate", s); math.Abs(got-1000) > 1e-9 {
			t.Errorf("interval %d: gather_target_rate %v, want 1000", i, got)
		}
	}
}
