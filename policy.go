package gather

import (
	"errors"
	"fmt"
)

// A Policy says what a [Group] does when a child fails or succeeds, like
// the Joiner of Java's structured concurrency. Set it with
// [Group.SetPolicy] before the first child starts:
//
//   - [FailFast], the default: the first failure cancels the other
//     children; Wait returns every error.
//   - [Supervise]: a failure cancels nothing; the others run on, and Wait
//     returns every error, like a supervisor that lets each child fail
//     alone.
//   - [FirstSuccess]: the first child to succeed cancels the others, and
//     its value is the group's ([Winner]); the way to race replicas or to
//     hedge a request (see [Hedge]).
//   - [Quorum]: once k children have succeeded, the others are cancelled,
//     and their values are the group's ([Winners]).
//
// The zero Policy is FailFast. A policy costs nothing per child, except
// that a winner's value is kept (one allocation for each of the k).
type Policy struct {
	kind policyKind
	k    int // quorum: the successes needed
}

type policyKind uint8

const (
	failFast policyKind = iota
	supervise
	quorum
)

// FailFast is the default policy: the first child to fail cancels the
// group's context, so its siblings can stop; [Group.Wait] returns the
// errors of the children that failed, not those the cancellation caused.
func FailFast() Policy { return Policy{} }

// Supervise is the policy where a failure does not cancel the siblings:
// each child runs to its end, and [Group.Wait] returns every error.
func Supervise() Policy { return Policy{kind: supervise} }

// FirstSuccess is [Quorum](1): the first child to succeed cancels the
// others, with cause [ErrQuorumReached], and its value is the group's (see
// [Winner]). Failures cancel nothing; if every child fails, [Group.Wait]
// returns an error that wraps [ErrNoQuorum] and all their errors.
func FirstSuccess() Policy { return Policy{kind: quorum, k: 1} }

// Quorum is the policy where the group succeeds once k children have: then
// it cancels the others, with cause [ErrQuorumReached], and [Group.Wait]
// returns nil, however many failed; [Winners] returns the k values. If the
// children end with fewer than k successes, Wait returns an error that
// wraps [ErrNoQuorum] and all their errors. Quorum panics if k < 1.
func Quorum(k int) Policy {
	if k < 1 {
		panic(fmt.Sprintf("gather: Quorum(%d): a quorum needs at least one success", k))
	}
	return Policy{kind: quorum, k: k}
}

// String returns the policy's name: "fail-fast", "supervise", "first
// success" or "quorum of k".
func (p Policy) String() string {
	switch {
	case p.kind == supervise:
		return "supervise"
	case p.kind == quorum && p.k == 1:
		return "first success"
	case p.kind == quorum:
		return fmt.Sprintf("quorum of %d", p.k)
	}
	return "fail-fast"
}

// ErrQuorumReached is the cause with which a [FirstSuccess] or [Quorum]
// group cancels the children still running once it has the successes it
// needs.
var ErrQuorumReached = errors.New("gather: the group has the successes it needs")

// ErrNoQuorum is wrapped by the error of [Group.Wait] when a [FirstSuccess]
// or [Quorum] group's children ended with fewer successes than it needed.
var ErrNoQuorum = errors.New("gather: too few children succeeded")

type quorumError struct {
	needed, got int
	err         error // the children's errors, joined; nil if none failed
}

func (e *quorumError) Error() string {
	s := fmt.Sprintf("%v (%d of %d needed)", ErrNoQuorum, e.got, e.needed)
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *quorumError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrNoQuorum}
	}
	return []error{ErrNoQuorum, e.err}
}

// Winner waits for the group like [Group.Wait] and returns the value of
// the first child to succeed, for a group whose policy is [FirstSuccess]
// or [Quorum]. The winner must have been started with [Spawn] with the
// type T; a child started with [Group.Go] has no value. If Wait fails,
// Winner returns its error.
func Winner[T any](g *Group) (T, error) {
	var zero T
	vs, err := Winners[T](g)
	if err != nil {
		return zero, err
	}
	return vs[0], nil
}

// Winners waits for the group like [Group.Wait] and returns the values of
// the k children that made a [Quorum] (or the one of [FirstSuccess]), in
// the order they succeeded. Each must have been started with [Spawn] with
// the type T. If Wait fails, Winners returns its error.
func Winners[T any](g *Group) ([]T, error) {
	if err := g.Wait(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.policy.kind != quorum {
		return nil, fmt.Errorf("gather: Winners: the group's policy is %v, not FirstSuccess or Quorum", g.policy)
	}
	if len(g.winners) < g.successes {
		return nil, errors.New("gather: Winners: a winner was started with Group.Go and has no value; start them with Spawn")
	}
	out := make([]T, len(g.winners))
	for i, v := range g.winners {
		t, ok := v.(T)
		if !ok {
			return nil, fmt.Errorf("gather: Winners[%T]: a winner's value is a %T", t, v)
		}
		out[i] = t
	}
	return out, nil
}
