package gather

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"
)

// All waits for every task and returns their values in the order of the
// arguments, whatever order they finished in, like asyncio.gather.
//
// If a task fails, All cancels the others with a cause that wraps the
// error, waits until every one of them has returned, and returns that first
// error. If ctx ends first, All cancels the tasks the same way and returns
// ctx's cause. Either way, no task is left running when All returns.
//
// This differs from Python's gather, which returns the first exception but
// leaves the other awaitables running. The errors of the other tasks are
// not lost: a task that stopped because of the cancellation has nothing to
// report, as a cancelled asyncio task, and any other error is left in its
// task, for its owner to read or for the unretrieved-error handler (see
// [SetUnretrievedHandler]). To get every outcome instead, use [Settle].
func All[T any](ctx context.Context, tasks ...*Task[T]) ([]T, error) {
	defer markAwaitTasks(ctx, "All", tasks).end()
	w := watchCount(tasks)
	select {
	case <-w.all:
	case st := <-w.failed:
		return nil, failAll(tasks, st, w)
	case <-ctx.Done():
		cause := context.Cause(ctx)
		cancelAll(tasks, cause, w)
		return nil, cause
	}
	// A failure may have come with the last task: check before the values.
	select {
	case st := <-w.failed:
		return nil, failAll(tasks, st, w)
	default:
	}
	values := make([]T, len(tasks))
	for i, t := range tasks {
		values[i], _ = t.take()
	}
	return values, nil
}

// failAll cancels the others when a task has failed with st, waits until
// all have returned, and returns the error, which counts as read.
func failAll[T any](tasks []*Task[T], st *taskState, w *countWaiter) error {
	cancelAll(tasks, fmt.Errorf("gather: another task failed: %w", st.err), w)
	st.retrieved.Store(true)
	return st.err
}

// countWaiter counts tasks down to zero, and keeps the first failure. It
// wakes its goroutine at most twice, however many tasks it waits for.
type countWaiter struct {
	left   atomic.Int64
	all    chan struct{}   // closed when left reaches zero
	failed chan *taskState // the first failure, if any
	one    watcher         // in the list of every task that has no other watcher
}

func (c *countWaiter) finished(_ int, fail *taskState) {
	if fail != nil {
		c.failedWith(fail)
	}
	if c.left.Add(-1) == 0 {
		close(c.all)
	}
}

// failedWith keeps fail if it is the first failure.
func (c *countWaiter) failedWith(fail *taskState) {
	select {
	case c.failed <- fail:
	default:
	}
}

// watchCount makes a countWaiter watch every task. It needs no index of
// the task that finishes, so one watcher serves every task whose list is
// empty, the usual case, and All and Settle allocate nothing per task but
// their results; the few tasks that others watch too get one each.
func watchCount[T any](tasks []*Task[T]) *countWaiter {
	c := &countWaiter{all: make(chan struct{}), failed: make(chan *taskState, 1)}
	c.one.w = c
	c.left.Store(int64(len(tasks)) + 1)
	// Tasks that have finished already, most of them when All comes after
	// the spawning, need no watcher and are counted here, with one atomic
	// add for all of them rather than one each on a counter that the tasks
	// still running decrement from other threads.
	var finished int64
	for i, t := range tasks {
		if t.ctx.watchers.Load() == finishedMark {
			finished++ // a success: nothing more to look at
			continue
		}
		if t.isFinished() || !t.watchAlone(&c.one) && !t.watch(&watcher{w: c, i: i}) {
			finished++
			if st := t.failure(); st != nil {
				c.failedWith(st)
			}
		}
	}
	// The +1 above kept c.all open while watching.
	if c.left.Add(-finished-1) == 0 {
		close(c.all)
	}
	return c
}

// chanWaiter receives the index of each task as it finishes; it must have
// room for all of them.
type chanWaiter chan int

func (c chanWaiter) finished(i int, _ *taskState) { c <- i }

func watchChan[T any](tasks []*Task[T]) (chanWaiter, []watcher) {
	c := make(chanWaiter, len(tasks))
	return c, watchEach(tasks, c)
}

// watchEach makes w watch every task, telling it at once of those that
// have finished already, and returns the watchers for unwatchEach.
func watchEach[T any](tasks []*Task[T], w waiter) []watcher {
	nodes := make([]watcher, len(tasks))
	for i, t := range tasks {
		nodes[i].w, nodes[i].i = w, i
		// A task that has finished needs no watcher, nor its lock.
		if t.isFinished() || !t.watch(&nodes[i]) {
			w.finished(i, t.failure())
		}
	}
	return nodes
}

