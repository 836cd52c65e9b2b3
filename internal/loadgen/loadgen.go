// Package loadgen is the engine of gather bench: connections paced by a
// closed or an open model, recorders merged at the end, and a minimal
// HTTP/1.1 client for the common case.
//
// Nothing is shared on the hot path but one atomic counter from which
// requests are claimed (one atomic add per request): no channel send, lock
// or allocation per request. Three engines send the requests:
//
//   - The event loops (Linux, HTTP/1.1 over http:// and https://, both
//     models): one goroutine per CPU drives its share of the connections
//     through its own epoll set, as wrk does, and records into its own
//     [report.Recorder]; in the open model each loop claims the next due
//     request when it has a free connection and sleeps on a timerfd until
//     it is due (pace.go, loop_pace_linux.go).
//   - The workers (everything else): one goroutine per connection, each
//     with its own [Doer], as children of a gather Group. Up to 128
//     connections each worker owns a recorder; beyond that, workers share
//     128 recorders, each behind a mutex, so that memory and the final
//     merge stay bounded (see maxRecorders).
//   - HTTP/2 (--http2): this package's own client (h2.go, h2_engine.go),
//     one goroutine per connection carrying its streams.
//
// HTTP/1.1 over http:// and https:// goes through this package's client,
// whose response parser ([h1.Parser]) takes bytes as they come, on the
// loops and the workers alike; net/http only when asked (Plan.NetHTTP).
//
// In the closed model (no Rate) each connection sends its next request as
// soon as the previous one ends. In the open model request i is due where
// the integral of the rate (Rate, or RateStages) reaches i, whatever the
// server does; the run stops sending at Duration and counts what was due
// and never sent as dropped. A request sent after its due time because
// every connection was busy is counted as late, and its response time runs
// from the due time, not from the send (coordinated omission is counted,
// not hidden).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/targets"
)

// run is the state the workers share, read-only after start but for next.
type run struct {
	plan  *Plan        // as the engines see it: Duration is the profile's length
	set   *targets.Set // the plan's targets
	seq   bool         // the requests need their sequence number: claim one each
	t0    time.Time
	sched *schedule // the open model's; nil in the closed model
	ramp  *profile  // the closed model's connections; nil without a ramp
	next  atomic.Int64
}

