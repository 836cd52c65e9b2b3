package gather

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// taskCtx is the context a task function receives. It behaves as a child of
// the context given to [Go], made with context.WithCancelCause, but it makes
// that child only when someone first asks for its Done channel, its error
// or a value it does not know itself. A task that never looks at its
// context (a computation, a quick lookup) thus costs no context at all, and
// one that only sleeps in it with [Sleep] costs a timer; one that does
// look pays the same as with context.WithCancelCause plus 32 bytes, and
// context.Cause, context.AfterFunc and contexts derived from it work as
// usual, since they all reach the real child through Value. As with a real
// child, the first of a cancellation and the parent's end gives the cause,
// even when the child is made after both.
type taskCtx struct {
	// parent is the context given to Go or, for a task with a node (a
	// name, the tree), the node, which holds that context (see
	// nodeParent): a plain task pays no word for a node it does not have.
	parent context.Context
	state  atomic.Pointer[ctxState] // nil: neither made nor cancelled

	// watchers are told when the task finishes (Done's channel is one);
	// a final mark once it has (see isFinal), when the task's value, its
	// failure and state are final. The context reads it too: a task that
	// has returned has a context cancelled with ErrTaskReturned, made or
	// not.
	watchers atomic.Pointer[watcher]

	sleep atomic.Pointer[time.Timer] // of a Sleep under way on this very context
}

// The changes of a task's state and sleep, and the removal of its
// watchers, are ordered by a lock that the task shares with the others
// whose address hashes alike (see lock), rather than a mutex of its own:
// with neither that word nor the node's, a Task of a small T is 48 bytes,
// not 64, and the collector scans a quarter less of every live task. No
// code holds one of these locks while it takes another (in particular,
// none calls the parent context under it, which may be a task's), so two
// tasks sharing one cannot deadlock; they only rarely wait for each
// other, as the locks are held for a few loads and stores.
var taskLocks [256]struct {
	sync.Mutex
	_ [56]byte // one to a cache line, so that cores do not share one
}

// lock returns the lock of the task whose context c is. A task is never
// moved in memory, so its address names it for as long as it lives.
func (c *taskCtx) lock() *sync.Mutex {
	h := uint64(uintptr(unsafe.Pointer(c))) * 0x9E3779B97F4A7C15 // Fibonacci hashing
	return &taskLocks[h>>56].Mutex
}

// node returns the task's node, nil for a plain task.
func (c *taskCtx) node() *node {
	if p, ok := c.parent.(*nodeParent); ok {
		return (*node)(p)
	}
	return nil
}

// nodeParent is a task's node in the place of its parent context: it is
// the context the node holds (the one given to Go, with the labels, the
// trace task and the shield), so that the node costs the task no field.
type nodeParent node

func (p *nodeParent) Deadline() (time.Time, bool) { return p.ctx.Deadline() }
func (p *nodeParent) Done() <-chan struct{}       { return p.ctx.Done() }
func (p *nodeParent) Err() error                  { return p.ctx.Err() }
func (p *nodeParent) Value(key any) any           { return p.ctx.Value(key) }

// ctxState is the lazily made part of a task's context. It never changes
// once stored, so that readers need no lock: a change stores a new one.
type ctxState struct {
	inner  context.Context // nil: cancelled with cause before it was made
	cancel context.CancelCauseFunc
	cause  error
}

// returned is the state of the context of a task that returned before it
// was made: cancelled with ErrTaskReturned.
var returned = &ctxState{cause: ErrTaskReturned}

// finished reports whether the task has returned.
func (c *taskCtx) finished() bool { return c.watchers.Load().isFinal() }

// get returns the real child context, making it if need be.
func (c *taskCtx) get() context.Context {
	for {
		old := c.state.Load()
		if old != nil && old.inner != nil {
			return old.inner
		}
		// The child is made without the lock: making it asks the parent,
		// which may be another task's context, whose lock this one may
		// share (see taskLocks). Two made at once cost one of them.
		s := old
		if s == nil && c.finished() && c.parent.Err() == nil {
			s = returned // as returned would have stored, had the parent a Done
		}
		made := new(ctxState)
		if s != nil {
			// Cancelled first, so the cause is s.cause even if the parent
			// has ended since: the parent's cancellation must not reach
			// the child and overwrite it.
			made.inner, made.cancel = context.WithCancelCause(context.WithoutCancel(c.parent))
			made.cancel(s.cause)
		} else {
			// A Sleep under way waits for its timer and the parent, not
			// for inner: cancelWith fires the timer, as before inner was
			// made.
			made.inner, made.cancel = context.WithCancelCause(c.parent)
		}
		// Changes of state are made under the lock but for returned's,
		// which may come in between: then look again, as when another
		// change came first.
		mu := c.lock()
		mu.Lock()
		swapped := c.state.CompareAndSwap(old, made)
		mu.Unlock()
		if !swapped {
			made.cancel(nil) // unregisters it from the parent
			continue
		}
		if s == nil && c.finished() {
			// The task returned meanwhile, and its finish may have looked
			// at state before the swap: cancel it here. finish looks after
			// it sets the final mark, this after the swap, so one of them
			// sees the other.
			made.cancel(ErrTaskReturned)
		}
		return made.inner
	}
}

