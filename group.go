package gather

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
)

// A Group runs functions as children that it waits for, like
// asyncio.TaskGroup or errgroup: every goroutine started with [Group.Go]
// has the group as its owner, and [Group.Wait] returns only when all of
// them have returned.
//
// What a failure does depends on the group's [Policy]. By default
// ([FailFast]), the first child to fail cancels the group's context, so its
// siblings can stop; Wait then returns every error the children returned,
// joined with [errors.Join], except those caused by that cancellation.
// Unlike errgroup, which keeps the first error only, no failure is
// dropped. A panic in a child is recovered and returned as a [*PanicError].
//
// A Group must be created with [NewGroup] and must not be copied. Wait must
// be called: it is what reads the children's errors. A group that recorded
// an error and is garbage-collected, or left when [Run] ends, before Wait
// was called is reported like a task whose error nobody read.
type Group struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	tr      *tracker
	wg      sync.WaitGroup
	slots   chan struct{} // nil: no limit
	node    *node         // nil unless named, tracked or in a test scope
	labels  bool          // children's goroutines take the group's pprof labels
	started atomic.Bool   // a child was started: the limit and policy are fixed
	scoped  bool          // recorded by a test scope until Wait

	mu        sync.Mutex
	policy    Policy
	limit     int
	errs      []error
	stopping  bool // cancelled by a failure, a quorum or Cancel, not by the parent
	outside   error
	successes int
	winners   []any      // Quorum and FirstSuccess: the winners' values, in order
	state     *taskState // the first error, reported if Wait is never called
	waited    bool
}

// NewGroup returns a group whose children run with a context derived from
// ctx. The children's context is cancelled when ctx ends, when a child
// fails (by default; see [Group.SetPolicy]), when [Group.Cancel] is called,
// or when [Group.Wait] returns. The option [Name] names the group, in the
// task tree and as the pprof label "gather.group" of its children's
// goroutines; [Shield] makes a group that ctx's cancellation does not stop.
func NewGroup(ctx context.Context, opts ...Option) *Group {
	g := &Group{tr: trackerFrom(ctx)}
	if len(opts) > 0 || observed(g.tr) {
		// In a test scope, a group left unwaited is a leak to report.
		g.scoped = g.tr != nil && g.tr.records
		g.node = newNode(ctx, kindGroup, opts, g.tr, g, 1)
		g.node.group = g
		g.labels = g.node.labels
		ctx = g.node.ctx
	}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	if g.node != nil {
		g.ctx = context.WithValue(g.ctx, nodeKey{}, g.node)
		g.node.publish()
	}
	return g
}

