package report

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// runStart is a run's start that is not on a second: its first interval
// is partial.
var runStart = time.Date(2026, 1, 2, 3, 4, 5, 300_000_000, time.UTC)

// withEnds gives the samples end times spread over span after start, in
// order.
func withEnds(samples []Sample, start time.Time, span time.Duration) []Sample {
	out := slices.Clone(samples)
	for i := range out {
		out[i].End = start.Add(span * time.Duration(i) / time.Duration(len(out)))
	}
	return out
}

// runOf records samples, in End order, into one recorder of a run that
// started at start, cutting intervals of length as the clock (the samples'
// ends) goes, as loadgen does; it returns the run's summary.
func runOf(t testing.TB, start time.Time, length time.Duration, samples []Sample, dropped int64) *Summary {
	t.Helper()
	r := NewRecorder()
	iv := NewIntervals(start, length, r)
	end := start
	for _, s := range samples {
		iv.Cut(s.End)
		r.Record(s)
		if s.End.After(end) {
			end = s.End
		}
	}
	sum := Merge(r)
	sum.Target, sum.Method, sum.Connections, sum.Elapsed = "http://127.0.0.1:5000/", "GET", 10, end.Sub(start)
	sum.Start, sum.Dropped = start, dropped
	sum.Series = iv.Finish(end, dropped)
	return sum
}

func counts(s *Series) []int64 {
	var n []int64
	for i := range s.Len() {
		n = append(n, s.At(i).Requests)
	}
	return n
}

func TestIntervalsPlaceSamples(t *testing.T) {
	t.Parallel()
	ok := func(at time.Duration, status int) Sample {
		return Sample{Response: at / 100, Service: at / 100, Status: status, Bytes: 10, End: runStart.Add(at)}
	}
	ms := time.Millisecond
	// Boundaries fall at 0.7 s, 1.7 s, 2.7 s after the start.
	samples := []Sample{
		ok(100*ms, 200), ok(699*ms, 200), // interval 0 (partial)
		ok(700*ms, 200), ok(1500*ms, 503), // interval 1
		// interval 2 is empty
		{Err: ErrTimeout, Late: true, End: runStart.Add(3200 * ms)}, // interval 3
	}
	r := NewRecorder()
	iv := NewIntervals(runStart, time.Second, r)
	iv.CountDue(func(from, to time.Time) int64 { return int64(to.Sub(from) / (10 * ms)) })
	var closed []int
	for _, s := range samples {
		closed = append(closed, iv.Cut(s.End))
		r.Record(s)
	}
	// An interval closes a grace (100 ms) after it ends.
	if want := []int{0, 0, 0, 1, 3}; !slices.Equal(closed, want) {
		t.Errorf("intervals closed before each sample: %v, want %v", closed, want)
	}
	s := iv.Finish(runStart.Add(3300*ms), 7)
	if got, want := counts(s), []int64{2, 2, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("requests per interval %v, want %v", got, want)
	}
	first := s.At(0)
	if want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC); !first.Start.Equal(want) || first.Length != time.Second {
		t.Errorf("first interval starts at %v, length %v; want %v, 1s", first.Start, first.Length, want)
	}
	// Interval percentiles are exact to 1%.
	if iv1 := s.At(1); iv1.Status[2] != 1 || iv1.Status[5] != 1 || iv1.Response().Count != 2 || iv1.Response().Max < 15*ms || iv1.Response().Max > 15150*time.Microsecond {
		t.Errorf("interval 1: status %v, response %+v", iv1.Status, iv1.Response())
	}
	last := s.At(3)
	if last.Errors != 1 || last.ErrorKinds[ErrTimeout] != 1 || last.Late != 1 || last.Dropped != 7 || last.Response().Count != 0 {
		t.Errorf("last interval: %+v", last.IntervalCounts)
	}
	// Due counts 10 ms steps of the part of each interval the run covered.
	var due []int64
	for iv := range s.All() {
		due = append(due, iv.Due)
	}
	if want := []int64{70, 100, 100, 60}; !slices.Equal(due, want) {
		t.Errorf("due per interval %v, want %v", due, want)
	}
	if tot := s.Totals(); tot.Requests != 5 || tot.Errors != 1 || tot.Bytes != 40 || tot.Dropped != 7 {
		t.Errorf("totals %+v", tot)
	}
}