// Run carries out the plan and returns its summary. It returns when the
// requests are done, the duration has passed, or ctx ends; in the last
// case the summary covers the requests that finished, and counts those
// cut in flight apart, as Cut. The error is non-nil only if the
// plan is invalid or a transport could not be set up; failed requests are
// counted in the summary, not returned.
func Run(ctx context.Context, whole *Plan) (*report.Summary, error) {
	if err := whole.check(); err != nil {
		return nil, err
	}
	p := whole.shared() // the segment's share, or whole itself
	conns := p.PeakConnections()
	eff := *p
	eff.Duration = p.Length()
	// The run's own context: Check may end it (and with it the engine's
	// requests in flight) before ctx ends.
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	set := p.targetSet()
	e, err := newEngine(ctx, &eff, conns)
	if err != nil {
		return nil, err
	}
	recs := e.recorders()
	names := set.Names()
	for _, rec := range recs {
		rec.TrackTargets(names)
		if p.Watches != nil {
			rec.SetWatches(p.Watches)
		}
	}

	var gc0 runtime.MemStats
	runtime.ReadMemStats(&gc0)
	clock := readClock()
	start := time.Now()
	t0 := start
	if !p.StartAt.IsZero() {
		// Woken at StartAt, or later: t0 is StartAt on the monotonic
		// clock either way, so the schedule is the one every segment runs.
		if start, err = waitStart(ctx, p.StartAt); err != nil {
			start = time.Now()
		}
		t0 = start.Add(-max(start.Sub(p.StartAt), 0))
	}
	cpu0 := cpuTime()
	r := &run{plan: &eff, set: set, seq: set.Needs()&targets.NeedsSeq != 0, t0: t0}
	var due func(from, to time.Time) int64
	if eff.open() {
		r.sched = newSchedule(whole.scheduled())
		due = func(from, to time.Time) int64 { return r.sched.count(to.Sub(r.t0)) - r.sched.count(from.Sub(r.t0)) }
	}
	if p.ConnectionStages != nil {
		// The whole run's ramp, of which a segment holds every Nth place
		// (see [Segment.rampPlace]).
		r.ramp = newProfile(whole.startLevel(), whole.ConnectionStages)
	}
	stopProgress := r.progress(recs)
	stopChecks := r.checks(recs, stopRun)
	finishSeries := r.startSeries(recs, due)
	stats := e.run(ctx, r)
	se, ok := e.(interface{ stoppedEarly() bool })
	stoppedEarly := ok && se.stoppedEarly()
	if r.sched != nil && !stoppedEarly {
		// An open run lasts its schedule: the engine returns at the last
		// response, which can come before the schedule's end (the next
		// request would have been due past it), and throughput over that
		// shorter time would overstate the rate (1.5 req/s for -q 1 -z 3s).
		// An engine that gave up on the run (HTTP/2 to a server that does
		// not speak it) ends it now.
		waitUntil(ctx, r.t0.Add(r.sched.span()))
	}
	end := time.Now()
	var sent, dropped, cut int64
	for i := range stats {
		sent += stats[i].sent
		cut += stats[i].cut
	}
	if r.sched != nil {
		// Due by the end (or the interruption), never sent.
		dropped = max(r.sched.count(end.Sub(r.t0))-sent, 0)
	}
	elapsed := end.Sub(r.t0)
	cpu := cpuTime() - cpu0
	var gc1 runtime.MemStats
	runtime.ReadMemStats(&gc1)
	stopProgress()
	stopChecks()
	e.close() // after the clock stops: closing is not the server's time

	s := report.Merge(recs...)
	s.Target = set.String()
	s.Method = strings.Join(set.Methods(), ", ")
	s.Connections = conns
	if r.sched != nil {
		s.Rate = r.sched.meanRate()
	}
	s.Profile = p.describeProfile()
	s.Dropped = dropped
	s.Cut = cut
	s.Elapsed = elapsed
	s.Asked = report.Asked{Requests: p.Requests, Duration: p.Duration}
	// Ended by ctx before the plan was done: a run that finished its
	// requests just as ctx ended was not interrupted.
	s.Interrupted = ctx.Err() != nil && (p.Requests == 0 || s.Requests < p.Requests) &&
		(p.Duration == 0 || elapsed < p.Duration)
	s.Start = r.t0.Round(0) // the wall clock, without the monotonic reading
	s.Series = finishSeries(end, dropped, cut)
	s.Generator = r.judge(s, stats, time.Duration(gc1.PauseTotalNs-gc0.PauseTotalNs), cpu, elapsed)
	s.Generator.Engine = e.String()
	s.Generator.Warnings = append(s.Generator.Warnings, e.problems()...)
	s.Generator.StoppedEarly = stoppedEarly
	if err := context.Cause(ctx); errors.Is(err, errChecked) {
		s.Interrupted = true
		s.Generator.Warnings = append(s.Generator.Warnings, err.Error())
	}
	s.Parts[0] = whole.part(start, clock)
	s.Parts[0].Requests, s.Parts[0].Late, s.Parts[0].CPU = s.Requests, s.Late, cpu
	if late := s.Parts[0].LateStart(); late > lateStartWarning {
		what := "the run is that much shorter"
		if r.sched != nil {
			what = "the requests due before it were sent late"
		}
		s.Generator.Warnings = append(s.Generator.Warnings, fmt.Sprintf(
			"started %s after --start-at (set up in time, or start later): %s", late.Round(time.Microsecond), what))
	}
	return s, nil
}

// An engine sends a run's requests: goroutine workers over [Doer]s, the
// event loops over HTTP/1.1 (plain or TLS), or the HTTP/2 engine's
// multiplexed connections. Each serves both the closed and the open model.
type engine interface {
	// recorders returns what the engine records into; their counters may
	// be read while it runs.
	recorders() []*report.Recorder
	// run carries out r's plan and returns when it is done or ctx ends,
	// with the pacing statistics of its workers, loops or connections
	// (zero counts where nothing was paced).
	run(ctx context.Context, r *run) []workerStats
	// close releases the connections, after the clock has stopped.
	close()
	// String says how the engine sends requests, for the report.
	String() string
	// problems explains, one line each, what went wrong with the engine
	// itself during the run, for the report's warnings.
	problems() []string
}

// newEngine returns the engine for p: the event loops where they apply
// (see [Plan.EventLoops]), else one worker goroutine per connection.
func newEngine(ctx context.Context, p *Plan, conns int) (engine, error) {
	if p.newDoer == nil && p.HTTP2 && !p.NetHTTP {
		if e := newH2Engine(p, conns); e != nil {
			return e, nil
		}
	}
	if p.newDoer == nil && p.EventLoops() {
		if e := newLoopEngine(ctx, p, conns); e != nil {
			return e, nil
		}
	}
	newDoer := p.newDoer
	if newDoer == nil {
		var err error
		if newDoer, err = transport(p, conns); err != nil {
			return nil, err
		}
	}
	client := "own HTTP/1.1 client"
	switch {
	case p.newDoer != nil:
		client = "test doers"
	case !p.FastPath():
		client = "net/http"
	}
	return newWorkers(ctx, conns, len(p.targetSet().Names()), client, newDoer)
}

// waitUntil returns at t, or when ctx ends if that is sooner.
func waitUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// count returns "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// ended reports whether ctx has ended by now. A dial or a read on a
// connection sees a deadline of ctx pass, and fails with a timeout, a
// moment before ctx itself reports it.
func ended(ctx context.Context, now time.Time) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !now.Before(d)
}
