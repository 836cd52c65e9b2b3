package loadgen

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// The series of an open-model run at 100 req/s against a server that
// stalls for the third second: the stall shows in the interval that the
// held requests ended in, and every interval reaches OnInterval, in
// order, equal to the series the summary holds.
func TestRunSeries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stall := func(since time.Duration) time.Duration {
			if since >= 2*time.Second && since < 3*time.Second {
				return 3*time.Second - since
			}
			return time.Millisecond
		}
		var got []report.Interval
		p := fakePlan(Plan{Connections: 10, Rate: 100, Duration: 5 * time.Second,
			OnInterval: func(iv report.Interval) { got = append(got, iv) }}, stall)
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Series == nil || s.Series.Interval() != time.Second {
			t.Fatalf("series %v", s.Series)
		}
		// Fake time starts on a second: five whole intervals, the last
		// response ending at 4.991 s. The 100 requests due during the
		// stall end at 3 s, with the 100 due in the fourth second. The run
		// ends at the schedule's end, 5 s, which in fake time is an
		// interval's bound: a sixth interval opens there, empty.
		var n []int64
		for iv := range s.Series.All() {
			n = append(n, iv.Requests)
		}
		t.Logf("requests per interval %v", n)
		if len(n) == 6 && n[5] == 0 && s.Elapsed == 5*time.Second {
			n = n[:5]
		}
		if len(n) != 5 || n[0] != 100 || n[1] != 100 || n[2] > 10 || n[3] < 180 || n[4] != 100 {
			t.Errorf("requests per interval %v, want 100, 100, few, about 200, 100", n)
		}
		if tot := s.Series.Totals(); tot.Requests != s.Requests || tot.Late != s.Late || tot.Bytes != s.Bytes || tot.Errors != s.Errors {
			t.Errorf("series totals %+v, run %d requests, %d late", tot, s.Requests, s.Late)
		}
		stalled := s.Series.At(3)
		if stalled.Late < 85 || stalled.Response().P99 < 900*time.Millisecond {
			t.Errorf("interval 3: %d late, response p99 %v; want about 90 and 1 s", stalled.Late, stalled.Response().P99)
		}
		if p99 := s.Series.At(0).Response().P99; p99 > 2*time.Millisecond {
			t.Errorf("interval 0: response p99 %v, want 1 ms", p99)
		}
		if len(got) != s.Series.Len() {
			t.Fatalf("OnInterval got %d intervals, the series has %d", len(got), s.Series.Len())
		}
		for i, iv := range got {
			want := s.Series.At(i)
			if !iv.Start.Equal(want.Start) || iv.IntervalCounts != want.IntervalCounts || iv.Response() != want.Response() {
				t.Errorf("interval %d delivered as %v %+v, kept as %v %+v", i, iv.Start, iv.IntervalCounts, want.Start, want.IntervalCounts)
			}
		}
		if !s.Start.Equal(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("start %v, want the fake clock's", s.Start)
		}
	})
}

// The event loops record the series too.
func TestLoopSeries(t *testing.T) {
	t.Parallel()
	if !loopsSupported {
		t.Skip("no event loops on this system")
	}
	srv := newRawServer(t, quiet(helloResponse))
	s, err := Run(t.Context(), &Plan{
		URL:         mustURL(t, "http://"+srv.addr()+"/"),
		Connections: 4,
		Duration:    500 * time.Millisecond,
		Interval:    100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// 500 ms starting inside an interval spans 6; a busy machine may
	// take longer to finish the last requests.
	if s.Series == nil || s.Series.Len() < 5 || s.Series.Len() > 50 || s.Series.Interval() != 100*time.Millisecond {
		t.Fatalf("series of %d intervals, want 5 or more of 100 ms", s.Series.Len())
	}
	if tot := s.Series.Totals(); tot.Requests != s.Requests || tot.Status[2] != s.Status[200] || s.Requests == 0 {
		t.Errorf("series totals %+v, run %d requests", tot, s.Requests)
	}
}
