package gather

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
)

// Order says in which order [Stream] yields its results.
type Order int

const (
	// InputOrder yields results in the order of the input, like [All].
	InputOrder Order = iota
	// CompletionOrder yields results as they finish, like [AsCompleted].
	CompletionOrder
)

// Stream calls fn on each item of items, an input of any length, with at
// most limit calls running at once (limit <= 0 means no limit, as for
// [Map] and [Group.SetLimit]), and yields each item's index in the input
// and its result, in the given order. A failed call does not stop the
// others: its error is in its Result. Stream panics if order is neither
// InputOrder nor CompletionOrder.
//
// Stream never holds more than limit items: in InputOrder a result that
// finished early waits for those before it, and keeps its slot until it is
// yielded. Items are taken from the input only as slots free up, so a long
// input is never read ahead; without a limit, every item is started as
// soon as it is read, and results wait for those before them without
// bound. The calls run on at most limit goroutines of Stream's own, started
// as they are needed, which also read the input: a result is yielded as
// soon as it is ready even while the input is slow to give its next item
// (a pipe, a network stream).
//
// If the loop stops early, or ctx ends, Stream takes no more items, cancels
// the calls under way and waits for them before it returns; when ctx ends,
// the results of the calls under way are still yielded. Check ctx.Err()
// after the loop to tell whether the whole input was seen. An iterator
// cannot be interrupted: if the input is blocked in its next item then,
// Stream returns once that item comes (it is not used) or the input ends.
// A panic in the input is raised again in the loop's goroutine.
func Stream[T, R any](ctx context.Context, items iter.Seq[T], limit int, order Order, fn func(context.Context, T) (R, error)) iter.Seq2[int, Result[R]] {
	if order != InputOrder && order != CompletionOrder {
		panic(fmt.Sprintf("gather: Stream: invalid Order %d (want InputOrder or CompletionOrder)", order))
	}
	if limit < 0 {
		limit = 0
	}
	return func(yield func(int, Result[R]) bool) {
		s := &stream[T, R]{fn: fn, limit: limit, ended: make(chan int, 1), quit: make(chan struct{})}
		s.ctx, s.cancel = context.WithCancel(callsOf(ctx))
		s.next, s.stop = iter.Pull(items)
		if limit > 0 {
			// A slot is taken for each item before it is read, and given
			// back once its result has been yielded: at most limit calls
			// are under way or waiting, and each sends once, so finished
			// never blocks them.
			s.slots = make(chan struct{}, limit)
			s.finished = make(chan outcome[R], limit)
		} else {
			s.finished = make(chan outcome[R], 64)
		}
		defer s.close()
		s.nworkers = 1
		s.workers.Add(1)
		go s.work()
		s.yieldAll(yield, order)
	}
}

type outcome[R any] struct {
	i int
	r Result[R]
}

// stream is one run of a Stream loop.
type stream[T, R any] struct {
	ctx      context.Context
	cancel   context.CancelFunc
	fn       func(context.Context, T) (R, error)
	limit    int             // 0: none
	slots    chan struct{}   // nil without a limit
	finished chan outcome[R] // the workers' results
	ended    chan int        // the number of items taken, once the input is over
	quit     chan struct{}   // closed when the loop is done: no one reads finished
	workers  sync.WaitGroup

	mu       sync.Mutex // guards the input and what follows
	next     func() (T, bool)
	stop     func()
	taken    int
	over     bool // the input has ended, failed, or must not be read any more
	panicked bool
	panicV   any
	nworkers int          // guarded by mu
	busy     atomic.Int32 // workers between taking an item and sending its result
}

// work is a worker: it takes a slot, then an item, calls fn, and sends the
// result, until the input is over. fn is called from here, with no call
// between, so that a worker stays within its first 2 KB of stack; a panic
// or runtime.Goexit in fn is that item's result, and a new worker takes
// the place of this one, which the panic unwound.
func (s *stream[T, R]) work() {
	current := -1 // the item fn is called on
	defer func() {
		if current >= 0 {
			err := failure(recover(), nil)
			s.busy.Add(-1)
			s.workers.Add(1)
			go s.work()
			s.send(outcome[R]{current, Result[R]{Err: err}})
		}
		s.workers.Done()
	}()
	for {
		if s.slots != nil {
			select {
			case s.slots <- struct{}{}:
			case <-s.ctx.Done():
				s.endInput()
				return
			}
		}
		item, i, ok := s.take()
		if !ok {
			if s.slots != nil {
				<-s.slots
			}
			return
		}
		current = i
		v, err := s.fn(s.ctx, item)
		current = -1
		s.busy.Add(-1)
		if !s.send(outcome[R]{i, Result[R]{v, err}}) {
			return
		}
	}
}

