package report

import (
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestErrorKindString(t *testing.T) {
	t.Parallel()
	want := map[ErrorKind]string{
		ErrNone: "none", ErrTimeout: "timeout", ErrRefused: "refused", ErrReset: "reset",
		ErrDNS: "dns", ErrTLS: "tls", ErrProtocol: "protocol", ErrOther: "other", 200: "other",
	}
	for k, name := range want {
		if got := k.String(); got != name {
			t.Errorf("ErrorKind(%d).String() = %q, want %q", k, got, name)
		}
	}
}

func TestRecordCounts(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	samples := []Sample{
		{Response: time.Millisecond, Service: time.Millisecond, Status: 200, Bytes: 100},
		{Response: 2 * time.Millisecond, Service: time.Millisecond, Status: 200, Bytes: 100, Late: true},
		{Response: 3 * time.Millisecond, Service: 3 * time.Millisecond, Status: 503, Bytes: 50},
		{Response: time.Second, Service: time.Second, Err: ErrTimeout},
		{Response: time.Microsecond, Service: time.Microsecond, Err: ErrRefused, Late: true},
		{Err: ErrorKind(99)},                     // unknown kinds count as other
		{Response: time.Millisecond, Status: 42}, // odd codes count under 0
		{Response: -time.Second, Status: 204},    // clock trouble is clamped, not dropped
		{Response: 2 * time.Hour, Status: 200},   // beyond the range is clamped
	}
	for _, s := range samples {
		r.Record(s)
	}
	if r.Requests() != 9 || r.Errors() != 3 {
		t.Fatalf("Requests, Errors = %d, %d; want 9, 3", r.Requests(), r.Errors())
	}
	s := Merge(r, nil, NewRecorder())
	check := []struct {
		name      string
		got, want int64
	}{
		{"requests", s.Requests, 9},
		{"errors", s.Errors, 3},
		{"timeouts", s.ErrorKinds[ErrTimeout], 1},
		{"refused", s.ErrorKinds[ErrRefused], 1},
		{"other", s.ErrorKinds[ErrOther], 1},
		{"late", s.Late, 2},
		{"bytes", s.Bytes, 250},
		{"200", s.Status[200], 3},
		{"204", s.Status[204], 1},
		{"503", s.Status[503], 1},
		{"odd", s.Status[0], 1},
		{"status codes", int64(len(s.Status)), 4},
		{"responses", s.Response().Count, 6},
		{"services", s.Service().Count, 6},
		{"runs", int64(s.Runs), 1},
	}
	for _, c := range check {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if got := s.Response().Max; !near(got, time.Hour) {
		t.Errorf("max = %v, want the 1h clamp", got)
	}
	if got := s.Response().Min; got != 0 {
		t.Errorf("min = %v, want the 0 clamp", got)
	}
}

// near reports whether got is want within HdrHistogram's 3-digit precision
// (one part in 1000, plus the 1 µs unit).
func near(got, want time.Duration) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff <= want/1000+time.Microsecond
}

func TestPercentilesOfKnownLatencies(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples func(rec func(time.Duration))
		want    Latency
	}{
		{
			name: "1 to 10000 µs once each",
			samples: func(rec func(time.Duration)) {
				for i := 1; i <= 10000; i++ {
					rec(time.Duration(i) * time.Microsecond)
				}
			},
			want: Latency{Count: 10000, Min: time.Microsecond, Mean: 5000500 * time.Nanosecond,
				P50: 5 * ms, P90: 9 * ms, P95: 9500 * time.Microsecond, P99: 9900 * time.Microsecond,
				P999: 9990 * time.Microsecond, Max: 10 * ms},
		},
		{
			name: "990 at 1 ms, 9 at 100 ms, 1 at 2 s",
			samples: func(rec func(time.Duration)) {
				for range 990 {
					rec(ms)
				}
				for range 9 {
					rec(100 * ms)
				}
				rec(2 * time.Second)
			},
			want: Latency{Count: 1000, Min: ms, Mean: (990*ms + 900*ms + 2000*ms) / 1000,
				P50: ms, P90: ms, P95: ms, P99: ms, P999: 100 * ms, Max: 2 * time.Second},
		},
		{
			name:    "one sample",
			samples: func(rec func(time.Duration)) { rec(1234 * time.Microsecond) },
			want: Latency{Count: 1, Min: 1234 * time.Microsecond, Mean: 1234 * time.Microsecond,
				P50: 1234 * time.Microsecond, P90: 1234 * time.Microsecond, P95: 1234 * time.Microsecond,
				P99: 1234 * time.Microsecond, P999: 1234 * time.Microsecond, Max: 1234 * time.Microsecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRecorder()
			tt.samples(func(d time.Duration) { r.Record(Sample{Response: d, Service: d / 2, Status: 200}) })
			got := Merge(r).Response()
			if got.Count != tt.want.Count {
				t.Errorf("count = %d, want %d", got.Count, tt.want.Count)
			}
			for _, f := range []struct {
				name      string
				got, want time.Duration
			}{
				{"min", got.Min, tt.want.Min}, {"mean", got.Mean, tt.want.Mean},
				{"p50", got.P50, tt.want.P50}, {"p90", got.P90, tt.want.P90},
				{"p95", got.P95, tt.want.P95}, {"p99", got.P99, tt.want.P99},
				{"p99.9", got.P999, tt.want.P999}, {"max", got.Max, tt.want.Max},
			} {
				if !near(f.got, f.want) {
					t.Errorf("%s = %v, want %v within 0.1%%", f.name, f.got, f.want)
				}
			}
		})
	}
}

