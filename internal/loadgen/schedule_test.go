package loadgen

import (
	"context"
	"math"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/targets"
)

func TestMain(m *testing.M) {
	if serveHelper() { // the test binary as another process's server
		return
	}
	goleak.VerifyTestMain(m)
}

// fakeDoer answers in fake time: each request takes service(now) to come
// back, as a server would, or returns when ctx ends.
type fakeDoer struct {
	service func(now time.Time) time.Duration
}

func (d fakeDoer) Do(ctx context.Context, _ *targets.Request) (int, int64, error) {
	t := time.NewTimer(d.service(time.Now()))
	defer t.Stop()
	select {
	case <-t.C:
		return 200, 13, nil
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

func (fakeDoer) Close() error { return nil }

func fakePlan(p Plan, service func(since time.Duration) time.Duration) *Plan {
	t0 := time.Now()
	p.URL = &url.URL{Scheme: "http", Host: "fake"}
	p.newDoer = func(context.Context, int) (Doer, error) {
		return fakeDoer{service: func(now time.Time) time.Duration { return service(now.Sub(t0)) }}, nil
	}
	return &p
}

func constant(d time.Duration) func(time.Duration) time.Duration {
	return func(time.Duration) time.Duration { return d }
}

// A server that stalls for one second in the middle of an open-model run
// at 100 req/s holds up about 100 requests: they must be counted as late,
// and their response times (from their due time) must reach the p99, as
// they would for a user, even though only the few requests that were in
// flight saw a slow service time.
func TestOpenModelCountsStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Requests sent during [2 s, 3 s) are answered at 3 s; the rest
		// in 1 ms.
		stall := func(since time.Duration) time.Duration {
			if since >= 2*time.Second && since < 3*time.Second {
				return 3*time.Second - since
			}
			return time.Millisecond
		}
		p := fakePlan(Plan{Connections: 10, Rate: 100, Duration: 5 * time.Second}, stall)
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Requests != 500 || s.Errors != 0 {
			t.Errorf("requests %d, errors %d; want 500, 0", s.Requests, s.Errors)
		}
		// 100 requests fall due during the stall; the first 10 find a free
		// connection, the other 90 wait, and the backlog drains within a
		// few ms of the stall's end.
		if s.Late < 85 || s.Late > 105 {
			t.Errorf("late = %d, want about 90-100", s.Late)
		}
		resp := s.Response()
		if resp.P99 < 900*time.Millisecond || resp.P99 > 1001*time.Millisecond {
			t.Errorf("response p99 = %v, want near 1 s", resp.P99)
		}
		if resp.P50 > 2*time.Millisecond {
			t.Errorf("response p50 = %v, want about 1 ms", resp.P50)
		}
		if resp.Max < 990*time.Millisecond {
			t.Errorf("response max = %v, want about 1 s", resp.Max)
		}
		// Service time hides the stall for the late requests.
		if serv := s.Service(); serv.P95 > 2*time.Millisecond {
			t.Errorf("service p95 = %v, want about 1 ms", serv.P95)
		}
		if s.Generator.Bound {
			t.Errorf("generator marked as the bottleneck in fake time: %q", s.Generator.Warnings)
		}
		// 500 requests sent by 4.99 s: on schedule at the end.
		if g := s.Generator; g.AchievedRate != 100 || g.TargetRate != 100 {
			t.Errorf("achieved rate %v of %v, want 100 of 100", g.AchievedRate, g.TargetRate)
		}
		if s.Generator.SendLagMax < 900*time.Millisecond {
			t.Errorf("send lag max = %v, want near 1 s", s.Generator.SendLagMax)
		}
		t.Logf("late %d, response p50 %v p99 %v max %v, service p99 %v, send lag p99 %v",
			s.Late, resp.P50, resp.P99, resp.Max, s.Service().P99, s.Generator.SendLagP99)
		if s.Elapsed < 4990*time.Millisecond || s.Elapsed > 5*time.Second {
			t.Errorf("elapsed %v, want the last due time (4.99 s) plus 1 ms", s.Elapsed)
		}
	})
}

