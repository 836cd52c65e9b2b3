package gather

import (
	"context"
	"errors"
	"time"
)

// Hedge calls fn and, if it has not succeeded within delay, calls it a
// second time alongside the first, as a hedged request does against a
// slow replica: the first call to succeed wins, and the other is cancelled
// with cause [ErrQuorumReached]. A first call that fails before the delay
// starts the second at once. If both fail, Hedge returns an error that
// wraps both and [ErrNoQuorum]; if ctx ends first, both calls are
// cancelled and ctx's cause is returned. Either way, no call is still
// running when Hedge returns.
//
// Hedge is a group with the [FirstSuccess] policy and two children; the
// options name that group (see [NewGroup]). Pick the delay from the
// latency you are ready to wait before paying for a second call, such as
// the 95th percentile: then about 5% of calls are made twice.
func Hedge[T any](ctx context.Context, delay time.Duration, fn func(context.Context) (T, error), opts ...Option) (T, error) {
	g := NewGroup(ctx, opts...)
	g.SetPolicy(FirstSuccess())
	first, err := Spawn(g, fn)
	if err != nil {
		var zero T
		return zero, err
	}
	timer := time.NewTimer(delay)
	select {
	case <-timer.C:
	case <-first.Done(): // a failure: try again now; a success: the group is done
	case <-g.ctx.Done(): // a success, or ctx ended
	}
	timer.Stop()
	if g.ctx.Err() == nil {
		Spawn(g, fn)
	}
	v, err := Winner[T](g)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Cause(ctx)) {
		return v, context.Cause(ctx)
	}
	return v, err
}
