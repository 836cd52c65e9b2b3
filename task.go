package gather

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"unsafe"
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
//
// A Task is 48 bytes for a small T, and all of it stays live until the
// last reference to it goes: [All] of 100,000 tasks keeps them until it
// returns, and the garbage collector marks and scans every one that is
// live when it runs. So what only some tasks need has no field of its
// own: a failure is found through the task's watchers once it has
// finished (see finish), a name or place in the tree through its parent
// context (see nodeParent), its lock is shared (see taskLocks), and the
// group that reads the error of a task started by [Group.Go] is known
// only to the goroutine that runs it.
type Task[T any] struct {
	ctx   taskCtx
	value T
}

// A waiter is told, by the goroutine that finished it, when each task it
// watches finishes, with the task's failure (nil for a success): that is
// how one goroutine waits for many tasks without a goroutine, or a
// channel, per task. finished must not block.
type waiter interface {
	finished(i int, fail *taskState)
}

// A watcher links a waiter into a task's list, with the index that the
// waiter knows the task by.
type watcher struct {
	w    waiter
	i    int
	next atomic.Pointer[watcher]
}

// final is the index of the watcher that ends the list of a finished
// task: finishedMark for a success, its failure state's mark for a
// failure. Watchers of waiters have indexes from 0.
const final = -1

// finishedMark is the watchers of a task that has finished without error.
var finishedMark = &watcher{i: final}

// isFinal reports whether w marks a finished task.
func (w *watcher) isFinal() bool { return w != nil && w.i == final }

// isFinished reports whether the task has finished, when its result is
// final.
func (t *Task[T]) isFinished() bool { return t.ctx.watchers.Load().isFinal() }

// failure returns the failure of a finished task, nil for a success or
// while the task runs. It is the waiter of the mark that ends the task's
// watchers: a task needs no field for a failure that most never have.
func (t *Task[T]) failure() *taskState {
	w := t.ctx.watchers.Load()
	if w == finishedMark || !w.isFinal() {
		return nil // a success, the usual case, costs one comparison
	}
	st, _ := w.w.(*taskState)
	return st
}

// watch adds w to the task's watchers, without a lock, and reports whether
// it will be told; false means the task has finished already.
func (t *Task[T]) watch(w *watcher) bool {
	for {
		head := t.ctx.watchers.Load()
		if head.isFinal() {
			return false
		}
		w.next.Store(head)
		if t.ctx.watchers.CompareAndSwap(head, w) {
			return true
		}
	}
}

// watchAlone adds w as the task's only watcher, and reports whether it
// did: false means the task has other watchers or has finished. Since w
// is only ever added to an empty list, it stays last in every list it is
// in, its next always nil, and one w can be in the lists of many tasks
// (see watchCount): unwatch never changes the next of the last watcher.
func (t *Task[T]) watchAlone(w *watcher) bool {
	return t.ctx.watchers.CompareAndSwap(nil, w)
}

// unwatch removes w from the task's watchers, if it is still there, so that
// a waiter that gives up early (Wait, AsCompleted) leaves nothing behind on
// a task that goes on running: a loop of Wait(FirstCompleted) over the
// pending tasks, the asyncio idiom, would otherwise pile up one watcher per
// task per call. The lists are short when everyone unwatches. Removals
// take the lock, one at a time; additions push in front of them without
// it, and finish takes the whole list.
func (t *Task[T]) unwatch(w *watcher) {
	mu := t.ctx.lock()
	mu.Lock()
	defer mu.Unlock()
	for {
		head := t.ctx.watchers.Load()
		if head == nil || head.isFinal() {
			return
		}
		if head == w {
			if t.ctx.watchers.CompareAndSwap(w, w.next.Load()) {
				return
			}
			continue // another watcher came in front
		}
		for p := head; p != nil; p = p.next.Load() {
			if p.next.Load() == w {
				p.next.Store(w.next.Load())
				return
			}
		}
		return
	}
}

