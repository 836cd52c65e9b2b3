package loadgen

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/targets"
)

// A Doer sends one request and reads its response on a connection that one
// worker owns. The request is r: its target, picked for it, and the values
// the target's templates render ([targets.Request]); a client renders it
// in the form it sends (HTTP/1.1 bytes, or method, path, fields and body
// for HTTP/2), and may keep r's pointer only until Do returns. Do must be
// safe to call again after an error (a failed connection is replaced) and
// must return soon after ctx ends. It returns the HTTP status and the
// number of response body bytes read (decoded: without headers, chunk
// framing or trailers).
type Doer interface {
	Do(ctx context.Context, r *targets.Request) (status int, bytes int64, err error)
	Close() error
}

// maxRecorders bounds the number of recorders (about 380 KiB of address
// space each, and tens of µs each to merge). Up to this many connections
// every worker owns its recorder; beyond it, workers share recorders
// behind a mutex each, which at that many connections is held for about
// 50 ns per request of ones that last far longer.
const maxRecorders = 128

// recordersFor returns how many recorders conns workers get when the run
// reports names target names: each name costs a recorder one histogram
// more (see [report.Recorder.TrackTargets]), so that many names mean
// fewer recorders, shared, and the histograms stay within the budget of
// maxRecorders recorders of two.
func recordersFor(conns, names int) int {
	n := maxRecorders
	if names > 1 {
		n = max(1, 2*maxRecorders/(2+names))
	}
	return min(conns, n)
}

// lateSlack is how far past its due time a request may be sent before it
// counts as late: scheduling noise, not a busy connection.
const lateSlack = time.Millisecond

// workerStats is a worker's (or an event loop's) own measure of its
// pacing in the open model, merged after the run.
type workerStats struct {
	lag       lagHistogram  // send minus due time, every request
	overshoot time.Duration // timer wake-ups past the due time, summed
	wakeups   int64
	lastSent  time.Time // of the last request
	sent      int64     // requests sent
	// Late requests by cause: a connection came free only after the due
	// time (lateBusy), or one was free and the generator was slow
	// (lateFree).
	lateBusy, lateFree int64
	// unread sums how long the answers read while the loop wanted them
	// at once had waited in its sockets (report.Generator.UnreadWait);
	// unreads counts them.
	unread  time.Duration
	unreads int64
	// cut counts the requests in flight when the run stopped (ctx ended):
	// sent, never answered nor failed. Every engine counts them, in either
	// model.
	cut int64
}

// workers is the engine of one goroutine per connection, each with its
// own Doer, as children of a gather Group.
type workers struct {
	client string // what the doers are, for String
	doers  []Doer
	recs   []*report.Recorder
	locks  []sync.Mutex // one per recorder, used if workers share them
	stats  []workerStats
}

func newWorkers(ctx context.Context, conns, names int, client string, newDoer func(context.Context, int) (Doer, error)) (*workers, error) {
	nrec := recordersFor(conns, names)
	w := &workers{
		client: client,
		doers:  make([]Doer, conns),
		recs:   make([]*report.Recorder, nrec),
		locks:  make([]sync.Mutex, nrec),
		stats:  make([]workerStats, conns),
	}
	for i := range w.recs {
		w.recs[i] = report.NewRecorder()
	}
	for i := range w.doers {
		d, err := newDoer(ctx, i)
		if err != nil {
			for _, d := range w.doers[:i] {
				d.Close()
			}
			return nil, err
		}
		w.doers[i] = d
	}
	return w, nil
}

func (w *workers) String() string {
	client := w.client
	if d, ok := w.doers[0].(namedDoer); ok {
		client = d.client()
	}
	return count(len(w.doers), "goroutine") + ", " + client
}

func (w *workers) problems() []string { return nil }

func (w *workers) recorders() []*report.Recorder { return w.recs }

func (w *workers) run(ctx context.Context, r *run) []workerStats {
	nrec := len(w.recs)
	shared := len(w.doers) > nrec
	g := gather.NewGroup(ctx)
	for i, d := range w.doers {
		rec := w.recs[i%nrec]
		var mu *sync.Mutex
		if shared {
			mu = &w.locks[i%nrec]
		}
		st := &w.stats[i]
		// Go fails only once ctx has ended: the run is over then, and the
		// workers not started have nothing to report.
		_ = g.Go(func(wctx context.Context) error {
			r.work(wctx, ctx, d, i, rec, mu, st)
			return nil
		})
	}
	g.Wait() // workers return nil: interruption is not a failure here
	return w.stats
}

