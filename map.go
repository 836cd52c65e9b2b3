package gather

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
)

// Map calls fn on every item with at most limit calls running at once, and
// returns the results in the order of items. A limit of zero or less means
// one call per item, all at once.
//
// Map runs min(limit, len(items)) goroutines, each taking the next item, so
// mapping a million items costs a million calls, not a million goroutines.
//
// If a call fails, Map cancels the context of the others, stops taking
// items, waits for the calls under way, and returns that first error,
// joined with [errors.Join] to any other failure that was not caused by the
// cancellation; a single error is returned as it is. If ctx ends before
// every item is done, Map stops the same way and returns ctx's cause, or
// the failures not caused by it if there are any. Map returns a nil slice whenever it returns
// an error.
func Map[T, R any](ctx context.Context, items []T, limit int, fn func(context.Context, T) (R, error)) ([]R, error) {
	if limit <= 0 || limit > len(items) {
		limit = len(items)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]R, len(items))
	var (
		next   atomic.Int64
		mu     sync.Mutex
		errs   []error
		failed bool // a call failed, whether its error is in errs or not
		wg     sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failed = true
		// Once ctx has ended, by the parent or by an earlier failure,
		// errors it caused are noise: ctx's cause is reported instead.
		if ctx.Err() != nil && causedBy(err, context.Cause(ctx)) {
			return
		}
		errs = append(errs, err)
		if len(errs) == 1 {
			cancel(fmt.Errorf("gather: another call of Map failed: %w", err))
		}
	}
	wg.Add(limit)
	for range limit {
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return
				}
				r, err := call(ctx, func(ctx context.Context) (R, error) { return fn(ctx, items[i]) })
				if err != nil {
					fail(err)
					return
				}
				results[i] = r
			}
		}()
	}
	wg.Wait()
	switch {
	case len(errs) == 1:
		return nil, errs[0] // as it was returned, for == and type switches
	case len(errs) > 1:
		return nil, errors.Join(errs...)
	case failed || next.Load() < int64(len(items)):
		return nil, context.Cause(ctx) // ctx ended before every item was done
	}
	return results, nil
}

// Order says in which order [Stream] yields its results.
type Order int

const (
	// InputOrder yields results in the order of the input, like [All].
	InputOrder Order = iota
	// CompletionOrder yields results as they finish, like [AsCompleted].
	CompletionOrder
)

// Stream calls fn on each item of items, an input of any length, with at
// most limit calls running at once (limit <= 0 means 1), and yields each
// item's index in the input and its result, in the given order. A failed
// call does not stop the others: its error is in its Result.
//
// Stream never holds more than limit items: in InputOrder a result that
// finished early waits for those before it, and keeps its slot until it is
// yielded. Items are taken from the input only as slots free up, so a long
// input is never read ahead. The input is read on a goroutine of its own,
// so a result is yielded as soon as it is ready even while the input is
// slow to give its next item (a pipe, a network stream).
//
// If the loop stops early, or ctx ends, Stream takes no more items, cancels
// the calls under way and waits for them before it returns; when ctx ends,
// the results of the calls under way are still yielded. Check ctx.Err()
// after the loop to tell whether the whole input was seen. An iterator
// cannot be interrupted: if the input is blocked in its next item then,
// Stream returns once that item comes (it is not used) or the input ends.
// A panic in the input is raised again in the loop's goroutine.
func Stream[T, R any](ctx context.Context, items iter.Seq[T], limit int, order Order, fn func(context.Context, T) (R, error)) iter.Seq2[int, Result[R]] {
	if limit <= 0 {
		limit = 1
	}
	return func(yield func(int, Result[R]) bool) {
		ctx, cancel := context.WithCancel(ctx)
		type outcome struct {
			i int
			r Result[R]
		}
		type inputEnd struct {
			taken    int
			panicked bool
			value    any
		}
		// A slot is taken for each item before it is read, and given back
		// once its result has been yielded: at most limit calls are under
		// way or waiting, and each sends once, so finished never blocks
		// them.
		slots := make(chan struct{}, limit)
		finished := make(chan outcome, limit)
		ended := make(chan inputEnd, 1)
		var calls sync.WaitGroup

		go func() {
			var end inputEnd
			next, stop := iter.Pull(items)
			defer func() {
				if r := recover(); r != nil {
					end.panicked, end.value = true, r
				}
				stop()
				ended <- end
			}()
			for {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				if ctx.Err() != nil { // both were ready: stopping wins
					return
				}
				item, ok := next()
				if !ok {
					return
				}
				i := end.taken
				end.taken++
				calls.Add(1)
				go func() {
					defer calls.Done()
					v, err := call(ctx, func(ctx context.Context) (R, error) { return fn(ctx, item) })
					finished <- outcome{i, Result[R]{v, err}}
				}()
			}
		}()

		var end inputEnd
		inputOpen := true
		defer func() {
			cancel()
			if inputOpen {
				end = <-ended // no more calls start after this
			}
			calls.Wait()
			if end.panicked {
				panic(end.value)
			}
		}()

		var held map[int]Result[R] // InputOrder: done, not yet yielded
		if order == InputOrder {
			held = make(map[int]Result[R], limit)
		}
		yielded := 0
		for inputOpen || yielded < end.taken {
			select {
			case end = <-ended:
				inputOpen = false
				if end.panicked {
					return
				}
			case o := <-finished:
				if order == CompletionOrder {
					yielded++
					if !yield(o.i, o.r) {
						return
					}
					<-slots
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
					<-slots
				}
			}
		}
	}
}