// doneWaiter is the watcher behind Done: the channel closes when the task
// finishes.
type doneWaiter chan struct{}

func (d doneWaiter) finished(int, *taskState) { close(d) }

// Go starts fn in a new goroutine and returns its task, like
// asyncio.create_task. fn receives a child of ctx that is cancelled when ctx
// is, when the task is cancelled with [Task.Cancel], and after fn returns
// (with cause [ErrTaskReturned]).
//
// A panic in fn does not crash the program: it is recovered and becomes the
// task's error, a [*PanicError].
//
// Options name the task ([Name]) or shield it from ctx's cancellation
// ([Shield]).
//
// Go costs a goroutine and two allocations, 80 bytes for a small T; the
// task's context costs three more if fn looks at it, and none if fn only
// sleeps in it with [Sleep]; one that fails costs one more, which carries
// its error. A name costs a few more, and nothing when there is none (see
// the benchmarks in bench_test.go).
func Go[T any](ctx context.Context, fn func(context.Context) (T, error), opts ...Option) *Task[T] {
	return start(ctx, fn, nil, opts)
}

// start starts a task; g, if not nil, is the group that reads its error,
// so that it is never reported as unretrieved.
func start[T any](ctx context.Context, fn func(context.Context) (T, error), g *Group, opts []Option) *Task[T] {
	// While the collector marks, every pointer stored here pays a write
	// barrier, even into the new task (43 instructions a pointer on
	// average under callgrind, the flushes of the barrier's buffer
	// included): the task stores one, its parent, and the goroutine's
	// closure three.
	t := &Task[T]{ctx: taskCtx{parent: ctx}}
	tr := trackerFrom(ctx)
	if tr != nil && !tr.add() {
		tr = nil // Run has stopped waiting
	}
	if len(opts) > 0 || observed(tr) {
		// Names, the tree, a test scope, an execution trace: what a
		// plain task never pays for.
		n := newNode(ctx, kindTask, opts, tr, &t.ctx, 2)
		t.ctx.parent = (*nodeParent)(n)
		n.publish()
	}
	// The goroutine's closure holds what only it needs: a plain task's is
	// 32 bytes (the task as a runner, and fn), one with a group or a
	// tracker 48.
	f := *(*unsafe.Pointer)(unsafe.Pointer(&fn)) // a func value is one pointer
	if tr == nil && g == nil {
		launch(t, f)
	} else {
		launchOwned(t, f, g, tr)
	}
	return t
}

// A runner is a task's goroutine, started by launch or launchOwned with
// the task's function as an unsafe.Pointer (a func value is a pointer).
// The runtime looks up the name of the function that starts a goroutine
// when it starts and again when it ends (runtime.isSystemGoroutine, to
// count the runtime's own), and measures that name's length on the way:
// a goroutine started in the generic start was named
// "github.com/gather-dev/gather.start[go.shape.int].gowrap1", longer the
// larger T's shape, and under callgrind those two lookups cost about 100
// instructions more a task than errgroup's. Started from a function that
// is not generic, every task's goroutine has one short name.
type runner interface {
	runPlain(fn unsafe.Pointer)
	runOwned(fn unsafe.Pointer, g *Group, tr *tracker)
}

// launch starts r's goroutine. It must not be inlined into start, or its
// goroutine would take start's name.
//
//go:noinline
func launch(r runner, fn unsafe.Pointer) { go r.runPlain(fn) }

// launchOwned is launch for a task that a group or a tracker counts.
//
//go:noinline
func launchOwned(r runner, fn unsafe.Pointer, g *Group, tr *tracker) { go r.runOwned(fn, g, tr) }

// taskFunc returns the task function that start passed as an
// unsafe.Pointer.
func taskFunc[T any](fn unsafe.Pointer) func(context.Context) (T, error) {
	return *(*func(context.Context) (T, error))(unsafe.Pointer(&fn))
}

