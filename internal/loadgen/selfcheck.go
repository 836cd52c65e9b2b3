package loadgen

import (
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// judge fills the generator's check on itself. The generator counts as the
// bottleneck when it used nearly all the CPU it could, or, in the open
// model, when its timers woke late on average (a busy connection makes a
// request late; a busy generator makes a free worker wake late).
func (r *run) judge(s *report.Summary, stats []workerStats, gcPause, cpu, elapsed time.Duration) report.Generator {
	p := r.plan
	g := report.Generator{GCPause: gcPause, CPU: cpu}
	if elapsed > 0 {
		g.AchievedRate = float64(s.Requests) / elapsed.Seconds()
	}
	procs := runtime.GOMAXPROCS(0)
	// A shorter run is too short to tell: its CPU time and GC pauses are
	// mostly those of starting up, and a few ms of them is a large share.
	judged := elapsed >= minJudgedRun
	if judged && cpu > 0 {
		if use := cpu.Seconds() / elapsed.Seconds() / float64(procs); use > 0.9 {
			g.Bound = true
			g.Warnings = append(g.Warnings, fmt.Sprintf(
				"the generator used %.0f%% of its %d CPUs: it may have been the bottleneck, not the server", use*100, procs))
		}
	}
	if judged && gcPause > elapsed/100 {
		g.Warnings = append(g.Warnings, fmt.Sprintf("GC paused the generator for %v (%.1f%% of the run)",
			gcPause.Round(time.Microsecond), 100*gcPause.Seconds()/elapsed.Seconds()))
	}
	if p.Rate == 0 {
		return g
	}
	g.TargetRate = p.Rate
	var lag lagHistogram
	var over time.Duration
	var wakeups int64
	var last time.Time
	for i := range stats {
		lag.merge(&stats[i].lag)
		over += stats[i].overshoot
		wakeups += stats[i].wakeups
		if stats[i].lastSent.After(last) {
			last = stats[i].lastSent
		}
	}
	// The send rate, not the throughput: the last responses' tail is the
	// server's time, and n requests sent on schedule span n intervals.
	if !last.IsZero() {
		span := last.Sub(r.t0) + time.Duration(r.interval)
		g.AchievedRate = float64(s.Requests) / span.Seconds()
	}
	g.SendLagP99 = lag.quantile(0.99)
	g.SendLagMax = lag.max
	if wakeups > 0 && over/time.Duration(wakeups) > lateSlack {
		g.Bound = true
		g.Warnings = append(g.Warnings, fmt.Sprintf(
			"the generator's timers woke %v late on average: it could not keep the schedule",
			(over/time.Duration(wakeups)).Round(time.Microsecond)))
	}
	if g.AchievedRate < 0.9*p.Rate && s.Late > 0 {
		g.Warnings = append(g.Warnings, fmt.Sprintf(
			"%d requests were sent late because all %d connections were busy: add connections or lower the rate",
			s.Late, s.Connections))
	}
	return g
}

// minJudgedRun is the shortest run whose CPU use and GC pauses are judged:
// a run against a closed port can end in a millisecond, having spent most
// of it on the CPU.
const minJudgedRun = 200 * time.Millisecond

// cpuTime returns the user plus system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
