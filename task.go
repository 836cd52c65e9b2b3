package gather

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A Task is a function running in its own goroutine whose result can be
// awaited, like an asyncio.Task. Create one with [Go].
//
// A Task's methods may be called from any goroutine. The result of a task
// is set exactly once, when its function returns.
//
// An error that a task returns must be read by someone: by [Task.Await],
// [Task.Result], [All], [Settle] or [WaitFor]. A failed task
// that is garbage-collected with its error unread, or that is still unread
// when [Run] ends, is reported to the handler set with
// [SetUnretrievedHandler], as Python reports "Task exception was never
// retrieved". As in asyncio, where a cancelled task has no exception to
// retrieve, a task whose context had been cancelled when its function
// returned an error caused by that (one that matches [context.Canceled],
// [context.DeadlineExceeded] or the cancellation cause) is not reported;
// nor is a task started by [Spawn], whose error its [Group] reads.
type Task[T any] struct {
	ctx      taskCtx
	value    T
	err      error
	state    *taskState  // set only if err must be read, before finished
	finished atomic.Bool // value, err and state are final once it is true
	owned    bool        // a Group reads the error: never report it

	mu       sync.Mutex
	done     chan struct{} // made by the first Done that needs it
	watchers *watcher      // told when the task finishes
}

// A waiter is told, by the goroutine that finished it, when each task it
// watches finishes: that is how one goroutine waits for many tasks without
// a goroutine, or a channel, per task. finished must not block.
type waiter interface {
	finished(i int, failed bool)
}

// A watcher links a waiter into a task's list, with the index that the
// waiter knows the task by.
type watcher struct {
	w    waiter
	i    int
	next *watcher
}

// watch adds w to the task's watchers and reports whether it will be told;
// false means the task has finished already.
func (t *Task[T]) watch(w *watcher) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished.Load() {
		return false
	}
	w.next = t.watchers
	t.watchers = w
	return true
}

// unwatch removes w from the task's watchers, if it is still there, so that
// a waiter that gives up early (Wait, AsCompleted) leaves nothing behind on
// a task that goes on running: a loop of Wait(FirstCompleted) over the
// pending tasks, the asyncio idiom, would otherwise pile up one watcher per
// task per call. The lists are short when everyone unwatches.
func (t *Task[T]) unwatch(w *watcher) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p := &t.watchers; *p != nil; p = &(*p).next {
		if *p == w {
			*p = w.next
			return
		}
	}
}

// taskState is the part of a task that outlives it: the garbage-collection
// cleanup must not refer to the Task itself, or the Task would never be
// collected.
type taskState struct {
	retrieved atomic.Bool
	err       error
}

// Go starts fn in a new goroutine and returns its task, like
// asyncio.create_task. fn receives a child of ctx that is cancelled when ctx
// is, when the task is cancelled with [Task.Cancel], and after fn returns
// (with cause [ErrTaskReturned]).
//
// A panic in fn does not crash the program: it is recovered and becomes the
// task's error, a [*PanicError].
//
// Go costs a goroutine and two allocations; the task's context costs two
// more if fn looks at it (see the benchmarks for times).
func Go[T any](ctx context.Context, fn func(context.Context) (T, error)) *Task[T] {
	return start(ctx, fn, false)
}

// start starts a task; owned says that a Group reads its error, so that it
// is never reported as unretrieved.
func start[T any](ctx context.Context, fn func(context.Context) (T, error), owned bool) *Task[T] {
	t := &Task[T]{ctx: taskCtx{parent: ctx}, owned: owned}
	tr := trackerFrom(ctx)
	if tr != nil && !tr.add() {
		tr = nil // Run has stopped waiting
	}
	go t.run(fn, tr)
	return t
}

func (t *Task[T]) run(fn func(context.Context) (T, error), tr *tracker) {
	defer t.finish(tr)
	t.err = errGoexit // stays if fn calls runtime.Goexit, so that finish still runs
	t.value, t.err = call(&t.ctx, fn)
}