// A sample recorded after its interval closed is counted in the one
// going on rather than lost.
func TestIntervalsLateSample(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	iv := NewIntervals(runStart, time.Second, r)
	iv.Cut(runStart.Add(900 * time.Millisecond)) // interval 0 has closed
	r.Record(Sample{Status: 200, End: runStart.Add(100 * time.Millisecond)})
	r.Record(Sample{Status: 200}) // no End: the interval going on
	s := iv.Finish(runStart.Add(time.Second), 0)
	if got, want := counts(s), []int64{0, 2}; !slices.Equal(got, want) {
		t.Errorf("requests per interval %v, want %v", got, want)
	}
}

// Recorders write while the run's goroutine cuts 2 ms intervals; every
// sample lands in exactly one interval. Run it with -race.
func TestIntervalsConcurrent(t *testing.T) {
	t.Parallel()
	const writers, each = 4, 20000
	recs := make([]*Recorder, writers)
	for i := range recs {
		recs[i] = NewRecorder()
	}
	start := time.Now()
	iv := NewIntervals(start, 2*time.Millisecond, recs...)
	var wg sync.WaitGroup
	for _, r := range recs {
		wg.Go(func() {
			for i := range each {
				r.Record(Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 200 + i%2, End: time.Now()})
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			iv.Cut(time.Now())
			time.Sleep(100 * time.Microsecond)
		}
	}
	s := iv.Finish(time.Now(), 0)
	tot := s.Totals()
	var resp int64
	for iv := range s.All() {
		resp += iv.Response().Count
	}
	if tot.Requests != writers*each || tot.Status[2] != writers*each || resp != writers*each {
		t.Errorf("series holds %d requests (%d 2xx, %d latencies), want %d", tot.Requests, tot.Status[2], resp, writers*each)
	}
	if s.Len() < 2 {
		t.Errorf("%d intervals: the test did not cut any", s.Len())
	}
}

func TestRecordWithSeriesDoesNotAllocate(t *testing.T) {
	r := NewRecorder()
	iv := NewIntervals(runStart, time.Second, r)
	now := runStart
	allocs := testing.AllocsPerRun(10000, func() {
		now = now.Add(time.Millisecond)
		r.Record(Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 200, End: now})
		r.Record(Sample{Err: ErrReset, End: now})
	})
	if allocs != 0 {
		t.Errorf("Record allocates %v times per call, want 0", allocs)
	}
	_ = iv
}

// sameSeries fails unless a and b hold the same intervals: starts,
// counters and histograms.
func sameSeries(t *testing.T, a, b *Series) {
	t.Helper()
	if a.Interval() != b.Interval() || a.Len() != b.Len() {
		t.Fatalf("series of %d × %v and %d × %v", a.Len(), a.Interval(), b.Len(), b.Interval())
	}
	for i := range a.Len() {
		x, y := a.At(i), b.At(i)
		if !x.Start.Equal(y.Start) || x.IntervalCounts != y.IntervalCounts ||
			!x.response.Equals(y.response) || !x.service.Equals(y.service) {
			t.Errorf("interval %d differs:\n %v %+v %+v\n %v %+v %+v", i,
				x.Start, x.IntervalCounts, x.Response(), y.Start, y.IntervalCounts, y.Response())
		}
	}
}

// Two runs on two machines over the same seconds merge, saved and
// loaded, into the series of one run that recorded both.
func TestSeriesMergeExactly(t *testing.T) {
	t.Parallel()
	all := withEnds(randomSamples(7, 30000), runStart, 10*time.Second)
	var a, b []Sample
	for i, s := range all {
		if i%3 == 0 {
			a = append(a, s)
		} else {
			b = append(b, s)
		}
	}
	one := runOf(t, runStart, time.Second, all, 12)
	ra := roundTrip(t, runOf(t, runStart, time.Second, a, 5))
	rb := roundTrip(t, runOf(t, runStart, time.Second, b, 7))
	if err := ra.Add(rb); err != nil {
		t.Fatal(err)
	}
	sameSeries(t, ra.Series, one.Series)
	if tot := ra.Series.Totals(); tot.Requests != ra.Requests || tot.Errors != ra.Errors ||
		tot.Late != ra.Late || tot.Bytes != ra.Bytes || tot.Dropped != 12 || ra.Dropped != 12 {
		t.Errorf("series totals %+v, run: %d requests, %d errors, %d late, %d bytes, %d dropped",
			tot, ra.Requests, ra.Errors, ra.Late, ra.Bytes, ra.Dropped)
	}
	if !ra.Start.Equal(runStart) {
		t.Errorf("merged start %v, want %v", ra.Start, runStart)
	}
	sameSeries(t, roundTrip(t, ra).Series, one.Series)

	// A machine that started later adds to the intervals it shares.
	late := roundTrip(t, runOf(t, runStart.Add(5*time.Second), time.Second, withEnds(a, runStart.Add(5*time.Second), 10*time.Second), 0))
	merged := roundTrip(t, one)
	if err := merged.Add(late); err != nil {
		t.Fatal(err)
	}
	if merged.Series.Len() != 16 || merged.Series.Totals().Requests != merged.Requests {
		t.Errorf("merged series of %d intervals holding %d requests; want 16 holding %d",
			merged.Series.Len(), merged.Series.Totals().Requests, merged.Requests)
	}
}