func TestEmptySummary(t *testing.T) {
	t.Parallel()
	s := Merge()
	if s.Requests != 0 || s.Response() != (Latency{}) || s.RequestsPerSecond() != 0 || s.BytesPerSecond() != 0 {
		t.Errorf("empty summary = %+v, response %+v", s, s.Response())
	}
	if rows := s.ResponseHistogram(10); rows != nil {
		t.Errorf("histogram of nothing = %v, want none", rows)
	}
	var zero Summary
	if err := zero.WriteText(io.Discard); err != nil {
		t.Errorf("WriteText of the zero Summary: %v", err)
	}
	if err := zero.WriteJSON(io.Discard); err != nil {
		t.Errorf("WriteJSON of the zero Summary: %v", err)
	}
}

func TestThroughput(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	for range 500 {
		r.Record(Sample{Status: 200, Bytes: 1000})
	}
	s := Merge(r)
	s.Elapsed = 2 * time.Second
	if got := s.RequestsPerSecond(); got != 250 {
		t.Errorf("RequestsPerSecond = %v, want 250", got)
	}
	if got := s.BytesPerSecond(); got != 250000 {
		t.Errorf("BytesPerSecond = %v, want 250000", got)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	r := NewRecorder()
	samples := []Sample{
		{Response: 3 * time.Millisecond, Service: time.Millisecond, Status: 200, Bytes: 120},
		{Response: 5 * time.Second, Service: 5 * time.Second, Err: ErrTimeout},
		{Response: 2 * time.Hour, Service: -1, Status: 999, Late: true},
	}
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		r.Record(samples[i%len(samples)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Record allocates %v times per call, want 0", allocs)
	}
}

// TestLiveCounters reads Requests and Errors while the owner records, as the
// progress line does; run it with -race.
func TestLiveCounters(t *testing.T) {
	t.Parallel()
	const n = 20000
	r := NewRecorder()
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range n {
			s := Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 200}
			if i%4 == 0 {
				s = Sample{Err: ErrReset}
			}
			r.Record(s)
		}
	})
	var lastReq, lastErr int64
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		e, q := r.Errors(), r.Requests()
		if q < lastReq || e < lastErr || e > q {
			t.Fatalf("progress went from %d/%d to %d/%d (errors/requests)", lastErr, lastReq, e, q)
		}
		lastReq, lastErr = q, e
	}
	wg.Wait()
	if r.Requests() != n || r.Errors() != n/4 {
		t.Errorf("final Requests, Errors = %d, %d; want %d, %d", r.Requests(), r.Errors(), n, n/4)
	}
}

// randomSamples returns n reproducible samples spread over six orders of
// magnitude, with errors, late sends and several status codes.
func randomSamples(seed uint64, n int) []Sample {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]Sample, n)
	codes := []int{200, 200, 200, 201, 404, 500}
	for i := range out {
		service := time.Duration(rng.ExpFloat64()*float64(2*time.Millisecond)) +
			time.Duration(rng.IntN(3))*time.Duration(rng.IntN(2))*time.Second
		s := Sample{
			Service:  service,
			Response: service + time.Duration(rng.IntN(1000))*time.Microsecond,
			Status:   codes[rng.IntN(len(codes))],
			Bytes:    int64(100 + rng.IntN(900)),
			Late:     rng.IntN(10) == 0,
		}
		if rng.IntN(20) == 0 {
			s = Sample{Err: ErrorKind(1 + rng.IntN(int(numErrorKinds)-1)), Response: service}
		}
		out[i] = s
	}
	return out
}

func BenchmarkRecord(b *testing.B) {
	r := NewRecorder()
	samples := randomSamples(1, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Record(samples[i&1023])
		i++
	}
}

func BenchmarkMerge(b *testing.B) {
	recs := make([]*Recorder, 50)
	for i := range recs {
		recs[i] = NewRecorder()
		for _, s := range randomSamples(uint64(i), 1000) {
			recs[i].Record(s)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Merge(recs...)
	}
}

// TestMergeFewAndMany checks that Merge gives the same result whether it
// replays a recorder's first samples or walks its histograms.
func TestMergeFewAndMany(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, firstSamples - 1, firstSamples, firstSamples + 1, 500} {
		samples := randomSamples(uint64(n), n)
		one := NewRecorder()
		var recs []*Recorder
		for i, s := range samples {
			one.Record(s)
			if i%(n/3+1) == 0 {
				recs = append(recs, NewRecorder())
			}
			recs[len(recs)-1].Record(s)
		}
		want, got := Merge(one), Merge(recs...)
		if !got.response.Equals(want.response) || !got.service.Equals(want.service) {
			t.Errorf("%d samples over %d recorders: histograms differ from one recorder's", n, len(recs))
		}
		if got.Requests != want.Requests || got.Errors != want.Errors {
			t.Errorf("%d samples: counts %d/%d, want %d/%d", n, got.Requests, got.Errors, want.Requests, want.Errors)
		}
	}
}
