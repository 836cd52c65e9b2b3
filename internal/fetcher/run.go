package fetcher

import (
	"context"
	"iter"
	"sync"
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

// stallReport is how long Run's input waits on a full window before
// Options.Stalled hears of it: a window that frees within it is only busy.
const stallReport = time.Second

// window returns how many records Run may hold in InputOrder, emitted or
// not: at least 4 x Concurrency, and as many more as holdBudget allows, so
// that one slow line does not leave the fetch slots idle while it lasts.
func (f *Fetcher) window() int {
	if f.hold > 0 {
		return f.hold
	}
	per := int64(holdPerRecord)
	if f.opts.Body {
		per += f.opts.MaxBody
	}
	return max(4*f.opts.Concurrency, int(min(holdBudget/per, 1<<20)))
}

// Run fetches each line of lines, at most Options.Concurrency at once, and
// calls emit with each line's record, from the calling goroutine, in the
// order Options.Order says. It returns when every line has its record, or
// with emit's error as soon as emit fails.
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
// window of records behind it (see [Fetcher.window]: 65,536 records, or
// fewer with Body), and only when that is full does the input wait, and
// Options.Stalled hears of it. Memory is bounded by that window and by
// Concurrency, whatever the length of the input.
func (f *Fetcher) Run(ctx context.Context, lines iter.Seq[Line], emit func(*Record) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	run := &runState{}
	if f.own != nil {
		stop := context.AfterFunc(ctx, func() { f.own.pool.abort(run) })
		defer stop()
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
	var window chan struct{} // InputOrder: a token per line read and not yet emitted
	stalled := make(chan struct{}, 1)
	if inOrder {
		window = make(chan struct{}, f.window())
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
			if inOrder && !admit(window, stalled, quit) {
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
	for i := range c {
		g.Go(func(context.Context) error {
			var w worker
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
				<-window
			}
		case <-stalled:
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

// admit takes a token of window for the next line. When the window is
// full it waits, and tells stalled once it has waited stallReport. It
// reports false if quit closed first.
func admit(window chan struct{}, stalled chan struct{}, quit <-chan struct{}) bool {
	select {
	case window <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(stallReport)
	defer t.Stop()
	for {
		select {
		case window <- struct{}{}:
			return true
		case <-t.C:
			select {
			case stalled <- struct{}{}:
			default:
			}
		case <-quit:
			return false
		}
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