// runPlain is run for a task that nothing but its awaiters counts.
func (t *Task[T]) runPlain(f unsafe.Pointer) {
	fn := taskFunc[T](f)
	// One deferred call does all: recover is called only if fn did not
	// return, so that a panic becomes the task's error, and so does
	// runtime.Goexit, after which finish still runs. (A deferred call
	// that takes only t, and tells by a sentinel in the task that fn
	// did not return, is cheaper for the garbage collector to scan while the
	// task waits, but made a million sleeping tasks grow their stacks to
	// 4 KB as they finished: 5.8 GB of peak RSS in bench/scale -n 1000000
	// -together instead of 3.0.)
	// st is the failure, running until fn returns.
	st := running
	defer func() {
		if st == running {
			st = &taskState{err: failure(recover(), t.ctx.node())}
		}
		t.finish(st, nil, nil)
	}()
	if t.ctx.node() != nil {
		t.begin(nil) // a name: what a plain task skips
	}
	st = t.call(fn)
}

// runOwned is run for a task that a group (g, which reads its error) or
// Run or a test scope (tr) counts.
func (t *Task[T]) runOwned(f unsafe.Pointer, g *Group, tr *tracker) {
	fn := taskFunc[T](f)
	st := running
	defer func() {
		if st == running {
			st = &taskState{err: failure(recover(), t.ctx.node())}
		}
		t.finish(st, g, tr)
	}()
	if t.ctx.node() != nil || g != nil {
		t.begin(g)
	}
	st = t.call(fn)
}

// running is the failure of a task whose function has not returned.
var running = new(taskState)

// call runs fn, keeps its value and returns its failure. Only a failure
// costs an allocation, the state that carries the error.
func (t *Task[T]) call(fn func(context.Context) (T, error)) *taskState {
	v, err := fn(&t.ctx)
	t.value = v
	if err != nil {
		return &taskState{err: err}
	}
	return nil
}

// begin sets the goroutine's pprof labels, if the task or its group g
// has a name.
func (t *Task[T]) begin(g *Group) {
	if n := t.ctx.node(); n != nil {
		n.begin()
	} else if g != nil && g.labels {
		pprof.SetGoroutineLabels(g.ctx) // an unnamed child of a named group
	}
}

// failure is the error of a function that did not return: a panic's
// value r, or runtime.Goexit if r is nil.
func failure(r any, n *node) error {
	if r != nil {
		return newPanicError(r, n)
	}
	return errGoexit
}

// errGoexit is the error of a task whose function called runtime.Goexit,
// as t.FailNow does in a test.
var errGoexit = errors.New("gather: task function called runtime.Goexit")

// finish publishes the task's result, and its failure st if it failed.
// Everything that counts the task as running (its group g, Run or a test
// scope tr, the tree) is told before anyone waiting for it is woken, so
// that a task that has been awaited is never seen as still running.
func (t *Task[T]) finish(st *taskState, g *Group, tr *tracker) {
	n := t.ctx.node()
	var owed *taskState // the failure that is reported if nobody reads it
	end := finishedMark
	if st != nil {
		// The failure ends the task's watchers, where failure finds it.
		st.mark = watcher{w: st, i: final}
		end = &st.mark
		// A task that stopped because it was cancelled has nothing to
		// report, as in asyncio, where a cancelled task has no exception
		// to retrieve; that must be decided before the context is
		// cancelled below.
		cause := t.ctx.cancelledBy()
		stopped := cause != nil && causedBy(st.err, cause)
		if g != nil {
			// A child cancelled on its own, with Task.Cancel, does not
			// fail the group, as in asyncio.TaskGroup.
			if !(stopped && g.ctx.Err() == nil) {
				g.record(st.err)
			}
		} else if !stopped {
			// Only failed tasks pay for a cleanup: a success has nothing
			// to lose.
			st.name, st.pc, st.owed = n.nameOrEmpty(), n.pcOrZero(), true
			owed = st
			runtime.AddCleanup(t, reportIfUnretrieved, st)
		}
	} else if g != nil && g.policy.kind == quorum {
		g.success(t.value, true)
	}
	if n != nil {
		n.end()
	}
	watchers := t.ctx.watchers.Swap(end)
	t.ctx.returned()
	if tr != nil {
		tr.done(owed, n)
	}
	for w := watchers; w != nil; {
		next := w.next.Load() // w may be used again once told
		w.w.finished(w.i, st)
		w = next
	}
	if g != nil {
		g.childDone()
	}
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
	mu := t.ctx.lock() // one Done at a time, so that all get the same channel
	mu.Lock()
	defer mu.Unlock()
	var d doneWaiter
	for {
		head := t.ctx.watchers.Load()
		if head.isFinal() {
			return closed
		}
		for w := head; w != nil; w = w.next.Load() {
			if d, ok := w.w.(doneWaiter); ok {
				return d
			}
		}
		// Made on demand: most tasks are waited for by All, Await or a
		// Group, which need no channel per task.
		if d == nil {
			d = make(doneWaiter)
		}
		w := &watcher{w: d}
		w.next.Store(head)
		if t.ctx.watchers.CompareAndSwap(head, w) {
			return d
		}
	}
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
	if t.isFinished() {
		return t.take()
	}
	defer markAwait(ctx, "task", t.ctx.node()).end()
	stop := ctx.Done()
	if stop == nil {
		t.wait() // ctx never ends: no channel needed
		return t.take()
	}
	select {
	case <-t.Done():
		return t.take()
	case <-stop:
		var zero T
		return zero, context.Cause(ctx)
	}
}