// SetLimit limits the number of children running at once to n; n <= 0
// means no limit, as for [Map] and [Stream]. It must be called before the
// first [Group.Go], [Group.TryGo] or [Spawn]: it panics after, as a limit
// changed under running children would lose track of their slots.
func (g *Group) SetLimit(n int) {
	if g.started.Load() {
		panic("gather: Group.SetLimit called after the group started a child; set the limit before the first Go, TryGo or Spawn")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if n <= 0 {
		g.slots, g.limit = nil, 0
		return
	}
	g.slots, g.limit = make(chan struct{}, n), n
}

// SetPolicy sets what the group does when a child fails or succeeds (see
// [Policy]); the default is [FailFast]. Like SetLimit, it must be called
// before the first child is started, and panics after.
func (g *Group) SetPolicy(p Policy) {
	if g.started.Load() {
		panic("gather: Group.SetPolicy called after the group started a child; set the policy before the first Go, TryGo or Spawn")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.policy = p
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
// [ErrGroupStopped] and the context's cause. The option [Name] names the
// child; [Shield] runs it with a context that the group's cancellation does
// not reach.
func (g *Group) Go(fn func(ctx context.Context) error, opts ...Option) error {
	if err := g.acquire(); err != nil {
		return err
	}
	g.goChild(fn, opts)
	return nil
}

// TryGo starts fn as a child of the group, like [Group.Go], only if it can
// do so at once: it reports false, and does not start fn, if the group is
// full or no longer starts children.
func (g *Group) TryGo(fn func(ctx context.Context) error, opts ...Option) bool {
	g.started.Store(true)
	if g.ctx.Err() != nil {
		return false
	}
	if g.slots != nil {
		select {
		case g.slots <- struct{}{}:
			if g.ctx.Err() != nil {
				<-g.slots
				return false
			}
		default:
			return false
		}
	}
	g.goChild(fn, opts)
	return true
}

// goChild starts fn once its slot is taken.
func (g *Group) goChild(fn func(ctx context.Context) error, opts []Option) {
	g.wg.Add(1)
	tr := g.tr
	if tr != nil && !tr.add() {
		tr = nil // Run has stopped waiting
	}
	ctx := g.ctx
	var n *node
	if len(opts) > 0 || observed(tr) {
		n = newNode(g.ctx, kindChild, opts, tr, g, 2)
		ctx = context.WithValue(n.ctx, nodeKey{}, n)
		n.publish()
	}
	go func() {
		err := errGoexit // stays if fn calls runtime.Goexit
		defer func() {
			if err != nil {
				g.record(err)
			} else if g.policy.kind == quorum {
				g.success(nil, false)
			}
			n.end()
			if tr != nil {
				tr.done(nil, n) // the group reports the error, Run need not
			}
			g.childDone()
		}()
		if n != nil {
			n.begin()
		} else if g.labels {
			pprof.SetGoroutineLabels(g.ctx)
		}
		err = callErr(ctx, fn, n)
	}()
}

// Spawn starts fn as a child of g, like [Group.Go], and returns its task,
// like asyncio.TaskGroup.create_task: the value can be awaited, and a
// failure fails the group. fn receives the task's own context, a child of
// the group's (see [Go]). As in asyncio, a child stopped on its own with
// [Task.Cancel] does not fail the group: the error it returns because of
// that is left out of [Group.Wait]. The group reads the task's error, so it
// is never reported as unretrieved. Spawn returns the error of Go when the
// group no longer starts children. Options are those of [Group.Go].
func Spawn[T any](g *Group, fn func(ctx context.Context) (T, error), opts ...Option) (*Task[T], error) {
	if err := g.acquire(); err != nil {
		return nil, err
	}
	g.wg.Add(1) // Run counts the task itself, through g.ctx
	return start(g.ctx, fn, g, opts), nil
}

func (g *Group) acquire() error {
	if !g.started.Load() {
		g.started.Store(true)
	}
	if g.ctx.Err() != nil {
		return g.stoppedError()
	}
	if g.slots == nil {
		return nil
	}
	select {
	case g.slots <- struct{}{}:
	default:
		// Full: the wait shows in the tree, on the task that made the
		// group (the one that usually starts its children).
		defer markSlot(g).end()
		select {
		case g.slots <- struct{}{}:
		case <-g.ctx.Done():
			return g.stoppedError()
		}
	}
	// Both cases may have been ready: never start a child in a stopped
	// group.
	if g.ctx.Err() != nil {
		<-g.slots
		return g.stoppedError()
	}
	return nil
}

func (g *Group) stoppedError() error {
	return fmt.Errorf("%w: %w", ErrGroupStopped, context.Cause(g.ctx))
}

// childDone gives back a child's slot, once everything else about it is
// done.
func (g *Group) childDone() {
	if g.slots != nil {
		<-g.slots
	}
	g.wg.Done()
}

// cancelledBy tells the tree why the group's context was cancelled.
func (g *Group) cancelledBy() error {
	if g.ctx.Err() == nil {
		return nil
	}
	return context.Cause(g.ctx)
}

// callErr runs fn, turning a panic into a *PanicError that names n.
// recover is called only if fn did not return, which saves a runtime call
// on every child.
func callErr(ctx context.Context, fn func(context.Context) error, n *node) (err error) {
	returned := false
	defer func() {
		if !returned {
			if r := recover(); r != nil {
				err = newPanicError(r, n)
			}
		}
	}()
	err = fn(ctx)
	returned = true
	return err
}

// record keeps a child's error, as the policy says.
func (g *Group) record(err error) {
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
	if g.state == nil && !g.waited {
		// Read by Wait; reported if Wait never comes.
		st := &taskState{err: err, owed: true, kind: kindGroup, name: g.node.nameOrEmpty(), pc: g.node.pcOrZero()}
		g.state = st
		runtime.AddCleanup(g, reportIfUnretrieved, st)
		if g.tr != nil {
			g.tr.addFailed(st)
		}
	}
	if g.policy.kind == failFast && !g.stopping && g.ctx.Err() == nil {
		g.stopping = true
		g.cancel(fmt.Errorf("gather: a child of the group failed: %w", err))
	}
}

// success counts a child that succeeded, for a quorum; v is its value if
// has is true (a task started with Spawn).
func (g *Group) success(v any, has bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.successes >= g.policy.k {
		return // a late winner: the quorum was reached without it
	}
	g.successes++
	if has {
		g.winners = append(g.winners, v)
	}
	if g.successes == g.policy.k && g.ctx.Err() == nil {
		g.stopping = true
		g.cancel(ErrQuorumReached)
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
// nil if none failed; a single error is returned as it is. With a
// [Quorum] or [FirstSuccess] policy, it returns nil once the quorum was
// reached, and otherwise an error that wraps [ErrNoQuorum] and the
// children's errors.
//
// Errors caused by the group's cancellation are left out: once the group's
// context has ended, an error that matches [context.Canceled],
// [context.DeadlineExceeded] or the context's cause is a child stopping,
// not failing. If the group was stopped by its parent context (rather than
// by a failure, a quorum or [Group.Cancel]) and a child stopped because of
// it, the parent's cause is returned, once, among the errors, so that work
// cut short never looks like success.
func (g *Group) Wait() error {
	m := markAwaitGroup(g)
	g.wg.Wait()
	m.end()
	g.mu.Lock()
	first := !g.waited
	g.waited = true
	g.mu.Unlock()
	if first {
		g.node.end()
		if g.scoped {
			g.tr.removeLive(g.node)
		}
	}
	g.cancel(context.Canceled)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != nil {
		g.state.retrieved.Store(true)
	}
	errs := g.errs
	if g.outside != nil {
		errs = append(errs, g.outside)
	}
	if g.policy.kind == quorum {
		if g.successes >= g.policy.k {
			return nil
		}
		return &quorumError{needed: g.policy.k, got: g.successes, err: errors.Join(errs...)}
	}
	if len(errs) == 1 {
		return errs[0] // as it was returned, for == and type switches
	}
	return errors.Join(errs...)
}
