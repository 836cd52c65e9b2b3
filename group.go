package gather

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// A Group runs functions as children that it waits for, like
// asyncio.TaskGroup or errgroup: every goroutine started with [Group.Go]
// has the group as its owner, and [Group.Wait] returns only when all of
// them have returned.
//
// The first child to fail cancels the group's context, so its siblings can
// stop; Wait then returns every error the children returned, joined with
// [errors.Join], except those caused by that cancellation. Unlike errgroup,
// which keeps the first error only, no failure is dropped. A panic in a
// child is recovered and returned as a [*PanicError].
//
// A Group must be created with [NewGroup] and must not be copied. Wait must
// be called: it is what reads the children's errors.
type Group struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	tr     *tracker
	wg     sync.WaitGroup
	slots  chan struct{} // nil: no limit

	mu       sync.Mutex
	errs     []error
	stopping bool // cancelled by a failure or by Cancel, not by the parent
	outside  error
}

// NewGroup returns a group whose children run with a context derived from
// ctx. The children's context is cancelled when ctx ends, when a child
// fails, when [Group.Cancel] is called, or when [Group.Wait] returns.
func NewGroup(ctx context.Context) *Group {
	gctx, cancel := context.WithCancelCause(ctx)
	return &Group{ctx: gctx, cancel: cancel, tr: trackerFrom(ctx)}
}

// SetLimit limits the number of children running at once to n; n <= 0
// means no limit. It must be called before the first [Group.Go].
func (g *Group) SetLimit(n int) {
	if n <= 0 {
		g.slots = nil
		return
	}
	g.slots = make(chan struct{}, n)
}

// Context returns the context the children receive.
func (g *Group) Context() context.Context { return g.ctx }

// ErrGroupStopped is wrapped by the error of [Group.Go] and [Spawn] when
// the group no longer starts children: its parent context has ended, a
// child failed, [Group.Cancel] was called, or [Group.Wait] has returned.
var ErrGroupStopped = errors.New("gather: group stopped")

// Go starts fn in a new goroutine as a child of the group, passing it the
// group's context, and returns nil. If the group has a limit and is full, Go
// waits for a slot. If the group's context has ended, or ends while Go
// waits, Go does not start fn and returns an error that wraps
// [ErrGroupStopped] and the context's cause.
func (g *Group) Go(fn func(ctx context.Context) error) error {
	if err := g.acquire(); err != nil {
		return err
	}
	g.wg.Add(1)
	tracked := g.tr != nil && g.tr.add()
	go func() {
		err := errGoexit // stays if fn calls runtime.Goexit
		defer func() {
			g.record(err)
			g.done()
			if tracked {
				g.tr.done(nil) // the group reports the error, Run need not
			}
		}()
		err = callErr(g.ctx, fn)
	}()
	return nil
}

// Spawn starts fn as a child of g, like [Group.Go], and returns its task,
// like asyncio.TaskGroup.create_task: the value can be awaited, and a
// failure fails the group. fn receives the task's own context, a child of
// the group's (see [Go]). As in asyncio, a child stopped on its own with
// [Task.Cancel] does not fail the group: the error it returns because of
// that is left out of [Group.Wait]. The group reads the task's error, so it
// is never reported as unretrieved. Spawn returns the error of Go when the
// group no longer starts children.
func Spawn[T any](g *Group, fn func(ctx context.Context) (T, error)) (*Task[T], error) {
	if err := g.acquire(); err != nil {
		return nil, err
	}
	g.wg.Add(1) // Run counts the task itself, through g.ctx
	t := start(g.ctx, func(ctx context.Context) (v T, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = newPanicError(r)
			}
			// A child cancelled on its own, with Task.Cancel, does not
			// fail the group, as in asyncio.TaskGroup.
			if err != nil && !(g.ctx.Err() == nil && ctx.Err() != nil && causedBy(err, context.Cause(ctx))) {
				g.record(err)
			}
			g.done()
		}()
		err = errGoexit // stays if fn calls runtime.Goexit
		return fn(ctx)
	}, true)
	return t, nil
}

func (g *Group) acquire() error {
	if g.ctx.Err() != nil {
		return g.stoppedError()
	}
	if g.slots == nil {
		return nil
	}
	select {
	case g.slots <- struct{}{}:
		// Both cases may have been ready: never start a child in a
		// stopped group.
		if g.ctx.Err() != nil {
			<-g.slots
			return g.stoppedError()
		}
		return nil
	case <-g.ctx.Done():
		return g.stoppedError()
	}
}

func (g *Group) stoppedError() error {
	return fmt.Errorf("%w: %w", ErrGroupStopped, context.Cause(g.ctx))
}

func (g *Group) done() {
	if g.slots != nil {
		<-g.slots
	}
	g.wg.Done()
}

// callErr runs fn, turning a panic into a *PanicError.
func callErr(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = newPanicError(r)
		}
	}()
	return fn(ctx)
}

func (g *Group) record(err error) {
	if err == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx.Err() != nil {
		cause := context.Cause(g.ctx)
		if causedBy(err, cause) {
			// A child stopped because the group was stopped. If the group
			// stopped itself, the reason is recorded already; if its parent
			// did, say so once rather than once per child.
			if !g.stopping && g.outside == nil {
				g.outside = cause
			}
			return
		}
	}
	g.errs = append(g.errs, err)
	if !g.stopping && g.ctx.Err() == nil {
		g.stopping = true
		g.cancel(fmt.Errorf("gather: a child of the group failed: %w", err))
	}
}

// Cancel stops the group without an error, for an early exit: it cancels
// the children's context with cause [context.Canceled], and errors the
// children return because of it are not reported by [Group.Wait]. It does
// not wait for the children, and does nothing if the group's context has
// ended already.
func (g *Group) Cancel() {
	g.mu.Lock()
	if g.ctx.Err() == nil {
		g.stopping = true
		g.cancel(context.Canceled)
	}
	g.mu.Unlock()
}

// Wait waits until every child has returned, then cancels the group's
// context and returns the children's errors joined with [errors.Join], or
// nil if none failed; a single error is returned as it is.
//
// Errors caused by the group's cancellation are left out: once the group's
// context has ended, an error that matches [context.Canceled],
// [context.DeadlineExceeded] or the context's cause is a child stopping,
// not failing. If the group was stopped by its parent context (rather than
// by a failure or [Group.Cancel]) and a child stopped because of it, the
// parent's cause is returned, once, among the errors, so that work cut
// short never looks like success.
func (g *Group) Wait() error {
	g.wg.Wait()
	g.cancel(context.Canceled)
	g.mu.Lock()
	defer g.mu.Unlock()
	errs := g.errs
	if g.outside != nil {
		errs = append(errs, g.outside)
	}
	if len(errs) == 1 {
		return errs[0] // as it was returned, for == and type switches
	}
	return errors.Join(errs...)
}
