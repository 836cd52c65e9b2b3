package gather

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Map calls fn on every item with at most limit calls running at once, and
// returns the results in the order of items. A limit of zero or less means
// no limit, as for [Group.SetLimit] and [Stream]: one call per item, all
// at once.
//
// Map runs min(limit, len(items)) goroutines, each taking the next item, so
// mapping a million items costs a million calls, not a million goroutines.
//
// If a call fails, Map cancels the context of the others, stops taking
// items, waits for the calls under way, and returns that first error,
// joined with [errors.Join] to any other failure that was not caused by the
// cancellation; a single error is returned as it is. If ctx ends before
// every item is done, Map stops the same way and returns ctx's cause, or
// the failures not caused by it if there are any. Map returns a nil slice
// whenever it returns an error.
//
// Map is how to hold many waits in little memory: a million items that
// each wait a second, at limit 1,000, take 1,000 goroutines (about 8 MB)
// and 1,000 seconds, where a task per item takes a million goroutines
// (about 3 GB) and a second. Choose the limit from the time you have.
func Map[T, R any](ctx context.Context, items []T, limit int, fn func(context.Context, T) (R, error)) ([]R, error) {
	if limit <= 0 || limit > len(items) {
		limit = len(items)
	}
	defer markAwait(ctx, "Map").end()
	ctx = callsOf(ctx)
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
			// A panic, or runtime.Goexit, in fn fails Map and ends this
			// worker, as an error does. One deferred call per worker,
			// not per item, and fn called from here, keep a worker
			// within its first 2 KB of stack, like a bare goroutine.
			returned := false
			defer func() {
				if !returned {
					fail(failure(recover(), nil))
				}
				wg.Done()
			}()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					break
				}
				r, err := fn(ctx, items[i])
				if err != nil {
					fail(err)
					break
				}
				results[i] = r
			}
			returned = true
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

// callsOf returns the context for the calls of Map or Stream: while waits
// are recorded, one whose waits are nobody's, or a call's Sleep would show
// as the caller's, which awaits Map.
func callsOf(ctx context.Context) context.Context {
	if !marking() {
		return ctx
	}
	return context.WithValue(ctx, nodeKey{}, (*node)(nil))
}