// Series of 1 s and 2 s intervals merge at 2 s, exactly; 1 s and 1.5 s
// do not merge.
func TestSeriesMergeIntervals(t *testing.T) {
	t.Parallel()
	all := withEnds(randomSamples(8, 5000), runStart, 9*time.Second)
	a, b := all[:2000], all[2000:]
	one := runOf(t, runStart, 2*time.Second, all, 0)
	fine := runOf(t, runStart, time.Second, a, 0)
	if err := fine.Add(runOf(t, runStart, 2*time.Second, b, 0)); err != nil {
		t.Fatal(err)
	}
	sameSeries(t, fine.Series, one.Series)

	// 1 s and 1.5 s do not divide: MergeCheck refuses them, and Add (under
	// --force) keeps the totals and drops the series, saying why.
	x := runOf(t, runStart, time.Second, a, 0)
	y := runOf(t, runStart, 1500*time.Millisecond, b, 0)
	var check MergeCheck
	check.Check("x.json", x)
	if d := check.Check("y.json", y); len(d) != 1 || !strings.Contains(d[0], "x.json and y.json: series of 1s and 1.5s intervals cannot be merged") {
		t.Errorf("MergeCheck: %q, want one line naming both files and intervals", d)
	}
	if err := x.Add(y); err != nil {
		t.Fatal(err)
	}
	if x.Requests != one.Requests || x.Series != nil || len(x.MergeWarnings) != 1 || !strings.Contains(x.MergeWarnings[0], "1s and 1.5s intervals") {
		t.Errorf("forced merge: %d requests (want %d), series %v, warnings %q", x.Requests, one.Requests, x.Series, x.MergeWarnings)
	}
	// The check follows the merge's interval: after 1 s and 2 s (merged
	// at 2 s), 3 s divides neither.
	var c2 MergeCheck
	c2.Check("a", runOf(t, runStart, time.Second, a, 0))
	if d := c2.Check("b", runOf(t, runStart, 2*time.Second, b, 0)); d != nil {
		t.Errorf("1 s and 2 s: %q", d)
	}
	if d := c2.Check("c", runOf(t, runStart, 3*time.Second, b, 0)); len(d) == 0 || !strings.Contains(d[0], "b and c: series of 2s and 3s") {
		t.Errorf("2 s and 3 s: %q", d)
	}
}

// A run saved by an older gather has no series: merged with one that
// has, the result has none and says why.
func TestSeriesMergeWithVersion1(t *testing.T) {
	t.Parallel()
	old := roundTrip(t, summaryOf(randomSamples(9, 100), time.Second))
	if old.Series != nil {
		t.Fatal("a summary without a series came back with one")
	}
	s := runOf(t, runStart, time.Second, withEnds(randomSamples(10, 100), runStart, time.Second), 0)
	if err := s.Add(old); err != nil {
		t.Fatal(err)
	}
	if s.Series != nil || len(s.MergeWarnings) != 1 || !strings.Contains(s.MergeWarnings[0], "no series") {
		t.Errorf("series %v, merge warnings %q", s.Series, s.MergeWarnings)
	}
}

func TestLoadVersion1(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := summaryOf(randomSamples(11, 500), time.Second)
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	v1 := strings.Replace(buf.String(), `"version": 2`, `"version": 1`, 1)
	got, err := Load(strings.NewReader(v1))
	if err != nil {
		t.Fatalf("version 1: %v", err)
	}
	if got.Requests != s.Requests || got.Response() != s.Response() || got.Series != nil || !got.Start.IsZero() {
		t.Errorf("version 1 loaded as %d requests, %+v, series %v, start %v", got.Requests, got.Response(), got.Series, got.Start)
	}
}

