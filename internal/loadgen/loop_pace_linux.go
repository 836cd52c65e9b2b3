package loadgen

import (
	"math"
	"slices"
	"time"
)

// Pacing in the event loops: the open model's schedule, and the closed
// model's ramp of connections.
//
// In the open model each loop sends its share of the one schedule of the
// run. A loop claims the next request of the schedule (an atomic add on
// the run's counter) only when it has a free connection for it, so the
// requests go to whichever loop has connections free: a loop whose
// connections are all busy does not hold requests that another could
// send on time. The loop then sends the request at its due time: it
// sleeps until a moment before it (see loopTimer), spins the last few
// microseconds, and writes. A request that finds every connection of
// its loop busy waits for the first to come free and is sent late:
// counted as late (more than lateSlack after its due time), with its
// response time from its due time.
//
// In a closed model with a ramp, a connection whose place is above the
// level of the ramp waits between two requests, its connection kept
// open, until the level reaches it again. Places interleave across the
// loops (loop i of n holds places i, n+i, 2n+i...), so that a ramp
// spreads over every loop from its start; a segment's places are its
// share of the whole run's (see [Segment.rampPlace]).

// loopPacer is one loop's pacing state.
type loopPacer struct {
	run  *run
	open bool // the open model; else the closed model's ramp
	// idle holds the open model's free connections, and the ramp's
	// connections above its level, in place order.
	idle []*loopConn
	// idleFrom: since when idle has not been empty, from the earliest
	// time one of its connections was free (see park); what tells a late
	// request's cause (see generatorLate).
	idleFrom time.Time
	// next and last: the requests claimed and not yet sent, [next, last)
	// of the schedule, a run of consecutive requests; none if next ==
	// last. due is next's due time.
	next, last int64
	due        time.Time
	ended      bool      // the schedule holds nothing more for this loop
	admitAt    time.Time // when the ramp reaches the lowest idle place; zero: to find
	place      func(c *loopConn) int
	timer      loopTimer
	stats      workerStats
}

// newLoopPacer returns the pacer of loop index of n, or nil if the run
// has no pacing (a closed model without a ramp).
func newLoopPacer(l *eventLoop, r *run, index, n int) *loopPacer {
	if r.sched == nil && r.ramp == nil {
		return nil
	}
	p := &loopPacer{
		run:   r,
		open:  r.sched != nil,
		place: func(c *loopConn) int { return int(r.plan.Segment.rampPlace(int(c.id)*n + index)) },
		timer: newLoopTimer(l, r.plan),
	}
	return p
}

// hold is called for each connection that has become idle, before it
// claims a request. It reports whether the pacer took c: the open model
// takes every connection until a request is due for it (or retires it
// once the schedule is over); a ramp takes the connections above its
// level. A connection already held stays held, once: an epoll event on
// it (an EPOLLOUT edge as the ACK of its last request frees its send
// buffer) steps it again, and parked twice it would be taken twice, for
// a request while it carries another, or retired by end mid-request,
// its answer never read or counted.
func (p *loopPacer) hold(l *eventLoop, c *loopConn, now time.Time) bool {
	if c.held {
		return true
	}
	if p.ended {
		l.retire(c)
		return true
	}
	if p.open {
		p.unread(l, c, now)
		p.park(c, now)
		return true
	}
	if float64(p.place(c)) < math.Floor(p.run.ramp.level(now.Sub(p.run.t0))+1e-9) {
		return false
	}
	p.park(c, now)
	return true
}

// unread counts how long c's answer, which the loop has just read at now,
// waited in its socket: only while the loop wanted the answers at once
// (its set nested, see loopReap), not those it left for its next due time
// on purpose, with a free connection to spare.
func (p *loopPacer) unread(l *eventLoop, c *loopConn, now time.Time) {
	if l.reap == nil || !l.reap.nested || c.freed.IsZero() || !c.freed.Before(now) {
		return
	}
	p.stats.unread += now.Sub(c.freed)
	p.stats.unreads++
}