func TestSchedules(t *testing.T) {
	tests := []struct {
		name    string
		plan    Plan
		service time.Duration
		// want
		requests int64
		late     int64
		elapsed  time.Duration
		p50      time.Duration
		achieved float64 // open model: the send rate
	}{
		{
			name:     "closed, count",
			plan:     Plan{Connections: 4, Requests: 100},
			service:  10 * time.Millisecond,
			requests: 100, elapsed: 250 * time.Millisecond, p50: 10 * time.Millisecond,
		},
		{
			name:     "closed, more connections than requests",
			plan:     Plan{Connections: 50, Requests: 5},
			service:  time.Second,
			requests: 5, elapsed: time.Second, p50: time.Second,
		},
		{
			name:     "closed, duration: no request starts after it",
			plan:     Plan{Connections: 2, Duration: time.Second},
			service:  100 * time.Millisecond,
			requests: 20, elapsed: time.Second, p50: 100 * time.Millisecond,
		},
		{
			name:     "closed, count before duration",
			plan:     Plan{Connections: 2, Requests: 6, Duration: time.Hour},
			service:  100 * time.Millisecond,
			requests: 6, elapsed: 300 * time.Millisecond, p50: 100 * time.Millisecond,
		},
		{
			name:     "open, on time",
			plan:     Plan{Connections: 1, Rate: 10, Requests: 10},
			service:  time.Millisecond,
			requests: 10, elapsed: time.Second, p50: time.Millisecond, achieved: 10, // the schedule's 1 s
		},
		{
			name:     "open, duration",
			plan:     Plan{Connections: 3, Rate: 1000, Duration: time.Second},
			service:  2 * time.Millisecond,
			requests: 1000, elapsed: 1001 * time.Millisecond, p50: 2 * time.Millisecond, achieved: 1000,
		},
		{
			// One connection, 100 ms per request, asked for 20 per second:
			// request i is sent at 100i ms but due at 50i ms, so its response
			// time is 100+50i ms.
			name:    "open, too few connections",
			plan:    Plan{Connections: 1, Rate: 20, Requests: 10},
			service: 100 * time.Millisecond,
			// The last is sent at 900 ms: 10 in 950 ms.
			requests: 10, late: 9, elapsed: time.Second, p50: 300 * time.Millisecond, achieved: 10 / 0.95,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, err := Run(t.Context(), fakePlan(tt.plan, constant(tt.service)))
				if err != nil {
					t.Fatal(err)
				}
				if s.Requests != tt.requests || s.Late != tt.late {
					t.Errorf("requests %d, late %d; want %d, %d", s.Requests, s.Late, tt.requests, tt.late)
				}
				if s.Elapsed != tt.elapsed {
					t.Errorf("elapsed %v, want %v", s.Elapsed, tt.elapsed)
				}
				// HdrHistogram keeps 3 significant digits.
				if p50 := s.Response().P50; p50 < tt.p50*999/1000 || p50 > tt.p50*1001/1000 {
					t.Errorf("response p50 %v, want %v", p50, tt.p50)
				}
				if s.Status[200] != tt.requests {
					t.Errorf("status 200 counted %d times, want %d", s.Status[200], tt.requests)
				}
				if tt.achieved != 0 && math.Abs(s.Generator.AchievedRate-tt.achieved) > 1e-6*tt.achieved {
					t.Errorf("achieved rate %v, want %v", s.Generator.AchievedRate, tt.achieved)
				}
				if s.Bytes != 13*tt.requests {
					t.Errorf("bytes %d, want %d", s.Bytes, 13*tt.requests)
				}
			})
		})
	}
}

// Cancelling the run stops it at once and keeps the requests that
// finished; the ones cut off in flight are not counted as failures but
// as Cut.
func TestRunCancelled(t *testing.T) {
	for _, rate := range []float64{0, 10} {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(550*time.Millisecond, cancel)
			p := fakePlan(Plan{Connections: 2, Requests: 1000, Rate: rate}, constant(100*time.Millisecond))
			s, err := Run(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			want, cut := int64(10), int64(2) // closed: 2 connections × 5 finished, and 1 each in flight
			if rate > 0 {
				want, cut = 5, 1 // due at 0, 100, ..., 400 ms and done 100 ms later; 500 ms's in flight
			}
			if s.Requests != want || s.Errors != 0 || s.Cut != cut || s.Elapsed != 550*time.Millisecond {
				t.Errorf("rate %v: requests %d, errors %d, cut %d, elapsed %v; want %d, 0, %d, 550ms",
					rate, s.Requests, s.Errors, s.Cut, s.Elapsed, want, cut)
			}
		})
	}
}

func TestProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen []Progress
		p := fakePlan(Plan{Connections: 1, Requests: 35}, constant(100*time.Millisecond))
		p.Progress = func(pr Progress) { seen = append(seen, pr) }
		if _, err := Run(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		want := []Progress{
			{Requests: 10, Elapsed: time.Second},
			{Requests: 20, Elapsed: 2 * time.Second},
			{Requests: 30, Elapsed: 3 * time.Second},
		}
		if len(seen) != len(want) {
			t.Fatalf("progress %+v, want %+v", seen, want)
		}
		for i := range want {
			// A request ending on the tick may or may not be counted.
			if d := seen[i].Requests - want[i].Requests; d < -1 || d > 0 || seen[i].Elapsed != want[i].Elapsed {
				t.Errorf("progress[%d] = %+v, want %+v", i, seen[i], want[i])
			}
		}
	})
}