func (w *workers) close() {
	for _, d := range w.doers {
		d.Close()
	}
}

// work is one worker's loop: claim a request, wait for its due time (open
// model), send it, record it. runCtx is the run's context, whose end
// aborts the doers (see newH1Doer): it ends a moment before ctx, the
// worker's own, so a request it aborted is seen as cut, not failed.
func (r *run) work(ctx, runCtx context.Context, d Doer, place int, rec *report.Recorder, mu *sync.Mutex, st *workerStats) {
	p := r.plan
	var timer *time.Timer
	if r.sched != nil || r.ramp != nil {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	var deadline time.Time
	if p.Duration > 0 {
		deadline = r.t0.Add(p.Duration)
	}
	timed, _ := d.(timedDoer)
	req := r.set.NewRequest()
	now := time.Now()
	for ctx.Err() == nil && runCtx.Err() == nil {
		var due time.Time
		var seq int64
		late := false
		if r.sched != nil {
			i := r.next.Add(1) - 1
			seq = i
			off, ok := r.sched.due(i)
			if !ok {
				return
			}
			if !deadline.IsZero() && !now.Before(deadline) {
				return // the run is over: what is due and not sent is dropped
			}
			due = r.t0.Add(off)
			if wait := due.Sub(now); wait > 0 {
				if !sleep(ctx, timer, wait) {
					return
				}
				now = time.Now()
				st.overshoot += now.Sub(due)
				st.wakeups++
				if now.Sub(due) > lateSlack {
					late = true
					st.lateFree++
				}
			} else if -wait > lateSlack {
				late = true
				st.lateBusy++
			}
			st.lag.add(now.Sub(due))
			st.lastSent = now
			st.sent++
		} else {
			if r.ramp != nil {
				var ok bool
				if now, ok = r.admit(ctx, timer, place, now); !ok {
					return
				}
			}
			if p.Requests > 0 || r.seq {
				seq = r.next.Add(1) - 1
				if p.Requests > 0 && seq >= p.Requests {
					return
				}
			}
			if !deadline.IsZero() && !now.Before(deadline) {
				return
			}
			due = now
		}
		sent := now
		req.Next(p.Segment.Global(seq), now) // the whole run's number, for a segment
		status, n, err := d.Do(ctx, req)
		now = time.Now()
		if err != nil && (ended(ctx, now) || runCtx.Err() != nil) {
			st.cut++
			return // interrupted, not failed
		}
		s := report.Sample{
			Response: now.Sub(due),
			Service:  now.Sub(sent),
			Status:   status,
			Bytes:    n,
			Err:      Classify(err),
			Error:    err,
			Late:     late,
			End:      now,
			Target:   req.Target.NameID(),
		}
		if s.Err != report.ErrNone {
			s.Status = 0
		}
		if mu != nil {
			mu.Lock()
		}
		if timed != nil {
			timed.timings().record(rec, &s)
		}
		rec.Record(s)
		if mu != nil {
			mu.Unlock()
		}
	}
}

// sleep waits d on timer, and reports false if ctx ended first.
func sleep(ctx context.Context, timer *time.Timer, d time.Duration) bool {
	timer.Reset(d)
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		timer.Stop()
		return false
	}
}

// admit waits until the ramp's level reaches the worker's place, and
// returns the time then; false if it never does again before the end.
func (r *run) admit(ctx context.Context, timer *time.Timer, place int, now time.Time) (time.Time, bool) {
	for {
		off := now.Sub(r.t0)
		if d := r.plan.Duration; d > 0 && off >= d {
			return now, false
		}
		pl := r.plan.Segment.rampPlace(place)
		if pl < math.Floor(r.ramp.level(off)+1e-9) {
			return now, true
		}
		at, ok := r.ramp.reach(pl+1, off)
		if !ok || !sleep(ctx, timer, at-off) {
			return now, false
		}
		now = time.Now()
	}
}