// wait waits for the task to finish, on a watcher with a semaphore of its
// own (one allocation of 48 bytes), where Done costs a channel: a task
// that nobody awaits pays for neither. Neither is pooled: a WaitGroup
// remembers the testing/synctest bubble in which it was first added to,
// and adding to it outside that bubble afterwards is a fatal error (seen:
// a test that awaits outside a bubble after a synctest test, the pool
// handing it a semaphore that test had used); a channel belongs to the
// bubble that made it.
func (t *Task[T]) wait() {
	w := new(wakeWaiter)
	w.w = w
	w.wg.Add(1)
	if t.watch(&w.watcher) {
		w.wg.Wait()
	} else {
		w.wg.Done()
	}
}

// A wakeWaiter is a watcher that wakes the goroutine in wait.
type wakeWaiter struct {
	watcher
	wg sync.WaitGroup
}

func (w *wakeWaiter) finished(int, *taskState) { w.wg.Done() }

// take returns the result of a finished task and marks its error as read.
func (t *Task[T]) take() (T, error) {
	if st := t.failure(); st != nil {
		st.retrieved.Store(true)
		return t.value, st.err
	}
	return t.value, nil
}

// Result returns the task's result without waiting. ok is false, and r the
// zero Result, while the task is still running; once ok is true, the error
// counts as read.
func (t *Task[T]) Result() (r Result[T], ok bool) {
	if !t.isFinished() {
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

// Name returns the name given with [Name] when the task was started, or "".
func (t *Task[T]) Name() string {
	return t.ctx.node().nameOrEmpty()
}

// Result is the outcome of one task: its value, or the error it returned.
type Result[T any] struct {
	Value T
	Err   error
}

// PanicError is the error of a task whose function panicked. It carries
// the value passed to panic, the stack of the goroutine at that moment,
// and the name of the task or group child, if it had one.
type PanicError struct {
	Value any
	Stack []byte
	Task  string // the task's name, "" if it had none
}

func newPanicError(v any, n *node) *PanicError {
	return &PanicError{Value: v, Stack: debug.Stack(), Task: n.nameOrEmpty()}
}

// Error reports the panic value, and the task's name if it has one, on one
// line; the stack is in the Stack field.
func (e *PanicError) Error() string {
	if e.Task != "" {
		return fmt.Sprintf("gather: task %q panicked: %v", e.Task, e.Value)
	}
	return fmt.Sprintf("gather: task panicked: %v", e.Value)
}

// Unwrap returns the panic value if it is an error, so that errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