func TestPlanCheck(t *testing.T) {
	u := &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	tests := []Plan{
		{Connections: 1, Requests: 1},
		{URL: u, Connections: 0, Requests: 1},
		{URL: u, Connections: 1},
		{URL: u, Connections: 1, Requests: -1},
		{URL: u, Connections: 1, Requests: 1, Rate: -1},
		{URL: &url.URL{Scheme: "ftp", Host: "x"}, Connections: 1, Requests: 1},
		{URL: u, Connections: 1, Requests: 1, Method: "GET / HTTP/1.1\r\n"},
		{URL: u, Connections: 1, Requests: 1, Host: "a\r\nX: y"},
		{URL: u, Connections: 1, Requests: 1, Header: [][2]string{{"X-A", "1\r\n\r\nGET /"}}},
		{URL: u, Connections: 1, Requests: 1, Header: [][2]string{{"X A", "1"}}},
		{URL: u, Connections: 1, Requests: 1, Header: [][2]string{{"", "1"}}},
		{URL: u, Connections: 1, Requests: 1, Header: [][2]string{{"content-length", "1"}}},
	}
	for _, p := range tests {
		if _, err := Run(t.Context(), &p); err == nil {
			t.Errorf("Run(%+v) succeeded, want an error", p)
		}
	}
}

func TestLagHistogram(t *testing.T) {
	var h lagHistogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	if h.max != time.Millisecond || h.count != 1000 {
		t.Fatalf("max %v count %d", h.max, h.count)
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := time.Duration(q * float64(time.Millisecond))
		got := h.quantile(q)
		if got < want || got > want*5/4 {
			t.Errorf("quantile(%v) = %v, want within 25%% above %v", q, got, want)
		}
	}
	for i := range 200 {
		d := time.Duration(i * i * 1000)
		if top := lagBucketTop(lagBucket(d)); top < d || (d > 16 && top > d*5/4+1) {
			t.Errorf("bucket of %v tops at %v", d, top)
		}
	}
	var empty lagHistogram
	if empty.quantile(0.99) != 0 {
		t.Error("empty histogram has a quantile")
	}
}

