package gather

import (
	"context"
	"fmt"
	"time"
)

// ErrTimeout is the error of [WaitFor] when the time runs out. It matches
// [context.DeadlineExceeded] with [errors.Is], so code that checks for
// either works.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string { return "gather: timed out" }

func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// WaitFor waits at most d for the task to finish, like asyncio.wait_for. If
// the time runs out, it cancels the task with cause [ErrTimeout], waits until
// the task function has returned, and returns an error that wraps
// ErrTimeout. If ctx ends first, the task is cancelled the same way and
// ctx's cause is returned. Either way, the task has returned when WaitFor
// does. What the stopped task returned is still in it: an error of its own,
// rather than one caused by the cancellation, is not taken as read, so
// read it with [Task.Result] or it is reported as unretrieved.
func WaitFor[T any](ctx context.Context, t *Task[T], d time.Duration) (T, error) {
	if t.isFinished() {
		return t.take()
	}
	defer markAwait(ctx, "WaitFor", t.ctx.node()).end()
	timer := time.NewTimer(d)
	defer timer.Stop()
	var cause error
	select {
	case <-t.Done():
		return t.take()
	case <-timer.C:
		cause = ErrTimeout
	case <-ctx.Done():
		cause = context.Cause(ctx)
	}
	t.Cancel(cause)
	<-t.Done()
	// An error caused by the cancellation is not reported (see Task), but
	// one of the task's own is left in it, for Result or the report.
	var zero T
	if cause == ErrTimeout {
		return zero, fmt.Errorf("gather: task did not finish within %v: %w", d, ErrTimeout)
	}
	return zero, cause
}

// Sleep pauses the calling goroutine for d, like asyncio.sleep, and returns
// nil; it returns early, with ctx's cause, if ctx ends first.
//
// In a task's own context, Sleep costs one timer and no channel: a task
// that only sleeps never makes its context (see [Go]).
func Sleep(ctx context.Context, d time.Duration) error {
	// The path of a sleep is kept to small frames, and the tree's mark to
	// a function of its own: a goroutine that sleeps blocks deep in the
	// runtime (select, then the timer heap), and a task whose stack
	// crosses the 2 KB a goroutine starts with there pays for a copy to 4
	// KB, 2 KB more per sleeping task (bench/scale).
	if marking() {
		return sleepMarked(ctx, d)
	}
	if tc, own := ctx.(*taskCtx); own {
		return tc.sleepFor(d)
	}
	return sleepIn(ctx, d)
}

// sleepIn is Sleep in a context other than a task's own.
func sleepIn(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	timer := time.NewTimer(d)
	err := sleepOn(ctx, timer)
	timer.Stop()
	return err
}

// sleepMarked is Sleep that shows in the task tree and the execution trace.
func sleepMarked(ctx context.Context, d time.Duration) error {
	if d > 0 {
		defer markSleep(ctx, d).end()
	}
	if tc, own := ctx.(*taskCtx); own {
		return tc.sleepFor(d)
	}
	return sleepIn(ctx, d)
}

// sleepOn waits for timer or the end of ctx.
func sleepOn(ctx context.Context, timer *time.Timer) error {
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
