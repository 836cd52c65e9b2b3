package fetcher

import (
	"context"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gather-dev/gather"
)

// holdBudget bounds the memory of the records Run holds back in
// InputOrder behind a slow line, at about holdPerRecord bytes each (a
// record and its strings), plus MaxBody each with Body.
const (
	holdBudget    = 64 << 20
	holdPerRecord = 1 << 10
)

// softHold is how many records Run holds in InputOrder, at least, before
// the window widens: enough for the records a line's ordinary lateness
// (a scheduling delay, a retry) holds back, in a fraction of a MiB.
const softHold = 4096

// widenAfter is how long Run's input waits on the soft window before it
// widens to the full one: a line that holds the window this long is slow,
// not late, and the fetches are not to wait for it.
const widenAfter = 100 * time.Millisecond

// stallReport is how long Run's input waits on a full window before
// Options.Stalled hears of it: a window that frees within it is only busy.
const stallReport = time.Second

// windows returns how many records Run may hold in InputOrder, emitted or
// not: soft as a rule, full once a slow line has held soft for widenAfter.
// full is at least 4 x Concurrency, and as many more as holdBudget allows,
// so that one slow line does not leave the fetch slots idle while it
// lasts; soft, no more than full, is what a run without slow lines needs,
// so that its memory stays small.
func (f *Fetcher) windows() (soft, full int) {
	if f.hold > 0 {
		if f.softHold > 0 {
			return min(f.softHold, f.hold), f.hold
		}
		return f.hold, f.hold
	}
	per := int64(holdPerRecord)
	if f.opts.Body {
		per += f.opts.MaxBody
	}
	full = max(4*f.opts.Concurrency, int(min(holdBudget/per, 1<<20)))
	return min(max(4*f.opts.Concurrency, softHold), full), full
}

// Run fetches each line of lines, at most Options.Concurrency at once, and
// calls emit with each line's record, from the calling goroutine, in the
// order Options.Order says. It returns when every line has its record, or
// with emit's error as soon as emit fails.
//
// As its input runs out, Run closes the idle connections that the fetches
// still under way cannot use, so that the exit does not pay for their
// closes; it leaves them to another Run of the Fetcher under way at the
// same time. A later Run dials anew.
//
// When ctx ends, Run goes on reading lines: the requests under way end,
// and every line not yet fetched gets a record of kind [KindCancelled] at
// once, so the output is complete. The caller decides how long the input
// lasts: a file ends soon, a pipe when its writer closes it.
//
// Concurrency goroutines fetch the lines in input order, one at a time
// each; lines is read from another goroutine, a line ahead for each of
// them, so that one that frees up finds its next line ready. A
// record is emitted as soon as it is done (CompletionOrder) or as soon as
// the records before it are (InputOrder). In InputOrder a slow line holds
// back the records after it, but not their fetches: Run holds up to a
// window of records behind it (see [Fetcher.windows]: 4,096 records, and
// 65,536, or fewer with Body, once the line has held the first 100 ms), and
// only when that is full does the input wait, and Options.Stalled hears of
// it. Memory is bounded by that window and by
// Concurrency, whatever the length of the input.
func (f *Fetcher) Run(ctx context.Context, lines iter.Seq[Line], emit func(*Record) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	run := &runState{}
	if f.own != nil {
		stop := context.AfterFunc(ctx, func() { f.own.pool.abort(run) })
		defer stop()
		f.own.pool.begin()
		defer f.own.pool.end()
	}
	inOrder := f.opts.Order == gather.InputOrder
	c := f.opts.Concurrency

	type job struct {
		seq  int
		line Line
	}
	type result struct {
		seq int
		rec Record
	}
	jobs := make(chan job, c) // a line ready for each goroutine that frees up
	results := make(chan result, c)
	var win *window // InputOrder: the lines read and not yet emitted
	if inOrder {
		win = newWindow(f.windows())
	}
	fetching := make([]fetchingLine, c)

	// The group's context ends only when a goroutine fails (a panic: a
	// bug, not an outcome) or emit does, never with ctx: lines go on
	// flowing to get their "cancelled" records.
	g := gather.NewGroup(context.WithoutCancel(ctx))
	quit := g.Context().Done()
	// A goroutine that fails ends the fetches under way. (At the end,
	// Wait ends the group's context too, when nothing is under way.)
	context.AfterFunc(g.Context(), func() { cancel(context.Cause(g.Context())) })
	g.Go(func(context.Context) error {
		defer close(jobs)
		seq := 0
		for l := range lines {
			if inOrder && !win.admit(seq, quit) {
				return nil
			}
			select {
			case jobs <- job{seq, l}:
			case <-quit:
				return nil
			}
			seq++
		}
		return nil
	})
	var fetchers atomic.Int64 // the goroutines that may still take a line
	fetchers.Store(int64(c))
	for i := range c {
		g.Go(func(context.Context) error {
			var w worker
			if f.own != nil {
				defer func() { f.own.pool.shed(int(fetchers.Add(-1))) }()
			}
			for j := range jobs {
				fetching[i].set(j.seq, j.line)
				rec := w.fetch(ctx, f, &j.line, run)
				fetching[i].set(-1, Line{})
				select {
				case results <- result{j.seq, rec}:
				case <-quit:
					return nil
				}
			}
			return nil
		})
	}
	ended := make(chan error, 1)
	go func() {
		ended <- g.Wait()
		close(results)
	}()

	var held reorder
	var done Record // the record emitted in CompletionOrder: emit's argument escapes, so it is reused
	reported := -1  // the line whose stall was reported
	var emitErr error
	for emitErr == nil {
		select {
		case r, ok := <-results:
			if !ok {
				return <-ended
			}
			if !inOrder {
				done = r.rec
				emitErr = emit(&done)
				continue
			}
			held.put(r.seq, &r.rec)
			for rec := held.pop(); rec != nil && emitErr == nil; rec = held.pop() {
				emitErr = emit(rec)
				*rec = Record{} // its strings are free to go
			}
			win.emitted(held.next)
			if held.count == 0 {
				held.shrink()
			}
		case <-win.stalledC():
			if f.opts.Stalled == nil || held.next == reported {
				continue
			}
			for i := range fetching {
				if l, ok := fetching[i].get(held.next); ok {
					reported = held.next
					f.opts.Stalled(l, held.count)
					break
				}
			}
		}
	}
	cancel(emitErr) // the fetches under way end before Run returns
	g.Cancel()
	for range results {
	}
	<-ended
	return emitErr
}