// The generator blames itself when it used its CPUs up, and in the open
// model says which limit kept the run off its schedule: the generator
// (late with a connection free), the server (service time far above its
// fastest) or the connections.
func TestJudge(t *testing.T) {
	t.Parallel()
	procs := time.Duration(runtime.GOMAXPROCS(0))
	t0 := time.Now()
	// stats returns two workers' statistics of 200 requests sent over 1 s
	// at 200 req/s, late ones of the given causes.
	stats := func(lag time.Duration, lateBusy, lateFree int64) []workerStats {
		st := make([]workerStats, 2)
		for i := range st {
			st[i].overshoot, st[i].wakeups, st[i].sent = 100*lag, 100, 100
			st[i].lateBusy, st[i].lateFree = lateBusy/2, lateFree/2
			st[i].lastSent = t0.Add(995 * time.Millisecond)
			for range 100 {
				st[i].lag.add(lag)
			}
		}
		return st
	}
	// unread adds to st answers that waited d each in the generator's
	// sockets before it read them.
	unread := func(st []workerStats, d time.Duration) []workerStats {
		for i := range st {
			st[i].unread, st[i].unreads = 100*d, 100
		}
		return st
	}
	served := func(fastest, mean time.Duration) *report.Summary {
		rec := report.NewRecorder()
		for i := range 200 {
			d := fastest
			if i%2 == 1 {
				d = 2*mean - fastest
			}
			rec.Record(report.Sample{Response: d, Service: d, Status: 200})
		}
		s := report.Merge(rec)
		s.Connections = 10
		return s
	}
	refused := func() *report.Summary {
		rec := report.NewRecorder()
		for range 200 {
			rec.Record(report.Sample{Err: report.ErrRefused})
		}
		s := report.Merge(rec)
		s.Connections = 10
		return s
	}
	tests := []struct {
		name    string
		rate    float64
		stats   []workerStats
		s       *report.Summary
		gc, cpu time.Duration
		bound   bool
		warn    string // a substring of the warnings; "" for none
	}{
		{name: "closed, idle generator", cpu: procs * 100 * time.Millisecond},
		{name: "closed, CPUs used up", cpu: procs * 950 * time.Millisecond, bound: true, warn: "CPUs: it may have been the bottleneck"},
		{name: "GC pauses", gc: 50 * time.Millisecond, warn: "GC paused the generator for 50ms (5.0% of the run)"},
		{name: "open, on time", rate: 200, stats: stats(100*time.Microsecond, 0, 1)},
		{name: "open, generator late", rate: 200, stats: stats(5*time.Millisecond, 10, 60), bound: true,
			warn: "35.0%); the limit was the generator: 60 late requests had a connection free when due, it used 0% of its"},
		{name: "open, server slow", rate: 200, stats: stats(0, 100, 0), s: served(time.Millisecond, 40*time.Millisecond),
			warn: "the limit was the server: all 10 connections were busy while its service time grew to 40.004 ms on average"},
		{name: "open, server slow, answers read soon", rate: 200, stats: unread(stats(0, 100, 0), time.Millisecond), s: served(time.Millisecond, 40*time.Millisecond),
			warn: "the limit was the server: all 10 connections were busy"},
		{name: "open, answers unread", rate: 200, stats: unread(stats(0, 100, 0), 2*time.Millisecond), s: served(40*time.Microsecond, 50*time.Microsecond), bound: true,
			warn: "the limit was the generator: the late requests waited for a connection, but the answers that freed them waited 2.000 ms on average in its sockets before it read them, longer than the server took to answer (0.050 ms on average)"},
		{name: "open, too few connections", rate: 200, stats: stats(0, 100, 0), s: served(40*time.Millisecond, 50*time.Millisecond),
			warn: "the limit was the connections: at the server's service time (50.016 ms on average) 10 connections carry at most 200 req/s; use more (-c 16 or more)"},
		{name: "open, connections slow to turn", rate: 200, stats: stats(0, 100, 0), s: served(40*time.Microsecond, 50*time.Microsecond),
			warn: "the limit was the connections: 10 connections carried only 200 req/s, the server's service time (0.050 ms on average) and the turn between an answer and the next send; use more (-c 15 or more)"},
		{name: "open, nothing answered", rate: 200, stats: stats(0, 0, 100), s: refused(),
			warn: "no request was answered: 200 failed, most refused: the server or the way to it failed every one"},
		{name: "open, behind", rate: 250, stats: stats(0, 0, 0), s: served(time.Millisecond, time.Millisecond),
			warn: "sent 200.0 req/s of the 250.0 asked (80.0%)"},
	}
	for _, tt := range tests {
		r := &run{plan: &Plan{Rate: tt.rate, Connections: 10, Duration: time.Second}, t0: t0}
		if tt.rate > 0 {
			r.sched = newSchedule(r.plan)
		}
		s := tt.s
		if s == nil {
			s = &report.Summary{Requests: 200, Connections: 10}
		}
		g := r.judge(s, tt.stats, tt.gc, tt.cpu, time.Second)
		warnings := strings.Join(g.Warnings, "\n")
		if g.Bound != tt.bound || (tt.warn == "") != (warnings == "") || !strings.Contains(warnings, tt.warn) {
			t.Errorf("%s: bound %v, warnings %q; want %v, %q", tt.name, g.Bound, g.Warnings, tt.bound, tt.warn)
		}
		if g.AchievedRate != 200 || g.TargetRate != tt.rate || g.GCPause != tt.gc {
			t.Errorf("%s: %+v", tt.name, g)
		}
		if tt.rate > 0 && g.SendLagMax != tt.stats[0].lag.max {
			t.Errorf("%s: send lag max %v, want %v", tt.name, g.SendLagMax, tt.stats[0].lag.max)
		}
		if tt.rate > 0 {
			var busy, free int64
			for _, st := range tt.stats {
				busy, free = busy+st.lateBusy, free+st.lateFree
			}
			if g.LateGenerator != free || g.LateWaiting != busy {
				t.Errorf("%s: late by cause %d generator, %d waiting; want %d, %d", tt.name, g.LateGenerator, g.LateWaiting, free, busy)
			}
		}
	}
	// Dropped requests warn, whatever the rest.
	r := &run{plan: &Plan{Rate: 200, Connections: 10, Duration: time.Second}, t0: t0}
	r.sched = newSchedule(r.plan)
	s := served(time.Millisecond, time.Millisecond)
	s.Dropped = 30
	if g := r.judge(s, stats(0, 0, 0), 0, 0, time.Second); len(g.Warnings) != 1 || !strings.Contains(g.Warnings[0], "30 due and never sent") {
		t.Errorf("dropped requests: warnings %q", g.Warnings)
	}

	// A run of a millisecond (against a closed port) that spent it all on
	// the CPU, or in GC, is too short to judge.
	r = &run{plan: &Plan{Connections: 5}}
	s = &report.Summary{Requests: 20, Connections: 5}
	g := r.judge(s, nil, 500*time.Microsecond, procs*time.Millisecond, time.Millisecond)
	if g.Bound || len(g.Warnings) != 0 {
		t.Errorf("a 1 ms run: bound %v, warnings %q; want neither", g.Bound, g.Warnings)
	}
}
