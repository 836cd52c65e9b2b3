package gather

import (
	"fmt"
	"sync/atomic"
)

// taskState is the failure of a task, the part of it that outlives the
// task: the garbage-collection cleanup must not refer to the Task itself,
// nor to anything that refers to it, or the Task would never be collected.
type taskState struct {
	retrieved atomic.Bool
	owed      bool // the error is reported if nobody reads it
	err       error
	kind      nodeKind // a task, or a group whose Wait was never called
	name      string   // the task's name, if it has one
	pc        uintptr  // where it was started, if that was recorded

	// mark ends the watchers of the failed task, its waiter the state
	// itself: that is how the task finds its failure without a field.
	mark watcher
}

// finished is never called: a final mark is never told (see isFinal).
func (*taskState) finished(int, *taskState) {}

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
// The error is an [*UnretrievedError], which names the task if it had a
// name. The handler is called from the garbage collector's cleanup
// goroutine or from [Run]; it must not block for long. The handler is
// global: tests that set it should not run in parallel with others that do.
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

// reportIfUnretrieved calls the current handler once for st, if its error
// was never read. Swapping retrieved makes the report happen at most once,
// whoever gets there first: Run, a test scope or the garbage collector.
func reportIfUnretrieved(st *taskState) {
	if st.retrieved.Swap(true) {
		return
	}
	h := defaultUnretrieved
	if p := unretrievedHandler.Load(); p != nil {
		h = *p
	}
	h(&UnretrievedError{Err: st.err, Task: st.name})
}

// UnretrievedError is what the unretrieved-error handler receives: the error
// of a task that nobody read, and the task's name if it had one.
type UnretrievedError struct {
	Err  error
	Task string
}

// Error returns the task's error, after the task's name if it has one:
//
//	task "fetch a": connection refused
func (e *UnretrievedError) Error() string {
	if e.Task != "" {
		return fmt.Sprintf("task %q: %v", e.Task, e.Err)
	}
	return e.Err.Error()
}

// Unwrap returns the task's error.
func (e *UnretrievedError) Unwrap() error { return e.Err }