func TestLoadRejectsSeries(t *testing.T) {
	t.Parallel()
	var good bytes.Buffer
	s := runOf(t, runStart, time.Second, withEnds(randomSamples(12, 300), runStart, 3*time.Second), 2)
	if err := s.Save(&good); err != nil {
		t.Fatal(err)
	}
	valid := good.String()
	if _, err := Load(strings.NewReader(valid)); err != nil {
		t.Fatalf("valid input: %v", err)
	}
	first := `"start_unix_ns": 1767323045000000000`
	tests := []struct {
		name, input, want string
	}{
		{"off a boundary", strings.Replace(valid, first, `"start_unix_ns": 1767323045000000001`, 1), "boundary"},
		{"out of order", strings.Replace(valid, first, `"start_unix_ns": 1767323047000000000`, 1), "not after"},
		{"counts disagree", strings.Replace(valid, `"requests": `, `"requests": 1`, 2), "requests"},
		{"sums disagree", strings.Replace(valid, `"dropped": 2,`, `"dropped": 3,`, 1), "adds up"},
		{"short interval", strings.Replace(valid, `"interval_ns": 1000000000`, `"interval_ns": 1000`, 1), "shorter"},
		{"run histogram in a series", strings.Replace(valid, `"series": [`, `"series": [{"start_unix_ns": 0, "requests": 1, "status": {"2xx": 1}, "response_histogram": "`+strings.Split(strings.Split(valid, `"response_histogram": "`)[1], `"`)[0]+`"},`, 1), "digits"},
		{"unknown class", strings.Replace(valid, `"2xx"`, `"2xy"`, 1), "status class"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.input == valid {
				t.Fatal("the test case did not change the valid input")
			}
			_, err := Load(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestSeriesJSON(t *testing.T) {
	t.Parallel()
	s := runOf(t, runStart, time.Second, withEnds(randomSamples(13, 1000), runStart, 2500*time.Millisecond), 0)
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var r struct {
		StartUnixS float64 `json:"start_unix_s"`
		IntervalS  float64 `json:"interval_s"`
		Series     []struct {
			StartUnixS float64          `json:"start_unix_s"`
			Requests   int64            `json:"requests"`
			Status     map[string]int64 `json:"status"`
			Response   struct {
				Count int64   `json:"count"`
				P99MS float64 `json:"p99_ms"`
			} `json:"response"`
		} `json:"series"`
	}
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.IntervalS != 1 || r.StartUnixS != 1767323045.3 || len(r.Series) != 3 {
		t.Fatalf("interval %v, start %v, %d intervals", r.IntervalS, r.StartUnixS, len(r.Series))
	}
	var n int64
	for i, iv := range r.Series {
		n += iv.Requests
		if iv.StartUnixS != 1767323045+float64(i) || len(iv.Status) != NumStatusClasses {
			t.Errorf("interval %d: start %v, status %v", i, iv.StartUnixS, iv.Status)
		}
		if want := s.Series.At(i).Response(); iv.Response.Count != want.Count || iv.Response.P99MS != msOf(want.P99) {
			t.Errorf("interval %d: response %+v, want %+v", i, iv.Response, want)
		}
	}
	if n != s.Requests {
		t.Errorf("series holds %d requests, the run %d", n, s.Requests)
	}
}

// BenchmarkSeriesHour measures the memory of an hour's series at 1 s
// intervals, each of 20,000 responses spread as a busy server's are
// (log-normal around 0.6 ms, 1% between 1 and 50 ms). The bound
// is 16 MiB. MiB/hour is the series' own accounting (MemorySize);
// heap-MiB/hour is what the live heap grew by, measured after a GC with
// the series (and its recorder, 0.4 MiB) still held: the bound as the
// process sees it.
func BenchmarkSeriesHour(b *testing.B) {
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rng := rand.New(rand.NewPCG(1, 2))
		r := NewRecorder()
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		iv := NewIntervals(start, time.Second, r)
		const perInterval = 20000
		for i := range 3600 * perInterval {
			at := start.Add(time.Duration(i) * time.Second / perInterval)
			if i%perInterval == 0 {
				iv.Cut(at)
			}
			v := time.Duration(600 * math.Exp(0.6*rng.NormFloat64()) * float64(time.Microsecond))
			if rng.IntN(100) == 0 {
				v = time.Millisecond + time.Duration(rng.Int64N(int64(49*time.Millisecond)))
			}
			r.Record(Sample{Response: v + time.Duration(rng.IntN(200))*time.Microsecond, Service: v, Status: 200, End: at})
		}
		s := iv.Finish(start.Add(time.Hour), 0)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(r)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MiB/hour")
		b.ReportMetric(float64(s.MemorySize())/(1<<20), "MiB/hour")
		b.ReportMetric(float64(s.Len()), "intervals")
	}
}

// The interval log reads back with hdrhistogram-go's own reader: one
// response and one service histogram per interval, at the interval's
// absolute time.
func TestWriteIntervalLog(t *testing.T) {
	t.Parallel()
	s := runOf(t, runStart, time.Second, withEnds(randomSamples(14, 2000), runStart, 3500*time.Millisecond), 0)
	var buf bytes.Buffer
	if err := s.WriteIntervalLog(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "#[StartTime: 1767323045 ") || !strings.Contains(buf.String(), "values in microseconds") {
		t.Errorf("log header:\n%s", buf.String()[:min(buf.Len(), 600)])
	}
	lr := hdrhistogram.NewHistogramLogReader(&buf)
	for i := 0; ; i++ {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			if i != 2*s.Series.Len() {
				t.Errorf("%d histograms in the log, want %d", i, 2*s.Series.Len())
			}
			break
		}
		iv := s.Series.At(i / 2)
		want, tag := iv.response, ""
		if i%2 == 1 {
			want, tag = iv.service, "service"
		}
		if h.Tag() != tag || h.TotalCount() != want.TotalCount() || h.Max() != want.Max() ||
			h.StartTimeMs() != iv.Start.UnixMilli() || h.EndTimeMs() != iv.End().UnixMilli() {
			t.Errorf("histogram %d: tag %q, %d values, max %d, %d-%d ms; want %q, %d, %d, %d-%d",
				i, h.Tag(), h.TotalCount(), h.Max(), h.StartTimeMs(), h.EndTimeMs(),
				tag, want.TotalCount(), want.Max(), iv.Start.UnixMilli(), iv.End().UnixMilli())
		}
	}
	if err := summaryOf(nil, time.Second).WriteIntervalLog(&buf); err == nil {
		t.Error("a run without a series wrote an interval log")
	}
}

// BenchmarkRecordSeries is BenchmarkRecord in a run with a series, the
// clock moving 10 µs per request and intervals cut as it goes.
func BenchmarkRecordSeries(b *testing.B) {
	b.Run("cut", func(b *testing.B) { benchmarkRecordSeries(b, true) })
	b.Run("record", func(b *testing.B) { benchmarkRecordSeries(b, false) })
}

func benchmarkRecordSeries(b *testing.B, cut bool) {
	r := NewRecorder()
	iv := NewIntervals(runStart, time.Second, r)
	samples := randomSamples(1, 1024)
	now := runStart
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := samples[i&1023]
		now = now.Add(10 * time.Microsecond)
		s.End = now
		r.Record(s)
		if cut && i&0xffff == 0 {
			iv.Cut(now)
		}
		i++
	}
}

// Runs that went one after the other merge with a warning: their summed
// rate is no rate the server saw. Runs that overlapped merge without one.
func TestMergeWarnsOfRunsApart(t *testing.T) {
	t.Parallel()
	const w = "did not run at the same time"
	samples := randomSamples(12, 200)
	a := runOf(t, runStart, time.Second, withEnds(samples, runStart, time.Second), 0)
	together := runOf(t, runStart.Add(300*time.Millisecond), time.Second, withEnds(samples, runStart.Add(300*time.Millisecond), time.Second), 0)
	if err := a.Add(together); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(a.MergeWarnings, func(s string) bool { return strings.Contains(s, w) }) {
		t.Errorf("overlapping runs: warnings %q", a.MergeWarnings)
	}
	later := runStart.Add(5 * time.Second)
	apart := runOf(t, later, time.Second, withEnds(samples, later, time.Second), 0)
	if err := a.Add(apart); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(a.MergeWarnings, func(s string) bool { return strings.Contains(s, w) }) {
		t.Errorf("runs 5 s apart: warnings %q, want one saying they did not run at the same time", a.MergeWarnings)
	}
}
