package loadgen

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// judge fills the generator's check on itself. The generator counts as the
// bottleneck when it used nearly all the CPU it could, or, in the open
// model, when it sent requests late although a connection was free for
// them (see judgeSchedule).
func (r *run) judge(s *report.Summary, stats []workerStats, gcPause, cpu, elapsed time.Duration) report.Generator {
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
	if r.sched == nil {
		return g
	}
	r.judgeSchedule(&g, s, stats, cpu, elapsed)
	return g
}

// minJudgedRun is the shortest run whose CPU use and GC pauses are judged:
// a run against a closed port can end in a millisecond, having spent most
// of it on the CPU.
const minJudgedRun = 200 * time.Millisecond

// CPUTime returns the user plus system CPU time the process has used,
// as the report's Generator block counts it; 0 if unknown.
func CPUTime() time.Duration { return cpuTime() }

// cpuTime returns the user plus system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// judgeSchedule fills the open model's part of the generator's check:
// the target and achieved rates, the send lag, and a WARNING whenever the
// run did not keep its schedule (it sent under 99% of the target rate,
// more than 1% of its requests late, or dropped some), saying which limit
// was hit and what to change:
//
//   - the generator, when most late requests had a connection free at
//     their due time, or it used nearly all its CPUs: it could not send
//     them in time itself; or when they waited for a connection whose
//     answer had come and waited longer in its sockets, unread, than the
//     server took to give it;
//   - the server, when every connection was busy and the service time
//     grew far above the fastest answers (mean over 5 times the minimum):
//     more connections would only queue in the server;
//   - too few connections otherwise: at the server's service time, the
//     connections could not carry the rate.
func (r *run) judgeSchedule(g *report.Generator, s *report.Summary, stats []workerStats, cpu, elapsed time.Duration) {
	var lag lagHistogram
	var over time.Duration
	var wakeups, sent, lateBusy, lateFree int64
	var last time.Time
	for i := range stats {
		st := &stats[i]
		lag.merge(&st.lag)
		over += st.overshoot
		wakeups += st.wakeups
		sent += st.sent
		lateBusy += st.lateBusy
		lateFree += st.lateFree
		g.UnreadWait += st.unread
		g.UnreadAnswers += st.unreads
		if st.lastSent.After(last) {
			last = st.lastSent
		}
	}
	g.TargetRate = r.sched.meanRate()
	g.SendLagP99 = lag.quantile(0.99)
	g.SendLagMax = lag.max
	g.LateGenerator, g.LateWaiting = lateFree, lateBusy
	// The send rate, not the throughput: the last responses' tail is the
	// server's time. Over the schedule's span (Run waits for its end), as
	// far as an interrupted run went, or to the last send if sending lagged
	// behind it.
	span := r.sched.span()
	if span <= 0 || s.Interrupted && elapsed < span {
		span = elapsed
	}
	if !last.IsZero() && g.TargetRate > 0 {
		span = max(span, last.Sub(r.t0)+time.Duration(float64(time.Second)/g.TargetRate))
	}
	if span > 0 {
		g.AchievedRate = float64(sent) / span.Seconds()
	}
	late := lateBusy + lateFree
	short := g.AchievedRate < 0.99*g.TargetRate
	if !short && (sent == 0 || float64(late) <= 0.01*float64(sent)) && s.Dropped == 0 {
		return
	}
	var what []string
	if short {
		what = append(what, fmt.Sprintf("sent %.1f req/s of the %.1f asked (%.1f%%)",
			g.AchievedRate, g.TargetRate, 100*g.AchievedRate/g.TargetRate))
	}
	if late > 0 {
		what = append(what, fmt.Sprintf("%d of %d requests late (%.1f%%)", late, sent, 100*float64(late)/float64(max(sent, 1))))
	}
	if s.Dropped > 0 {
		what = append(what, fmt.Sprintf("%d due and never sent", s.Dropped))
	}
	procs := runtime.GOMAXPROCS(0)
	use := 0.0
	if elapsed > 0 {
		use = cpu.Seconds() / elapsed.Seconds() / float64(procs)
	}
	serv := s.Service()
	var cause string
	switch {
	case serv.Count == 0 && s.Errors > 0:
		// Requests that fail at once (a refused connection) leave their
		// connection to be dialled again: late with none free is their
		// doing, not the generator's.
		g.Limit = "server"
		cause = fmt.Sprintf("no request was answered%s: the server or the way to it failed every one", failedKinds(s))
	case lateFree > lateBusy || use > 0.9:
		g.Bound, g.Limit = true, "generator"
		cause = fmt.Sprintf("the limit was the generator: %d late requests had a connection free when due, "+
			"it used %.0f%% of its %d CPUs", lateFree, use*100, procs)
		if wakeups > 0 {
			cause += fmt.Sprintf(" and its timers woke %v late on average", (over / time.Duration(wakeups)).Round(time.Microsecond))
		}
		cause += "; give it more CPU (fewer other processes on its machine, or a share of the rate on another machine) or lower the rate"
	case serv.Count > 0 && g.UnreadMean() > serv.Mean:
		// Every connection was busy, but more of its time went to the
		// generator than to the server: the answers that would free one
		// had come and waited in its sockets for the loop to read them.
		g.Bound, g.Limit = true, "generator"
		cause = fmt.Sprintf("the limit was the generator: the late requests waited for a connection, but the answers that "+
			"freed them waited %.3f ms on average in its sockets before it read them, longer than the server took to answer "+
			"(%.3f ms on average); it used %.0f%% of its %d CPUs; give it more CPU (fewer other processes on its machine, "+
			"or a share of the rate on another machine) or lower the rate", ms(g.UnreadMean()), ms(serv.Mean), use*100, procs)
	case serv.Count > 0 && serv.Mean > 5*max(serv.Min, time.Microsecond):
		g.Limit = "server"
		cause = fmt.Sprintf("the limit was the server: all %s were busy while its service time grew to %.3f ms on average "+
			"(the fastest answers took %.3f ms); more connections would wait in the server too: lower the rate, or find what slows the server",
			count(s.Connections, "connection"), ms(serv.Mean), ms(serv.Min))
	case serv.Count > 0:
		g.Limit = "connections"
		capacity := float64(s.Connections) / serv.Mean.Seconds()
		need := int(math.Ceil(1.5 * g.TargetRate * serv.Mean.Seconds()))
		carry := " carry"
		if s.Connections == 1 {
			carry = " carries"
		}
		if capacity >= g.TargetRate {
			// The service time alone would carry the rate: what each
			// connection lost was between an answer and its next send
			// (the round trip through the kernel, a busy machine).
			need = int(math.Ceil(1.5 * float64(s.Connections) * g.TargetRate / max(g.AchievedRate, 1)))
			carry = " carried"
			cause = fmt.Sprintf("the limit was the connections: %s only %.0f req/s, the server's service time (%.3f ms on average) "+
				"and the turn between an answer and the next send; use more (-c %d or more), or lower the rate",
				count(s.Connections, "connection")+carry, g.AchievedRate, ms(serv.Mean), max(need, s.Connections+1))
			break
		}
		cause = fmt.Sprintf("the limit was the connections: at the server's service time (%.3f ms on average) %s "+
			"at most %.0f req/s; use more (-c %d or more), or lower the rate", ms(serv.Mean), count(s.Connections, "connection")+carry, capacity, max(need, s.Connections+1))
	default:
		g.Limit = "server"
		cause = fmt.Sprintf("no request was answered: all %s were taken by requests that never ended", count(s.Connections, "connection"))
	}
	g.Warnings = append(g.Warnings, "the run did not keep its schedule: "+strings.Join(what, ", ")+"; "+cause)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