// cancelWith cancels the context with cause, now if it has been made, or
// as soon as it is. It does nothing once the task has returned.
func (c *taskCtx) cancelWith(cause error) {
	// The parent is asked before the lock is taken, for the reason in get.
	// A state once stored is never nil again, so ended is read only if
	// the state is still nil below.
	ended := c.state.Load() == nil && c.parent.Err() != nil
	mu := c.lock()
	mu.Lock()
	defer mu.Unlock()
	s := c.state.Load()
	switch {
	case s != nil && s.inner != nil:
		s.cancel(cause) // reaches only the context package's own children
	case s != nil:
		return // cancelled already: the first cause stays
	case ended || c.finished():
		// A parent that has ended has cancelled the real child already,
		// with its own cause, which this cancel must not replace; a task
		// that has returned has its context cancelled with
		// ErrTaskReturned.
	default:
		if cause == nil {
			cause = context.Canceled // as context.CancelCauseFunc does
		}
		if !c.state.CompareAndSwap(nil, &ctxState{cause: cause}) {
			return // the task returned meanwhile: nothing to cancel
		}
	}
	if t := c.sleep.Load(); t != nil {
		t.Reset(0) // wake the Sleep under way: it reads the cause
	}
}

// returned cancels the context of a task whose function has returned, with
// ErrTaskReturned, once its watchers end in the final mark: the real child if it
// was made, and a Sleep under way on it. A context never made whose
// parent cannot end needs nothing more, as finished says it is cancelled.
func (c *taskCtx) returned() {
	switch s := c.state.Load(); {
	case s != nil && s.inner != nil:
		s.cancel(ErrTaskReturned)
	case s == nil && c.parent.Done() != nil && c.parent.Err() == nil:
		// A parent that can end: were it to end before the context is
		// made, the cause must still be ErrTaskReturned, which came
		// first. A parent that cannot end (context.Background) needs no
		// write.
		c.state.CompareAndSwap(nil, returned)
	}
	// sleepFor stores its timer before it looks at finished: if it saw
	// the task running, its timer is seen here.
	if c.sleep.Load() != nil {
		mu := c.lock()
		mu.Lock()
		if t := c.sleep.Load(); t != nil {
			t.Reset(0)
		}
		mu.Unlock()
	}
}

// cancelledBy returns the cause with which the context has been cancelled,
// or nil if it has not been, without making the real child.
func (c *taskCtx) cancelledBy() error {
	s := c.state.Load()
	switch {
	case s == nil:
		if c.parent.Err() != nil {
			return context.Cause(c.parent)
		}
		if c.finished() {
			return ErrTaskReturned
		}
		return nil
	case s.inner == nil:
		return s.cause
	case s.inner.Err() != nil:
		return context.Cause(s.inner)
	}
	return nil
}

// sleepFor is Sleep on a task's own context. Until the real child is made,
// it waits for a timer alone, which a cancellation fires early, and for the
// parent's end: a sleeping task costs no context and no channel of its own.
//
// The goroutine blocks in the select below with sleepFor's frame on its
// stack, which every garbage collection walks; the runtime finds a frame's
// pointers by decoding its tables from the function's start to where it
// blocks. So the select comes right after the one call that does the rest
// (sleepStart): a sleeping task now costs a collection about what a bare
// goroutine sleeping on a timer does, where the locking and checks inline
// before the select made it about 20% dearer (callgrind, runtime.scanstack
// per task and cycle, 20,000 tasks; docs/library.md).
func (c *taskCtx) sleepFor(d time.Duration) error {
	if timer := c.sleepStart(d); timer != nil {
		select {
		case <-timer.C:
		case <-c.parent.Done():
		}
		return c.sleepEnd(timer)
	}
	return c.sleepNow(d)
}

// sleepStart makes the timer of a sleep on a context that is neither made
// nor cancelled and stores it, for cancelWith and returned to fire. It
// returns nil, storing nothing, if d is not positive, the context has been
// made or cancelled or the task has returned: sleepNow sleeps then.
func (c *taskCtx) sleepStart(d time.Duration) *time.Timer {
	if d <= 0 || c.state.Load() != nil || c.finished() {
		return nil // a quick look first, so that no timer is made for nothing
	}
	// No deferred Stop: nothing between NewTimer and Stop can panic, and
	// a defer would grow the frame (see Sleep).
	timer := time.NewTimer(d)
	mu := c.lock()
	mu.Lock()
	c.sleep.Store(timer) // before finished is read: see returned
	if c.state.Load() != nil || c.finished() {
		c.sleep.Store(nil)
		mu.Unlock()
		timer.Stop()
		return nil
	}
	mu.Unlock()
	return timer
}

// sleepEnd stops the timer of a sleep that sleepStart began, and returns
// the cause with which the context has been cancelled meanwhile, if it has.
func (c *taskCtx) sleepEnd(timer *time.Timer) error {
	timer.Stop()
	mu := c.lock()
	mu.Lock()
	c.sleep.Store(nil)
	mu.Unlock()
	return c.cancelledBy()
}

// sleepNow is sleepFor where sleepStart declined: d is not positive, or
// the context has been made or cancelled, or the task has returned.
func (c *taskCtx) sleepNow(d time.Duration) error {
	if d <= 0 {
		return c.cancelledBy()
	}
	if s := c.state.Load(); s != nil && s.inner != nil {
		return sleepIn(s.inner, d) // made: sleep on the real child
	}
	return c.cancelledBy() // cancelled, or the task has returned
}

func (c *taskCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *taskCtx) Done() <-chan struct{}       { return c.get().Done() }
func (c *taskCtx) Err() error                  { return c.get().Err() }
func (c *taskCtx) String() string              { return "gather.Task context" }

// Value answers gather's own keys from what the task knows, so that
// finding the task's tracker or tree node makes no context.
func (c *taskCtx) Value(key any) any {
	switch key.(type) {
	case nodeKey:
		if n := c.node(); n != nil {
			return n
		}
		return nil // an untracked task: its children are roots
	case trackerKey:
		return c.parent.Value(key)
	}
	return c.get().Value(key)
}