// send hands a result to the loop, and reports false if the loop has
// stopped (only without a limit can it be waiting).
func (s *stream[T, R]) send(o outcome[R]) bool {
	if s.slots != nil {
		s.finished <- o // never blocks: see Stream
		return true
	}
	select {
	case s.finished <- o:
		return true
	case <-s.quit:
		return false
	}
}

// take reads the next item, unless the input is over or the loop is
// stopping, and starts another worker if none would be left to read the
// item after it.
func (s *stream[T, R]) take() (item T, i int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return item, 0, false
	}
	if s.ctx.Err() != nil { // stopping wins over a free slot
		s.endInputLocked()
		return item, 0, false
	}
	item, ok = s.pull()
	if !ok {
		s.endInputLocked()
		return item, 0, false
	}
	i = s.taken
	s.taken++
	// Every worker busy: start one more to read the next item while this
	// one works, up to the limit. A Stream that yields as fast as its
	// calls end needs few; one of slow calls grows to its limit.
	if int(s.busy.Add(1)) >= s.nworkers && (s.limit == 0 || s.nworkers < s.limit) {
		s.nworkers++
		s.workers.Add(1)
		go s.work()
	}
	return item, i, true
}

// pull calls next, catching a panic in the input for the loop to raise.
func (s *stream[T, R]) pull() (item T, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.panicked, s.panicV = true, r
			ok = false
		}
	}()
	return s.next()
}

func (s *stream[T, R]) endInput() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endInputLocked()
}

// endInputLocked says, once, how many items were taken: no more will be.
func (s *stream[T, R]) endInputLocked() {
	if !s.over {
		s.over = true
		s.ended <- s.taken
	}
}

// yieldAll yields the results in order until every item taken has been
// yielded or the loop stops.
func (s *stream[T, R]) yieldAll(yield func(int, Result[R]) bool, order Order) {
	// InputOrder: results done, not yet yielded. With a limit, item i
	// waits in ring[i%limit]: at most limit items are taken and not
	// yielded, so two never share a place.
	var (
		ring    []outcome[R]
		present []bool
		held    map[int]Result[R]
	)
	if order == InputOrder {
		if s.limit > 0 {
			ring, present = make([]outcome[R], s.limit), make([]bool, s.limit)
		} else {
			held = make(map[int]Result[R])
		}
	}
	taken, inputOpen, yielded := 0, true, 0
	for inputOpen || yielded < taken {
		select {
		case taken = <-s.ended:
			inputOpen = false
			if s.panicked {
				return
			}
		case o := <-s.finished:
			if order == CompletionOrder {
				yielded++
				if !yield(o.i, o.r) {
					return
				}
				s.release()
				continue
			}
			if ring != nil {
				ring[o.i%s.limit], present[o.i%s.limit] = o, true
				for j := yielded % s.limit; present[j]; j = yielded % s.limit {
					r := ring[j].r
					ring[j], present[j] = outcome[R]{}, false
					yielded++
					if !yield(yielded-1, r) {
						return
					}
					s.release()
				}
				continue
			}
			held[o.i] = o.r
			for {
				r, ok := held[yielded]
				if !ok {
					break
				}
				delete(held, yielded)
				yielded++
				if !yield(yielded-1, r) {
					return
				}
			}
		}
	}
}

// release gives back the slot of a result that has been yielded.
func (s *stream[T, R]) release() {
	if s.slots != nil {
		<-s.slots
	}
}

// close stops the workers and waits for them, then stops the input (never
// while a worker reads it) and raises its panic, if it had one.
func (s *stream[T, R]) close() {
	s.cancel()
	close(s.quit)
	s.workers.Wait()
	s.stop()
	if s.panicked {
		panic(s.panicV)
	}
}