// park adds c to the idle connections: on top for the open model (the
// one that ran last is the warmest), in place order for a ramp.
//
// The connection counts as free from its answer's end where the kernel
// timed it (loopReap), not from the moment the loop read it: an answer
// that sat in the socket while the loop was busy elsewhere freed its
// connection when it came, and a request that then went late went late
// for the generator's sake, not the server's. (Counted from the read, a
// loop that fell behind at 0.9 of the closed model's maximum read its
// answers late and blamed nearly every late request on the server.)
func (p *loopPacer) park(c *loopConn, now time.Time) {
	free := now
	if !c.freed.IsZero() && c.freed.Before(now) {
		free = c.freed
	}
	if len(p.idle) == 0 || free.Before(p.idleFrom) {
		p.idleFrom = free
	}
	c.held = true
	if p.open {
		p.idle = append(p.idle, c)
		return
	}
	i, _ := slices.BinarySearchFunc(p.idle, p.place(c), func(a *loopConn, place int) int { return p.place(a) - place })
	p.idle = slices.Insert(p.idle, i, c)
	p.admitAt = time.Time{}
}

// dispatch sends the requests that are due (open model) or admits the
// connections the ramp has reached, and retires what the run no longer
// needs. The loop calls it after each batch of events and each wake-up.
func (p *loopPacer) dispatch(l *eventLoop) {
	if p.open {
		p.send(l)
	} else {
		p.admit(l)
	}
}

// send sends the due requests on free connections. A request is sent at
// its due time (the loop spins the last moment before it), or, at rates
// where the requests due within the slack share the loop's wake-up (see
// wake), up to the slack before it: the loop wakes on time for the first
// and sends with it those due within the slack after it.
func (p *loopPacer) send(l *eventLoop) {
	r := p.run
	now := time.Now()
	early := time.Duration(0) // how early a request may go: the slack, where requests share a wake-up
	for !p.ended && len(p.idle) > 0 && !l.stop.Load() {
		if p.next == p.last {
			n := p.claimable(now)
			i := r.next.Add(n) - n
			off, ok := r.sched.due(i)
			if !ok {
				p.end(l)
				return
			}
			p.next, p.last, p.due = i, i+n, r.t0.Add(off)
		}
		if r.plan.Duration > 0 && !now.Before(r.t0.Add(r.plan.Duration)) {
			// The run is over: what is due and not sent is dropped.
			p.end(l)
			return
		}
		wait := p.due.Sub(now)
		if early == 0 && p.sharing(p.due) {
			early = p.timer.slack
		}
		switch {
		case early > 0:
			if wait > early {
				return // the timer wakes the loop at its due time
			}
		case wait > p.timer.spin:
			return // the timer wakes the loop in time to spin
		default:
			for wait > 0 {
				now = time.Now()
				wait = p.due.Sub(now)
			}
		}
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		c.held = false
		lag := now.Sub(p.due)
		late := lag > lateSlack
		st := &p.stats
		st.lag.add(max(lag, 0)) // one sent early, within the slack, was not late at all
		st.sent++
		st.lastSent = now
		if late {
			if p.generatorLate(p.due) {
				st.lateFree++
			} else {
				st.lateBusy++
			}
		}
		if len(p.idle) == 0 {
			p.idleFrom = time.Time{}
		}
		seq, due := p.next, p.due
		if p.next++; p.next < p.last {
			off, ok := r.sched.due(p.next)
			if ok {
				p.due = r.t0.Add(off)
			} else {
				p.next = p.last // the schedule ends before them; end finds it
			}
		}
		l.begin(c, now, seq, due, late)
		l.step(c)
		now = time.Now()
	}
}

// generatorLate reports whether a request due at due and sent late went
// late for the generator's sake: a connection was free since before it
// was due (its answer had come, read or not), so the generator was slow
// to read or to send (its CPU, its timers, or the kernel keeping its
// thread off the CPU). Else it waited for the server to free one.
func (p *loopPacer) generatorLate(due time.Time) bool {
	return !p.idleFrom.After(due)
}

// claimable returns how many consecutive requests of the schedule the
// loop claims at once: those due within the slack after the next, where
// they share a wake-up (see sharing), at most one per free connection;
// else one. Claimed together, they go out in one wake-up of one loop:
// claimed one at a time, the loops would take turns, and each would wake
// for every other request. A loop that stalls holds as many late.
func (p *loopPacer) claimable(now time.Time) int64 {
	return min(p.batch(now), int64(len(p.idle)))
}