// unwatchEach undoes watchEach. A task that is finishing meanwhile may still
// tell its waiter, which must not mind.
func unwatchEach[T any](tasks []*Task[T], nodes []watcher) {
	for i, t := range tasks {
		t.unwatch(&nodes[i])
	}
}

// cancelAll cancels every task with cause and waits until all have
// returned, when w.all closes. The errors that the cancellation caused need
// no reading: a task that stops because it was cancelled is never reported
// (see Task).
func cancelAll[T any](tasks []*Task[T], cause error, w *countWaiter) {
	for _, t := range tasks {
		t.Cancel(cause)
	}
	<-w.all
}

// causedBy reports whether err is what a function returns when its context
// is cancelled with cause.
func causedBy(err, cause error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, cause)
}

// Settle waits for every task and returns all their outcomes in the order
// of the arguments, like asyncio.gather(..., return_exceptions=True). A
// failed task does not stop the others.
//
// If ctx ends first, Settle cancels the unfinished tasks with ctx's cause
// and waits for them, so every Result holds what its task really returned.
func Settle[T any](ctx context.Context, tasks ...*Task[T]) []Result[T] {
	defer markAwaitTasks(ctx, "Settle", tasks).end()
	w := watchCount(tasks)
	select {
	case <-w.all:
	case <-ctx.Done():
		cancelAll(tasks, context.Cause(ctx), w)
	}
	results := make([]Result[T], len(tasks))
	for i, t := range tasks {
		v, err := t.take()
		results[i] = Result[T]{Value: v, Err: err}
	}
	return results
}

// Until says when [Wait] returns.
type Until int

const (
	// AllCompleted waits until every task has finished.
	AllCompleted Until = iota
	// FirstCompleted waits until any task has finished.
	FirstCompleted
	// FirstError waits until any task has failed, or every task has
	// finished.
	FirstError
)

// Wait waits for tasks until the condition until is met or ctx ends, like
// asyncio.wait, and returns the tasks that have finished, in the order they
// finished, and those still running, in the order given. A deadline on ctx
// is the timeout. Wait cancels nothing, and it reads no errors: call
// [Task.Result] on the done tasks. Wait panics if until is not one of
// AllCompleted, FirstCompleted and FirstError.
func Wait[T any](ctx context.Context, tasks []*Task[T], until Until) (done, pending []*Task[T]) {
	if until != AllCompleted && until != FirstCompleted && until != FirstError {
		panic(fmt.Sprintf("gather: Wait: invalid Until %d (want AllCompleted, FirstCompleted or FirstError)", until))
	}
	defer markAwaitTasks(ctx, "Wait", tasks).end()
	ch, nodes := watchChan(tasks)
	left := len(tasks)
	finished := make([]bool, len(tasks))
	add := func(i int) bool {
		finished[i] = true
		done = append(done, tasks[i])
		left--
		switch until {
		case FirstCompleted:
			return true
		case FirstError:
			return tasks[i].failure() != nil || left == 0
		}
		return left == 0
	}
loop:
	for left > 0 {
		select {
		case i := <-ch:
			if add(i) {
				break loop
			}
		case <-ctx.Done():
			break loop
		}
	}
	// Count in those that finished while we were deciding, so that done and
	// pending agree with the tasks' own state as far as possible.
	for {
		select {
		case i := <-ch:
			add(i)
			continue
		default:
		}
		break
	}
	for i, t := range tasks {
		if !finished[i] {
			pending = append(pending, t)
		}
	}
	if len(pending) > 0 {
		unwatchEach(tasks, nodes)
	}
	return done, pending
}

// AsCompleted returns an iterator over tasks in the order they finish, like
// asyncio.as_completed. It stops early when ctx ends; check ctx.Err() after
// the loop to tell a timeout from the end of the tasks. AsCompleted reads
// no errors: call [Task.Result] or [Task.Await] on each task it yields.
func AsCompleted[T any](ctx context.Context, tasks ...*Task[T]) iter.Seq[*Task[T]] {
	return func(yield func(*Task[T]) bool) {
		ch, nodes := watchChan(tasks)
		for left := len(tasks); left > 0; left-- {
			select {
			case i := <-ch:
				if !yield(tasks[i]) {
					unwatchEach(tasks, nodes)
					return
				}
			case <-ctx.Done():
				unwatchEach(tasks, nodes)
				return
			}
		}
	}
}
