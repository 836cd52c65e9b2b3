package loadgen

import (
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// A ramp's request i is due where the integral of its rate reaches i:
// for a rate rising by b per second from 0, at sqrt(2i/b).
func TestScheduleDueTimes(t *testing.T) {
	t.Parallel()
	sec := time.Second
	s := newSchedule(&Plan{RateStages: []Stage{
		{Duration: 10 * sec, Target: 1000}, // ramp 0 -> 1000: 5000 requests
		{Duration: 5 * sec, Target: 1000},  // hold: 5000
		{Duration: 2 * sec, Target: 200, Step: true},
		{Duration: 10 * sec, Target: 0}, // ramp down: 1000
	}, Duration: 27 * sec})
	near := func(got, want time.Duration) bool { return (got - want).Abs() <= time.Microsecond }
	for _, i := range []int64{0, 1, 2, 50, 4999} {
		d, ok := s.due(i)
		want := time.Duration(math.Sqrt(2*float64(i)/100) * float64(sec))
		if !ok || !near(d, want) {
			t.Errorf("ramp: request %d due at %v, want %v", i, d, want)
		}
	}
	for i, want := range map[int64]time.Duration{5000: 10 * sec, 7500: 12500 * time.Millisecond, 10000: 15 * sec, 10001: 15*sec + 5*time.Millisecond, 10399: 16995 * time.Millisecond} {
		if d, ok := s.due(i); !ok || !near(d, want) {
			t.Errorf("request %d due at %v, want %v", i, d, want)
		}
	}
	// Ramping down from 200 to 0 over 10 s: request 10400+k is due where
	// 200τ - 10τ² reaches k.
	if d, ok := s.due(10400 + 500); !ok || !near(d, 17*sec+time.Duration((10-math.Sqrt(50))*float64(sec))) {
		t.Errorf("ramp down: request 10900 due at %v", d)
	}
	if _, ok := s.due(11400); ok {
		t.Error("request 11400 is due: the profile makes only 11400 requests")
	}
	// count agrees with due, request by request.
	for _, d := range []time.Duration{0, 1, 300 * time.Millisecond, 10 * sec, 12 * sec, 16 * sec, 20 * sec, 27 * sec, 30 * sec} {
		n := s.count(d)
		if n > 0 {
			if due, ok := s.due(n - 1); !ok || due >= d {
				t.Errorf("count(%v) = %d, but request %d is due at %v", d, n, n-1, due)
			}
		}
		if due, ok := s.due(n); ok && due < d {
			t.Errorf("count(%v) = %d, but request %d is due at %v, before", d, n, n, due)
		}
	}
	if m := s.meanRate(); math.Abs(m-11400.0/27) > 1e-9 {
		t.Errorf("mean rate %v, want %v", m, 11400.0/27)
	}
}

// A ramp of the open model, in fake time: the series' due counts are the
// integral of the rate over each second, and the run sends them, on time.
func TestRampSendsEachInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakePlan(Plan{Connections: 20, RateStages: []Stage{
			{Duration: 4 * time.Second, Target: 1000},
			{Duration: 2 * time.Second, Target: 1000},
		}}, constant(time.Millisecond))
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		var due, done []int64
		for iv := range s.Series.All() {
			due = append(due, iv.Due)
			done = append(done, iv.Requests)
		}
		if want := []int64{125, 375, 625, 875, 1000, 1000, 0}; !slices.Equal(due, want) {
			t.Errorf("due per interval %v, want %v", due, want)
		}
		// A response ends 1 ms after its send: a request sent in the last
		// millisecond of an interval ends in the next.
		for i := range due {
			if d := done[i] - due[i]; d < -1 || d > 1 {
				t.Errorf("interval %d: %d requests ended, %d were due", i, done[i], due[i])
			}
		}
		if s.Requests != 4000 || s.Late != 0 || s.Dropped != 0 {
			t.Errorf("%d requests, %d late, %d dropped; want 4000, 0, 0", s.Requests, s.Late, s.Dropped)
		}
		if s.Profile != "from 0, 4s:1000, 2s:1000" || s.Rate != 4000.0/6 {
			t.Errorf("profile %q, rate %v", s.Profile, s.Rate)
		}
		if len(s.Generator.Warnings) != 0 {
			t.Errorf("warnings %q", s.Generator.Warnings)
		}
	})
}

