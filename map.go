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
// input is never read ahead.
//
// If the loop stops early, or ctx ends, Stream takes no more items, cancels
// the calls under way and waits for them before it returns; when ctx ends,
// the results of the calls under way are still yielded. Check ctx.Err()
// after the loop to tell whether the whole input was seen.
func Stream[T, R any](ctx context.Context, items iter.Seq[T], limit int, order Order, fn func(context.Context, T) (R, error)) iter.Seq2[int, Result[R]] {
	if limit <= 0 {
		limit = 1
	}
	return func(yield func(int, Result[R]) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		next, stop := iter.Pull(items)
		defer stop()

		type outcome struct {
			i int
			r Result[R]
		}
		// Every call sends exactly once, and at most limit calls are under
		// way or waiting to be yielded, so the channel never blocks them.
		finished := make(chan outcome, limit)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()

		held := make(map[int]Result[R], limit) // InputOrder: done, not yet yielded
		taken, yielded, busy := 0, 0, 0
		more := true
		for {
			for more && busy < limit && ctx.Err() == nil {
				item, ok := next()
				if !ok {
					more = false
					break
				}
				i := taken
				taken++
				busy++
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := call(ctx, func(ctx context.Context) (R, error) { return fn(ctx, item) })
					finished <- outcome{i, Result[R]{v, err}}
				}()
			}
			if busy == 0 {
				return
			}
			o := <-finished
			if order == CompletionOrder {
				busy--
				if !yield(o.i, o.r) {
					return
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
				busy--
				if !yield(yielded, r) {
					return
				}
				yielded++
			}
		}
	}
}
