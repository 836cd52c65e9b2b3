package report

import (
	"slices"
	"testing"
	"time"
)

func TestDistribution(t *testing.T) {
	t.Parallel()
	var samples []Sample
	for i := 1; i <= 1000; i++ { // 1 ms to 1000 ms, once each
		d := time.Duration(i) * time.Millisecond
		samples = append(samples, Sample{Response: d, Service: d / 2, Status: 200})
	}
	s := summaryOf(samples, time.Second)
	got := s.ResponsePercentiles([]float64{99, 0, 50, 100})
	want := []time.Duration{990 * time.Millisecond, time.Millisecond, 500 * time.Millisecond, time.Second}
	for i := range got {
		if d := got[i] - want[i]; d < 0 || d > want[i]/1000+time.Microsecond {
			t.Errorf("percentile %d: %v, want %v within 0.1%%", i, got[i], want[i])
		}
	}
	if got := s.ServicePercentiles([]float64{50}); got[0] < 249*time.Millisecond || got[0] > 251*time.Millisecond {
		t.Errorf("service p50 %v", got[0])
	}
	l := s.Response()
	counts := s.ResponseCounts([]time.Duration{l.Min, 100500 * time.Microsecond, 500500 * time.Microsecond, l.Max})
	if want := []int64{100, 400, 500}; !slices.Equal(counts, want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
	if sc := s.ServiceCounts([]time.Duration{0, time.Hour}); sc[0] != 1000 {
		t.Errorf("service counts %v", sc)
	}
	empty := summaryOf(nil, time.Second)
	if c := empty.ResponseCounts([]time.Duration{0, time.Second}); !slices.Equal(c, []int64{0}) {
		t.Errorf("empty counts %v", c)
	}
	if p := empty.ResponsePercentiles([]float64{50}); p[0] != 0 {
		t.Errorf("empty p50 %v", p)
	}
	row := targetSummary(1, 300, testTargetNames).TargetNamed("login")
	if c := row.ResponseCounts([]time.Duration{0, time.Hour}); c[0] != row.Response().Count {
		t.Errorf("target counts %v of %d", c, row.Response().Count)
	}
	if p := row.ResponsePercentiles([]float64{50}); p[0] != row.Response().P50 {
		t.Errorf("target p50 %v, want %v", p[0], row.Response().P50)
	}
}
