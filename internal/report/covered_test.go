package report

import (
	"testing"
	"time"
)

// The intervals a run delivers know the part of them it went on for: all
// of the middle ones, the end of the first and the start of the last.
func TestIntervalCovered(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	r := NewRecorder()
	iv := NewIntervals(runStart, time.Second, r) // 0.3 s into its first second
	iv.Cut(runStart.Add(1500 * ms))
	if got := iv.Closed(0).Covered(); got != 700*ms {
		t.Errorf("first interval, while the run goes: covered %v, want 700ms", got)
	}
	s := iv.Finish(runStart.Add(3300*ms), 0) // 0.6 s into its last second
	want := []time.Duration{700 * ms, time.Second, time.Second, 600 * ms}
	if s.Len() != len(want) {
		t.Fatalf("%d intervals, want %d", s.Len(), len(want))
	}
	for i, w := range want {
		if got := iv.Closed(i).Covered(); got != w {
			t.Errorf("interval %d: covered %v, want %v", i, got, w)
		}
		// A series keeps no run bounds: its intervals are whole until
		// Within gives them.
		if got := s.At(i).Covered(); got != time.Second {
			t.Errorf("interval %d of the series: covered %v, want 1s", i, got)
		}
		if got := s.At(i).Within(runStart, runStart.Add(3300*ms)).Covered(); got != w {
			t.Errorf("interval %d of the series, within the run: covered %v, want %v", i, got, w)
		}
	}
}

func TestIntervalCoveredBounds(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	second := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	iv := Interval{Start: second, Length: time.Second}
	for _, c := range []struct {
		name       string
		start, end time.Time
		want       time.Duration
	}{
		{"unknown bounds", time.Time{}, time.Time{}, time.Second},
		{"run around it", second.Add(-time.Hour), second.Add(time.Hour), time.Second},
		{"run began inside", second.Add(250 * ms), time.Time{}, 750 * ms},
		{"run ended inside", second.Add(-time.Second), second.Add(400 * ms), 400 * ms},
		{"run within it", second.Add(200 * ms), second.Add(500 * ms), 300 * ms},
		// A moment of a run in an interval counts as a tenth of it, so
		// that its rate shows no spike.
		{"run began at its very end", second.Add(999 * ms), time.Time{}, 100 * ms},
		{"run ended at its very start", time.Time{}, second.Add(time.Millisecond), 100 * ms},
	} {
		if got := iv.Within(c.start, c.end).Covered(); got != c.want {
			t.Errorf("%s: covered %v, want %v", c.name, got, c.want)
		}
	}
}