// A window bounds the lines Run has read in InputOrder and not yet
// emitted: soft of them as a rule, full once the input has waited on soft
// for widenAfter, until the lines held fall back under soft. The input
// goroutine admits lines; Run's goroutine says how many it has emitted.
type window struct {
	soft, full int
	limit      int           // soft or full: the input goroutine's alone
	done       atomic.Int64  // lines emitted
	advanced   chan struct{} // done has grown
	stalled    chan struct{} // the input has waited on the full window for stallReport
}

func newWindow(soft, full int) *window {
	return &window{soft: soft, full: full, limit: soft, advanced: make(chan struct{}, 1), stalled: make(chan struct{}, 1)}
}

// stalledC returns the channel Run's goroutine hears stalls on; nil (a
// channel that never delivers) without a window.
func (w *window) stalledC() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.stalled
}

// emitted says that the lines before sequence number next are emitted.
func (w *window) emitted(next int) {
	if w == nil {
		return
	}
	w.done.Store(int64(next))
	select {
	case w.advanced <- struct{}{}:
	default:
	}
}

// admit waits until line seq may be read, and reports false if quit
// closed first.
func (w *window) admit(seq int, quit <-chan struct{}) bool {
	var waited time.Time // since when the input waits on w.limit
	reported := false
	for {
		held := int64(seq) - w.done.Load()
		if held < int64(w.soft) {
			w.limit = w.soft // the slow line is done: back to the soft window
			return true
		}
		if held < int64(w.limit) {
			return true
		}
		now := time.Now()
		if waited.IsZero() {
			waited = now
		}
		wait := stallReport
		if w.limit < w.full {
			wait = widenAfter
		}
		if d := now.Sub(waited); d < wait {
			wait -= d
		} else if w.limit < w.full {
			w.limit, waited = w.full, time.Time{}
			continue
		} else {
			if !reported {
				reported = true
				select {
				case w.stalled <- struct{}{}:
				default:
				}
			}
			wait = time.Hour // only the window's advance matters now
		}
		t := time.NewTimer(wait)
		select {
		case <-w.advanced:
		case <-t.C:
		case <-quit:
			t.Stop()
			return false
		}
		t.Stop()
	}
}

// fetchingLine is the line one of Run's fetching goroutines is on, for
// the report of a stall. It holds a copy: a pointer to the goroutine's
// line would make every line escape to the heap.
type fetchingLine struct {
	mu   sync.Mutex
	seq  int // -1: none
	line Line
}

func (s *fetchingLine) set(seq int, l Line) {
	s.mu.Lock()
	s.seq, s.line = seq, l
	s.mu.Unlock()
}

// get returns the line if it is the one with sequence seq.
func (s *fetchingLine) get(seq int) (Line, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seq != seq || s.line.URL == nil && s.line.Err == nil {
		return Line{}, false
	}
	return s.line, true
}

// reorder holds the records that are done before the ones ahead of them in
// input order, in a ring indexed by their sequence number, which grows to
// the window Run allows.
type reorder struct {
	next  int // the sequence number of the next record to emit
	count int // records held
	recs  []Record
	has   []bool
}

// put holds rec, of sequence number seq >= r.next.
func (r *reorder) put(seq int, rec *Record) {
	for seq-r.next >= len(r.recs) {
		r.grow()
	}
	i := seq % len(r.recs)
	r.recs[i], r.has[i] = *rec, true
	r.count++
}

// pop returns the next record in input order, if it is held, and moves on;
// the record stays valid until the next put.
func (r *reorder) pop() *Record {
	if len(r.recs) == 0 {
		return nil
	}
	i := r.next % len(r.recs)
	if !r.has[i] {
		return nil
	}
	r.has[i] = false
	r.next++
	r.count--
	return &r.recs[i]
}

// shrink lets go of a ring grown behind a slow line, once it holds
// nothing: what a long run keeps is what it needs now.
func (r *reorder) shrink() {
	if r.count == 0 && len(r.recs) > 2*softHold {
		r.recs, r.has = nil, nil
	}
}

func (r *reorder) grow() {
	n := max(64, 2*len(r.recs))
	recs, has := make([]Record, n), make([]bool, n)
	for s := r.next; s < r.next+len(r.recs); s++ {
		if i := s % len(r.recs); r.has[i] {
			recs[s%n], has[s%n] = r.recs[i], true
		}
	}
	r.recs, r.has = recs, has
}
