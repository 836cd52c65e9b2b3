package gather

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// taskCtx is the context a task function receives. It behaves as a child of
// the context given to [Go], made with context.WithCancelCause, but it makes
// that child only when someone first asks for its Done channel, its error
// or a value. A task that never looks at its context (a computation, a
// quick lookup) thus costs two allocations instead of four; one that does
// pays the same as with context.WithCancelCause, and context.Cause,
// context.AfterFunc and contexts derived from it work as usual, since
// they all reach the real child through Value. As with a real child, the
// first of a cancellation and the parent's end gives the cause, even when
// the child is made after both.
type taskCtx struct {
	parent context.Context

	ready  atomic.Bool // inner and cancel are set and final
	inner  context.Context
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	cancelled bool  // cancelled before inner was made
	cause     error // the cause it was cancelled with
}

// get returns the real child context, making it if need be.
func (c *taskCtx) get() context.Context {
	if c.ready.Load() {
		return c.inner
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready.Load() {
		if c.cancelled {
			// Cancelled first, so the cause is c.cause even if the parent
			// has ended since: the parent's cancellation must not reach
			// the child and overwrite it.
			c.inner, c.cancel = context.WithCancelCause(context.WithoutCancel(c.parent))
			c.cancel(c.cause)
		} else {
			c.inner, c.cancel = context.WithCancelCause(c.parent)
		}
		c.ready.Store(true)
	}
	return c.inner
}

// cancelWith cancels the context with cause, now if it has been made, or
// as soon as it is.
func (c *taskCtx) cancelWith(cause error) {
	if c.ready.Load() {
		c.cancel(cause)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready.Load() {
		c.cancel(cause)
		return
	}
	// A parent that has ended has cancelled the real child already, with
	// its own cause, which this cancel must not replace.
	if !c.cancelled && c.parent.Err() == nil {
		if cause == nil {
			cause = context.Canceled // as context.CancelCauseFunc does
		}
		c.cancelled, c.cause = true, cause
	}
}

// cancelledBy returns the cause with which the context has been cancelled,
// or nil if it has not been, without making the real child.
func (c *taskCtx) cancelledBy() error {
	if !c.ready.Load() {
		c.mu.Lock()
		ready, cancelled, cause := c.ready.Load(), c.cancelled, c.cause
		c.mu.Unlock()
		if !ready {
			if cancelled {
				return cause
			}
			if c.parent.Err() != nil {
				return context.Cause(c.parent)
			}
			return nil
		}
	}
	if c.inner.Err() == nil {
		return nil
	}
	return context.Cause(c.inner)
}

func (c *taskCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *taskCtx) Done() <-chan struct{}       { return c.get().Done() }
func (c *taskCtx) Err() error                  { return c.get().Err() }
func (c *taskCtx) Value(key any) any           { return c.get().Value(key) }
func (c *taskCtx) String() string              { return "gather.Task context" }
