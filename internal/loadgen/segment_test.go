package loadgen

import (
	"context"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/targets"
)

func TestParseSegment(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want Segment
		err  string
	}{
		{"0/1", Segment{0, 1, ""}, ""},
		{"3/4", Segment{3, 4, ""}, ""},
		{"4/4", Segment{}, "i must be from 0 to 3"},
		{"-1/4", Segment{}, "i must be from 0 to 3"},
		{"0/0", Segment{}, "N must be at least 1"},
		{"1", Segment{}, "want i/N"},
		{"a/b", Segment{}, "want i/N"},
		{"1/2/3", Segment{}, "want i/N"},
	} {
		got, err := ParseSegment(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseSegment(%q): error %v, want one saying %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseSegment(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// The N segments' requests are disjoint and their union is exactly the
// run's: every global number below the total is some segment's, once, and
// the shares add up (the remainder going to the first segments).
func TestSegmentSharesPartition(t *testing.T) {
	t.Parallel()
	for _, total := range []int64{0, 1, 2, 3, 7, 10, 100, 1003} {
		for n := 1; n <= 9; n++ {
			seen := make([]int, total)
			var sum int64
			for i := range n {
				g := Segment{Index: i, Count: n}
				share := g.Share(total)
				if want := total/int64(n) + b2i(int64(i) < total%int64(n)); share != want {
					t.Errorf("%d over %d: segment %d has %d, want %d", total, n, i, share, want)
				}
				sum += share
				for k := range share {
					j := g.Global(k)
					if j < 0 || j >= total {
						t.Fatalf("%d over %d: segment %d's request %d is global %d, outside the run", total, n, i, k, j)
					}
					seen[j]++
				}
			}
			if sum != total {
				t.Errorf("%d over %d: shares add up to %d", total, n, sum)
			}
			for j, c := range seen {
				if c != 1 {
					t.Errorf("%d over %d: request %d is in %d segments", total, n, j, c)
				}
			}
		}
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// In the closed model the segments of a run split -n and the connections
// exactly: the merged counts are the single run's.
func TestSegmentsSplitClosedModel(t *testing.T) {
	for _, tt := range []struct {
		conns    int
		requests int64
		n        int
	}{
		{7, 1003, 3}, {4, 4, 4}, {10, 999, 4}, {5, 1000, 1},
	} {
		synctest.Test(t, func(t *testing.T) {
			var requests int64
			conns := 0
			for i := range tt.n {
				p := fakePlan(Plan{Connections: tt.conns, Requests: tt.requests,
					Segment: Segment{Index: i, Count: tt.n, Run: "r"}}, constant(time.Millisecond))
				s, err := Run(t.Context(), p)
				if err != nil {
					t.Fatal(err)
				}
				requests += s.Requests
				conns += s.Connections
				pt := s.Parts[0]
				if pt.Segment != i || pt.Segments != tt.n || pt.Run != "r" || pt.Requests != s.Requests {
					t.Errorf("segment %d/%d: part %+v", i, tt.n, pt)
				}
				if pt.Plan != p.Describe() || !strings.Contains(pt.Plan, "c=") {
					t.Errorf("segment %d: plan %q, want the whole run's %q", i, pt.Plan, p.Describe())
				}
			}
			if requests != tt.requests || conns != tt.conns {
				t.Errorf("-c %d -n %d over %d segments: %d requests on %d connections",
					tt.conns, tt.requests, tt.n, requests, conns)
			}
		})
	}
}

// A segment left without a connection or a request is refused before the
// run, naming the split.
func TestSegmentWithNothingToDo(t *testing.T) {
	t.Parallel()
	for _, p := range []Plan{
		{Connections: 3, Requests: 100, Segment: Segment{Index: 3, Count: 4}},
		{Connections: 8, Requests: 3, Segment: Segment{Index: 3, Count: 4}},
	} {
		q := fakePlan(p, constant(time.Millisecond))
		if _, err := Run(t.Context(), q); err == nil || !strings.Contains(err.Error(), "segment 3/4 without one") {
			t.Errorf("%s: error %v, want one naming segment 3/4", p.Describe(), err)
		}
	}
}

// With StartAt the run waits for it, then counts its duration from it; a
// run that could only start later says how late, and ends with the others.
func TestStartAt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Now().Add(3 * time.Second)
		p := fakePlan(Plan{Connections: 2, Duration: time.Second, StartAt: at}, constant(10*time.Millisecond))
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		pt := s.Parts[0]
		if !pt.Start.Equal(at) || !s.Start.Equal(at) || pt.LateStart() != 0 {
			t.Errorf("started at %v (part %v), late %v; want %v, on time", s.Start, pt.Start, pt.LateStart(), at)
		}
		if !time.Now().Equal(at.Add(time.Second)) {
			t.Errorf("ended %v after the start, want 1s", time.Since(at))
		}
		if s.Requests != 200 || len(s.Generator.Warnings) != 0 {
			t.Errorf("%d requests, warnings %q; want 200 and none", s.Requests, s.Generator.Warnings)
		}

		// Half a second late: half the requests, and a warning.
		at = time.Now().Add(-500 * time.Millisecond)
		p = fakePlan(Plan{Connections: 2, Duration: time.Second, StartAt: at}, constant(10*time.Millisecond))
		if s, err = Run(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		if late := s.Parts[0].LateStart(); late != 500*time.Millisecond {
			t.Errorf("late start %v, want 500ms", late)
		}
		if s.Requests != 100 || len(s.Generator.Warnings) != 1 || !strings.Contains(s.Generator.Warnings[0], "started 500ms after --start-at") {
			t.Errorf("%d requests, warnings %q; want 100 and one about the late start", s.Requests, s.Generator.Warnings)
		}
		if !s.Start.Equal(at) || s.Elapsed < time.Second {
			t.Errorf("start %v, elapsed %v: want the schedule's start and a full second", s.Start, s.Elapsed)
		}
	})
}

// Ctrl-C while waiting for StartAt ends the run at once, interrupted and
// with nothing sent.
func TestStartAtInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		p := fakePlan(Plan{Connections: 2, Duration: time.Second, StartAt: time.Now().Add(time.Hour)}, constant(time.Millisecond))
		s, err := Run(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Requests != 0 || !s.Interrupted || time.Since(p.StartAt) > -time.Hour+2*time.Second {
			t.Errorf("%d requests, interrupted %v, %v before StartAt; want none, true, at once",
				s.Requests, s.Interrupted, -time.Since(p.StartAt))
		}
	})
}

// sendLog records, for each request of the whole run, when it was sent.
type sendLog struct {
	mu   sync.Mutex
	sent map[int64]time.Time
	dup  []int64
}

// recordingPlan is fakePlan whose doers log each request's number in the
// whole run (as templates and picks see it) and its send time.
func recordingPlan(p Plan, log *sendLog) *Plan {
	p.URL = &url.URL{Scheme: "http", Host: "fake"}
	// Three targets, taken in turn by the request's number.
	set, err := targets.Load(strings.NewReader("GET http://fake/a\n\nGET http://fake/b\n\nGET http://fake/c\n"), "t", targets.Options{})
	if err != nil {
		panic(err)
	}
	p.Targets = set
	p.newDoer = func(context.Context, int) (Doer, error) { return recordingDoer{log}, nil }
	return &p
}

type recordingDoer struct{ log *sendLog }

func (d recordingDoer) Do(ctx context.Context, req *targets.Request) (int, int64, error) {
	d.log.mu.Lock()
	if _, ok := d.log.sent[req.Seq]; ok {
		d.log.dup = append(d.log.dup, req.Seq)
	}
	d.log.sent[req.Seq] = time.Now()
	d.log.mu.Unlock()
	// A service time of the request's number in the whole run: the same
	// request takes the same time whichever segment sends it.
	service := time.Duration(req.Seq%7+1) * 150 * time.Microsecond
	return fakeDoer{service: func(time.Time) time.Duration { return service }}.Do(ctx, req)
}

func (recordingDoer) Close() error { return nil }

// runSegments runs the plan whole, then as n segments at once, in fake
// time, each from the same StartAt, and returns the send logs (offsets
// from the start) and summaries of both.
func runSegments(t *testing.T, p Plan, n int) (whole, split map[int64]time.Duration, one *report.Summary, parts []*report.Summary) {
	offsets := func(log *sendLog, at time.Time) map[int64]time.Duration {
		if len(log.dup) > 0 {
			t.Errorf("requests sent twice: %v", log.dup[:min(len(log.dup), 10)])
		}
		m := make(map[int64]time.Duration, len(log.sent))
		for seq, sent := range log.sent {
			m[seq] = sent.Sub(at)
		}
		return m
	}
	synctest.Test(t, func(t *testing.T) {
		log := &sendLog{sent: map[int64]time.Time{}}
		q := p
		q.StartAt = time.Now().Add(time.Second)
		var err error
		if one, err = Run(t.Context(), recordingPlan(q, log)); err != nil {
			t.Fatal(err)
		}
		whole = offsets(log, q.StartAt)
	})
	synctest.Test(t, func(t *testing.T) {
		log := &sendLog{sent: map[int64]time.Time{}}
		at := time.Now().Add(time.Second)
		parts = make([]*report.Summary, n)
		var wg sync.WaitGroup
		for i := range n {
			q := p
			q.StartAt, q.Segment = at, Segment{Index: i, Count: n, Run: "split"}
			wg.Go(func() {
				s, err := Run(t.Context(), recordingPlan(q, log))
				if err != nil {
					t.Error(err)
				}
				parts[i] = s
			})
		}
		wg.Wait()
		split = offsets(log, at)
	})
	return whole, split, one, parts
}

// For every model and profile, the segments' requests are disjoint and
// their union is the whole run's, each sent at the same moment of the
// schedule (in fake time, exactly); the merged counts and rates are the
// whole run's.
func TestSegmentsUnionIsTheRun(t *testing.T) {
	ramp := []Stage{{Duration: time.Second, Target: 900}, {Duration: time.Second, Target: 900}, {Duration: 500 * time.Millisecond, Target: 0}}
	steps := []Stage{{Duration: time.Second, Target: 200, Step: true}, {Duration: time.Second, Target: 700, Step: true}}
	for _, tt := range []struct {
		name string
		plan Plan
		n    int
		want int64 // requests
	}{
		{"open, -z", Plan{Connections: 10, Rate: 1000, Duration: 2 * time.Second}, 3, 2000},
		{"open, -n", Plan{Connections: 8, Rate: 500, Requests: 1001}, 4, 1001},
		{"open, -n and -z", Plan{Connections: 8, Rate: 500, Requests: 1001, Duration: time.Second}, 4, 500},
		{"open, ramp", Plan{Connections: 12, RateStages: ramp}, 3, 900/2 + 900 + 900/4},
		{"open, steps", Plan{Connections: 6, RateStages: steps}, 2, 900},
		{"open, one segment", Plan{Connections: 3, Rate: 100, Duration: time.Second}, 1, 100},
		{"closed, -n", Plan{Connections: 7, Requests: 1003}, 3, 1003},
	} {
		t.Run(tt.name, func(t *testing.T) {
			whole, split, one, parts := runSegments(t, tt.plan, tt.n)
			if int64(len(whole)) != tt.want || one.Requests != tt.want {
				t.Fatalf("the whole run sent %d requests (summary: %d), want %d", len(whole), one.Requests, tt.want)
			}
			var merged report.Summary
			for _, s := range parts {
				if err := merged.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			if merged.Requests != one.Requests || merged.Late != one.Late || merged.Dropped != one.Dropped ||
				merged.Connections != one.Connections || len(split) != len(whole) {
				t.Errorf("merged: %d requests (%d logged), %d late, %d dropped, %d connections; whole: %d, %d, %d, %d",
					merged.Requests, len(split), merged.Late, merged.Dropped, merged.Connections,
					one.Requests, one.Late, one.Dropped, one.Connections)
			}
			if one.Open() && (math.Abs(merged.Rate-one.Rate) > 1e-9*one.Rate ||
				math.Abs(merged.Generator.TargetRate-one.Generator.TargetRate) > 1e-9*one.Rate) {
				t.Errorf("merged rate %v, target %v; whole %v, %v", merged.Rate, merged.Generator.TargetRate, one.Rate, one.Generator.TargetRate)
			}
			bad := 0
			for seq, at := range whole {
				got, ok := split[seq]
				if one.Open() && (!ok || got != at) || !ok {
					if bad++; bad <= 5 {
						t.Errorf("request %d: sent at %v by the segments (%v), %v by the whole run", seq, got, ok, at)
					}
				}
			}
			// One histogram holding every request: the merge's percentiles,
			// per-target rows and series are the whole run's, exactly.
			if merged.Response() != one.Response() || merged.Service() != one.Service() {
				t.Errorf("merged response %+v, service %+v\nwhole response %+v, service %+v",
					merged.Response(), merged.Service(), one.Response(), one.Service())
			}
			if len(merged.Targets) != 3 || len(one.Targets) != 3 {
				t.Fatalf("%d and %d target rows, want 3", len(merged.Targets), len(one.Targets))
			}
			for k := range one.Targets {
				a, b := merged.Targets[k], one.Targets[k]
				if a.Name != b.Name || a.Requests != b.Requests || a.Response() != b.Response() {
					t.Errorf("target %s: merged %d requests %+v; whole %s: %d %+v", a.Name, a.Requests, a.Response(), b.Name, b.Requests, b.Response())
				}
			}
			if merged.Series == nil || merged.Series.Len() != one.Series.Len() {
				t.Fatalf("merged series of %v intervals, whole %d", merged.Series, one.Series.Len())
			}
			for k := range one.Series.Len() {
				a, b := merged.Series.At(k), one.Series.At(k)
				if !a.Start.Equal(b.Start) || a.IntervalCounts.Requests != b.IntervalCounts.Requests || a.Due != b.Due ||
					a.Response() != b.Response() {
					t.Errorf("interval %d: merged %v %d requests, %d due, %+v; whole %v %d, %d, %+v", k,
						a.Start, a.Requests, a.Due, a.Response(), b.Start, b.Requests, b.Due, b.Response())
				}
			}
			for i, s := range parts {
				g := Segment{Index: i, Count: tt.n}
				if want := g.Share(tt.want); s.Requests != want {
					t.Errorf("segment %s sent %d, want its share %d", g, s.Requests, want)
				}
			}
		})
	}
}

// A closed-model ramp of connections is split stage by stage: the
// segments' connections add up to the ramp's at the end of every stage.
func TestSegmentsSplitConnectionStages(t *testing.T) {
	t.Parallel()
	p := Plan{ConnectionStages: []Stage{{Duration: time.Second, Target: 10}, {Duration: time.Second, Target: 3, Step: true}}}
	sum := make([]float64, len(p.ConnectionStages))
	for i := range 4 {
		q := Segment{Index: i, Count: 4}.plan(&p).shared()
		for k, st := range q.ConnectionStages {
			sum[k] += st.Target
		}
		if q.Length() != p.Length() {
			t.Errorf("segment %d lasts %v, the run %v", i, q.Length(), p.Length())
		}
	}
	if sum[0] != 10 || sum[1] != 3 {
		t.Errorf("stage targets add up to %v, want [10 3]", sum)
	}
}

// sendTimes is a doer of constant service time that logs when each
// request was sent, from a start.
type sendTimes struct {
	mu    sync.Mutex
	start time.Time
	sent  []time.Duration
}

func (s *sendTimes) plan(p Plan) *Plan {
	p.URL = &url.URL{Scheme: "http", Host: "fake"}
	p.newDoer = func(context.Context, int) (Doer, error) { return s, nil }
	return &p
}

func (s *sendTimes) Do(ctx context.Context, req *targets.Request) (int, int64, error) {
	s.mu.Lock()
	s.sent = append(s.sent, time.Since(s.start))
	s.mu.Unlock()
	return fakeDoer{service: func(time.Time) time.Duration { return 7 * time.Millisecond }}.Do(ctx, req)
}

func (*sendTimes) Close() error { return nil }

// The closed model's ramp of connections, up, held, stepped and down,
// split over segments: at every moment the segments' connections add up
// to the whole run's, so that (at a constant service time) the segments
// send, between them, at exactly the moments the whole run does.
func TestSegmentsFollowTheConnectionRamp(t *testing.T) {
	stages := []Stage{{Duration: time.Second, Target: 10}, {Duration: 500 * time.Millisecond, Target: 10},
		{Duration: 300 * time.Millisecond, Target: 17, Step: true}, {Duration: time.Second, Target: 0}}
	run := func(n int) ([]time.Duration, int64, int) {
		var log *sendTimes
		var requests int64
		conns := 0
		synctest.Test(t, func(t *testing.T) {
			at := time.Now().Add(time.Second)
			log = &sendTimes{start: at}
			var wg sync.WaitGroup
			var mu sync.Mutex
			for i := range n {
				p := Plan{Connections: 2, ConnectionStages: stages, StartAt: at}
				if n > 1 {
					p.Segment = Segment{Index: i, Count: n, Run: "ramp"}
				}
				wg.Go(func() {
					s, err := Run(t.Context(), log.plan(p))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					requests += s.Requests
					conns += s.Connections
					mu.Unlock()
				})
			}
			wg.Wait()
		})
		slices.Sort(log.sent)
		return log.sent, requests, conns
	}
	whole, requests, conns := run(1)
	if conns != 17 || requests < 1000 {
		t.Fatalf("the whole run: %d requests on %d connections; want over 1000 on 17", requests, conns)
	}
	for _, n := range []int{2, 3, 4, 6} {
		split, r, c := run(n)
		if r != requests || c != conns || !slices.Equal(split, whole) {
			i := 0
			for i < min(len(split), len(whole)) && split[i] == whole[i] {
				i++
			}
			t.Errorf("%d segments: %d requests on %d connections, the whole run %d on %d; first difference at request %d of %d",
				n, r, c, requests, conns, i, len(whole))
		}
	}
}