// batch returns how many requests the loop sends at a wake-up at now, if
// it has the connections for them.
func (p *loopPacer) batch(now time.Time) int64 {
	if !p.sharing(now) {
		return 1
	}
	return max(1, int64(p.perSecond(now)*p.timer.slack.Seconds()))
}

// spare reports whether the answers that come before the loop's next
// pacing wake-up may wait for it (see loopReap): whenever the loop has a
// free connection for the request then due. It reads every answer that
// has come before it sends, so the connections they free carry that
// wake-up's batch as they would have if read one by one; without a free
// connection it has no pacing wake-up and reads the answers as they come.
//
// It used to leave them only while it had more free connections than the
// batch: at 0.9 of the closed model's maximum, where a batch (the rate
// times the slack, 30 at 61,000 req/s) is more than half of 50
// connections, the loop then woke for nearly every answer (17,500
// wake-ups a second), and the CPU they took queued the answers and the
// requests behind them: every connection busy, requests late
// (docs/bench-paced.md).
func (p *loopPacer) spare() bool {
	return p.open && len(p.idle) > 0
}

// perSecond returns the run's rate at t: the segment's share of the
// schedule's.
func (p *loopPacer) perSecond(t time.Time) float64 {
	r := p.run
	return r.sched.rate.level(t.Sub(r.t0)) / float64(max(r.sched.seg.Count, 1))
}

// end marks the schedule over for this loop and retires its free
// connections; busy ones retire when their request ends.
func (p *loopPacer) end(l *eventLoop) {
	p.ended = true
	p.next = p.last
	for _, c := range p.idle {
		c.held = false
		l.retire(c)
	}
	p.idle = p.idle[:0]
}

// admit lets the ramp's connections below its level take requests again,
// once the level has reached the lowest of them, and retires the ones it
// will not reach again.
func (p *loopPacer) admit(l *eventLoop) {
	if len(p.idle) == 0 {
		return
	}
	r := p.run
	now := time.Now()
	if !p.admitAt.IsZero() && now.Before(p.admitAt) {
		return
	}
	off := now.Sub(r.t0)
	if r.plan.Duration > 0 && off >= r.plan.Duration {
		p.end(l)
		return
	}
	level := math.Floor(r.ramp.level(off) + 1e-9)
	n := 0
	for n < len(p.idle) && float64(p.place(p.idle[n])) < level {
		n++
	}
	ready := slices.Clone(p.idle[:n])
	p.idle = slices.Delete(p.idle, 0, n)
	if len(p.idle) > 0 {
		at, ok := r.ramp.reach(float64(p.place(p.idle[0])+1), off)
		if !ok {
			p.end(l) // the ramp never rises to them again
		}
		p.admitAt = r.t0.Add(at)
	}
	for _, c := range ready {
		c.held = false
		l.step(c) // which holds it again if the level fell meanwhile
	}
}

// wake returns when the loop must next wake for its pacing, zero if it
// need not.
func (p *loopPacer) wake() time.Time {
	if p.ended || len(p.idle) == 0 {
		return time.Time{}
	}
	if p.open {
		if p.next == p.last {
			return time.Now() // a request to claim: at once
		}
		if p.sharing(p.due) {
			return p.due // the requests due within the slack after it go with it
		}
		return p.due.Add(-p.timer.spin)
	}
	if p.admitAt.IsZero() {
		return time.Now() // to find at once
	}
	return p.admitAt
}

// sharing reports whether the requests due within the slack after due
// share the loop's wake-up for it: with a slack given, or, by default,
// where the rate makes them more than one.
func (p *loopPacer) sharing(due time.Time) bool {
	t := &p.timer
	return t.slack > 0 && (!t.auto || p.shares(due))
}

// shares reports whether, at the run's rate at due, at least two
// requests fall due within the slack: whether claiming them together and
// sending them early lets them share the wake-up. At lower rates the
// loops wake for each request, on time.
func (p *loopPacer) shares(due time.Time) bool {
	return p.perSecond(due)*p.timer.slack.Seconds() >= 2
}

// retire closes c for good: the run needs no more of it.
func (l *eventLoop) retire(c *loopConn) {
	l.closeConn(c)
	c.state = connRetired
	l.active--
}