// errGoexit is the error of a task whose function called runtime.Goexit,
// as t.FailNow does in a test.
var errGoexit = errors.New("gather: task function called runtime.Goexit")

func (t *Task[T]) finish(tr *tracker) {
	var st *taskState
	// Only failed tasks pay for a cleanup: a success has nothing to lose.
	// Nor has a task that stopped because it was cancelled, as in asyncio,
	// where a cancelled task has no exception to retrieve; that must be
	// decided before the context is cancelled below.
	if t.err != nil && !t.owned && !t.stoppedByCancel() {
		st = &taskState{err: t.err}
		t.state = st
		runtime.AddCleanup(t, reportIfUnretrieved, st)
	}
	t.ctx.cancelWith(ErrTaskReturned)
	t.mu.Lock()
	t.finished.Store(true)
	done, watchers := t.done, t.watchers
	t.watchers = nil
	t.mu.Unlock()
	if done != nil {
		close(done)
	}
	for w := watchers; w != nil; w = w.next {
		w.w.finished(w.i, t.err != nil)
	}
	if tr != nil {
		tr.done(st)
	}
}

// stoppedByCancel reports whether the task's error is what a function
// returns when its context is cancelled, and the context was cancelled.
func (t *Task[T]) stoppedByCancel() bool {
	cause := t.ctx.cancelledBy()
	return cause != nil && causedBy(t.err, cause)
}

// call runs fn, turning a panic into a *PanicError.
func call[T any](ctx context.Context, fn func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = newPanicError(r)
		}
	}()
	return fn(ctx)
}

// ErrTaskReturned is the cause with which a task's context is cancelled when
// its function returns. The function itself never sees it, but tasks it
// started from that context and did not wait for do: they are cancelled with
// it, so a task cannot leave work running behind it by accident. Start such
// work from an outer context to let it outlive the task.
var ErrTaskReturned = errors.New("gather: task returned")

// Done returns a channel that is closed when the task's function has
// returned.
func (t *Task[T]) Done() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done == nil {
		if t.finished.Load() {
			return closed
		}
		// Made on demand: most tasks are waited for by All or a Group,
		// which need no channel per task.
		t.done = make(chan struct{})
	}
	return t.done
}