// The stall: at 1,000 req/s, a server that stalls for 1 s every
// 5 s holds up about 1,000 requests each time: late, with response times
// up to 1 s, so that the p99 is near 1 s.
func TestStallEveryFiveSeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stall := func(since time.Duration) time.Duration {
			if in := since % (5 * time.Second); in >= 3*time.Second && in < 4*time.Second {
				return 4*time.Second - in
			}
			return time.Millisecond
		}
		p := fakePlan(Plan{Connections: 50, Rate: 1000, Duration: 20 * time.Second}, stall)
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Requests != 20000 || s.Dropped != 0 {
			t.Errorf("%d requests, %d dropped; want 20000, 0", s.Requests, s.Dropped)
		}
		if p99 := s.Response().P99; p99 < 900*time.Millisecond || p99 > 1001*time.Millisecond {
			t.Errorf("response p99 %v, want near 1 s", p99)
		}
		// The requests due in the stall that found a connection were not
		// late; the other 950 or so were, each time.
		var late []int64
		for iv := range s.Series.All() {
			if iv.Late > 0 {
				late = append(late, iv.Late)
			}
		}
		if len(late) != 4 || s.Late < 4*900 || s.Late > 4*1000 {
			t.Errorf("late %d in all, per interval with any: %v; want about 950 in each of 4", s.Late, late)
		}
		for i, n := range late {
			if n < 900 || n > 1000 {
				t.Errorf("stall %d: %d late, want about 950", i+1, n)
			}
		}
		if w := strings.Join(s.Generator.Warnings, "\n"); !strings.Contains(w, "the limit was the server") {
			t.Errorf("warnings %q, want the server named", w)
		}
		// Every late one waited for a connection; on fake time the
		// generator itself is never slow.
		if g := s.Generator; g.LateWaiting != s.Late || g.LateGenerator != 0 {
			t.Errorf("late %d: %d waiting for a connection, %d the generator's; want all waiting", s.Late, g.LateWaiting, g.LateGenerator)
		}
	})
}

// -z bounds the open model (issue 17): a server slower than the rate
// keeps every connection busy, the run stops at -z anyway, and what was
// due and never sent is counted as dropped.
func TestDurationBoundsOpenModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakePlan(Plan{Connections: 1, Rate: 2000, Duration: time.Second}, constant(10*time.Millisecond))
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Elapsed > time.Second+10*time.Millisecond {
			t.Errorf("elapsed %v, want -z (1 s) and the last request's 10 ms at most", s.Elapsed)
		}
		if s.Requests != 100 || s.Dropped != 1900 || s.Series.Totals().Dropped != 1900 {
			t.Errorf("%d requests, %d dropped (series %d); want 100 and 1900", s.Requests, s.Dropped, s.Series.Totals().Dropped)
		}
		w := strings.Join(s.Generator.Warnings, "\n")
		for _, want := range []string{"1900 due and never sent", "the limit was the connections", "1 connection carries at most 100 req/s; use more (-c 31 or more)"} {
			if !strings.Contains(w, want) {
				t.Errorf("warnings %q, want %q", w, want)
			}
		}
	})
}

// A ramp of the closed model opens connections as the level rises and
// parks them as it falls; each connection sends as fast as the server
// answers while it is active.
func TestConnectionRamp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakePlan(Plan{ConnectionStages: []Stage{
			{Duration: 4 * time.Second, Target: 4},
			{Duration: 2 * time.Second, Target: 4},
			{Duration: 2 * time.Second, Target: 1, Step: true},
		}}, constant(100*time.Millisecond))
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		var n []int64
		for iv := range s.Series.All() {
			n = append(n, iv.Requests)
		}
		// Connection k joins at k+1 s and does 10 requests a second, each
		// counted when it ends, 100 ms after its send: the one sent in an
		// interval's last 100 ms ends in the next. At the step down to 1
		// the 3 others end the request they are in, then wait.
		if want := []int64{0, 9, 19, 29, 39, 40, 13, 10, 1}; !slices.Equal(n, want) {
			t.Errorf("requests per interval %v, want %v", n, want)
		}
		if s.Connections != 4 || s.Profile != "from 0, 4s:4, 2s:4, 2s:=1" {
			t.Errorf("connections %d, profile %q", s.Connections, s.Profile)
		}
	})
}