// closed is a closed channel, the Done of every task that finished before
// anyone asked.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Await waits for the task to finish and returns its value and error. If ctx
// ends first, Await returns ctx's error (its cause, if it has one) and the
// task goes on running: awaiting is not owning. To stop the task as well,
// use [WaitFor] or call [Task.Cancel].
func (t *Task[T]) Await(ctx context.Context) (T, error) {
	if t.finished.Load() {
		return t.take()
	}
	select {
	case <-t.Done():
		return t.take()
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}

// take returns the result of a finished task and marks its error as read.
func (t *Task[T]) take() (T, error) {
	if t.state != nil {
		t.state.retrieved.Store(true)
	}
	return t.value, t.err
}

// Result returns the task's result without waiting. ok is false, and r the
// zero Result, while the task is still running; once ok is true, the error
// counts as read.
func (t *Task[T]) Result() (r Result[T], ok bool) {
	if !t.finished.Load() {
		return Result[T]{}, false
	}
	v, err := t.take()
	return Result[T]{Value: v, Err: err}, true
}

// Cancel asks the task to stop by cancelling its context with the given
// cause, which the task function can read with [context.Cause]. A nil cause
// means [context.Canceled]. Cancel does not wait: await the task to know
// when it has returned. Cancelling a finished task does nothing.
//
// Unlike asyncio, cancellation is cooperative: a function that never looks
// at its context runs to its end.
func (t *Task[T]) Cancel(cause error) {
	t.ctx.cancelWith(cause)
}

// Result is the outcome of one task: its value, or the error it returned.
type Result[T any] struct {
	Value T
	Err   error
}

// PanicError is the error of a task whose function panicked. It carries
// the value passed to panic and the stack of the goroutine at that moment.
type PanicError struct {
	Value any
	Stack []byte
}

func newPanicError(v any) *PanicError {
	return &PanicError{Value: v, Stack: debug.Stack()}
}

// Error reports the panic value on one line; the stack is in the Stack
// field.
func (e *PanicError) Error() string {
	return fmt.Sprintf("gather: task panicked: %v", e.Value)
}

// Unwrap returns the panic value if it is an error, so that errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

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
	timer := time.NewTimer(d)
	defer timer.Stop()
	if t.finished.Load() {
		return t.take()
	}
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
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// unretrievedHandler holds the func(error) that reports errors nobody read.
var unretrievedHandler atomic.Pointer[func(error)]

// SetUnretrievedHandler sets the function that is called with the error of
// every failed task whose error was never read, and returns a function that
// puts the previous handler back, made to be deferred:
//
//	defer gather.SetUnretrievedHandler(h)()
//
// A nil h restores the default, which writes one line to standard error:
//
//	gather: task error was never retrieved: <error>
//
// The handler is called from the garbage collector's cleanup goroutine or
// from [Run]; it must not block for long. The handler is global: tests that
// set it should not run in parallel with others that do.
func SetUnretrievedHandler(h func(err error)) (restore func()) {
	var p *func(error)
	if h != nil {
		p = &h
	}
	old := unretrievedHandler.Swap(p)
	return func() { unretrievedHandler.Store(old) }
}

func defaultUnretrieved(err error) {
	fmt.Fprintf(stderr, "gather: task error was never retrieved: %v\n", err)
}

// report calls the current handler once for st, if its error was never read.
// Swapping retrieved makes the report happen at most once, whether Run or the
// garbage collector gets there first.
func reportIfUnretrieved(st *taskState) {
	if st.retrieved.Swap(true) {
		return
	}
	h := defaultUnretrieved
	if p := unretrievedHandler.Load(); p != nil {
		h = *p
	}
	h(&UnretrievedError{Err: st.err})
}

// UnretrievedError is what the unretrieved-error handler receives: the error
// of a task that nobody read.
type UnretrievedError struct {
	Err error
}

func (e *UnretrievedError) Error() string { return e.Err.Error() }

// Unwrap returns the task's error.
func (e *UnretrievedError) Unwrap() error { return e.Err }

// tracker counts the tasks and group children started under [Run], so
// that Run can wait for them and report the failures nobody read. Unlike a
// sync.WaitGroup, it may be added to while Run waits, even from zero (by a
// goroutine Run does not know of), and it stops counting once Run is done
// waiting, so that a late start is neither a race nor a misuse.
type tracker struct {
	mu      sync.Mutex
	running int
	idle    chan struct{} // closed when running drops to zero while Run waits
	closed  bool          // Run no longer waits: nothing is counted
	failed  []*taskState
}

type trackerKey struct{}

func trackerFrom(ctx context.Context) *tracker {
	tr, _ := ctx.Value(trackerKey{}).(*tracker)
	return tr
}

// add counts one more task, and reports false if Run no longer waits.
func (tr *tracker) add() bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.closed {
		return false
	}
	tr.running++
	return true
}

// done counts a task out; st, if not nil, is its unread error for Run to
// report.
func (tr *tracker) done(st *taskState) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if st != nil {
		if len(tr.failed) == cap(tr.failed) {
			// Drop the errors read since the last time, so that a long
			// Run that reads its errors does not keep them all.
			tr.failed = slices.DeleteFunc(tr.failed, func(st *taskState) bool { return st.retrieved.Load() })
		}
		tr.failed = append(tr.failed, st)
	}
	tr.running--
	if tr.running == 0 && tr.idle != nil {
		close(tr.idle)
		tr.idle = nil
	}
}

// wait waits until no task is counted, then stops counting and returns the
// failed tasks.
func (tr *tracker) wait() []*taskState {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for tr.running > 0 {
		idle := make(chan struct{})
		tr.idle = idle
		tr.mu.Unlock()
		<-idle
		tr.mu.Lock()
	}
	tr.closed = true
	failed := tr.failed
	tr.failed = nil
	return failed
}