func TestProfileChecks(t *testing.T) {
	t.Parallel()
	ramp := []Stage{{Duration: time.Second, Target: 10}}
	tests := []struct {
		plan Plan
		err  string
	}{
		{Plan{Connections: 1, RateStages: ramp}, ""},
		{Plan{ConnectionStages: ramp}, ""},
		{Plan{Connections: 1, RateStages: ramp, Duration: time.Second}, "no duration or request count"},
		{Plan{Connections: 1, RateStages: ramp, Requests: 5}, "no duration or request count"},
		{Plan{Connections: 1, RateStages: ramp, ConnectionStages: ramp}, "together"},
		{Plan{Rate: 5, ConnectionStages: ramp}, "closed model"},
		{Plan{Connections: 1, RateStages: []Stage{{Duration: 0, Target: 5}}}, "stage 1 lasts 0s"},
		{Plan{Connections: 1, RateStages: []Stage{{Duration: time.Second, Target: -1}}}, "target -1"},
		{Plan{Connections: 1, RateStages: []Stage{{Duration: time.Second, Target: 0.5}}}, "no request due"},
		{Plan{ConnectionStages: []Stage{{Duration: time.Second, Target: 1.5}}}, "not a whole number"},
		{Plan{ConnectionStages: []Stage{{Duration: time.Second, Target: 0}}}, "never open a connection"},
		{Plan{Connections: 1, Rate: MaxRate, Duration: time.Second}, ""},
		{Plan{Connections: 1, Rate: 2 * MaxRate, Duration: time.Second}, "rate 2e+08 req/s is above the limit of 1e+08"},
		{Plan{Connections: 1, Rate: 1, RateStages: []Stage{{Duration: time.Second, Target: 1e20}}}, "rate stage 1 has target 1e+20 req/s, above the limit"},
		{Plan{Connections: 1, Rate: MaxRate, Duration: 1e6 * time.Hour}, "more than the limit of 2^53"},
		{Plan{Connections: 1, Rate: 1, Requests: MaxScheduled + 1}, "more than the limit of 2^53"},
		{Plan{Connections: 1, Requests: MaxScheduled + 1}, ""}, // the closed model has no schedule
	}
	for _, tt := range tests {
		p := tt.plan
		p.newDoer = fakePlan(Plan{}, constant(0)).newDoer
		err := p.check()
		if (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%+v: %v, want %q", tt.plan, err, tt.err)
		}
	}
}

// A schedule past the limits that Plan.check enforces (one it never saw)
// still counts what is due, at once: the count was float-to-int64
// overflow (0 dropped for -q 1e20) or a loop that stepped 1e20 times.
func TestScheduleCountPastLimits(t *testing.T) {
	t.Parallel()
	for _, p := range []*Plan{
		{Rate: 1e20, Duration: time.Second},
		{Rate: 1, RateStages: []Stage{{Duration: time.Second, Target: 1e20}}},
		{Rate: 1, RateStages: []Stage{{Duration: time.Second, Target: 1e308}}},
	} {
		done := make(chan int64, 1)
		go func() { done <- newSchedule(p).count(time.Second) }()
		select {
		case n := <-done:
			if n <= 0 || n > MaxScheduled {
				t.Errorf("rate %v, stages %v: %d due in 1 s, want (0, 2^53]", p.Rate, p.RateStages, n)
			}
		case <-time.After(30 * time.Second): // generous: it took microseconds
			t.Fatalf("rate %v, stages %v: count did not return in 30 s", p.Rate, p.RateStages)
		}
	}
}

// The report's warnings for a run that keeps its schedule: none.
func TestOpenModelOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Run(t.Context(), fakePlan(Plan{Connections: 10, Rate: 500, Duration: 2 * time.Second}, constant(2*time.Millisecond)))
		if err != nil {
			t.Fatal(err)
		}
		g := s.Generator
		if s.Requests != 1000 || s.Late != 0 || len(g.Warnings) != 0 || g.AchievedRate != 500 || g.TargetRate != 500 {
			t.Errorf("%d requests, %d late, achieved %v of %v, warnings %q", s.Requests, s.Late, g.AchievedRate, g.TargetRate, g.Warnings)
		}
		var due int64
		for iv := range s.Series.All() {
			due += iv.Due
		}
		if due != 1000 {
			t.Errorf("the series counts %d due, want 1000", due)
		}
	})
}
