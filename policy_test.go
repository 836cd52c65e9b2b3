package gather

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// attempt returns a task function that sleeps d in its context and then
// returns v, or err if err is not nil; it counts the calls stopped by a
// cancellation in stopped and records their cause.
func attempt[T any](d time.Duration, v T, err error, stopped *atomic.Int32, causes chan<- error) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		if e := Sleep(ctx, d); e != nil {
			if stopped != nil {
				stopped.Add(1)
			}
			if causes != nil {
				causes <- e
			}
			var zero T
			return zero, e
		}
		return v, err
	}
}

func TestSupervise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		g.SetPolicy(Supervise())
		errA, errB := errors.New("a failed"), errors.New("b failed")
		var stopped atomic.Int32
		var finished atomic.Int32
		Spawn(g, attempt(time.Second, 0, errA, &stopped, nil))
		Spawn(g, attempt(2*time.Second, 0, errB, &stopped, nil))
		g.Go(func(ctx context.Context) error {
			if err := Sleep(ctx, 3*time.Second); err != nil {
				return err
			}
			finished.Add(1)
			return nil
		})
		start := time.Now()
		err := g.Wait()
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("Wait returned after %v; want 3s: a failure cancels nothing", d)
		}
		if stopped.Load() != 0 || finished.Load() != 1 {
			t.Errorf("%d children were stopped, %d finished; want 0, 1", stopped.Load(), finished.Load())
		}
		if !errors.Is(err, errA) || !errors.Is(err, errB) {
			t.Fatalf("Wait() = %v; want both errors", err)
		}
	})
}

func TestSuperviseStillStopsWithItsParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeoutCause(context.Background(), time.Second, errBoom)
		defer cancel()
		g := NewGroup(ctx)
		g.SetPolicy(Supervise())
		for range 3 {
			Spawn(g, attempt(time.Hour, 0, nil, nil, nil))
		}
		if err := g.Wait(); err != errBoom {
			t.Fatalf("Wait() = %v; want the parent's cause, once", err)
		}
	})
}

func TestFirstSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		g.SetPolicy(FirstSuccess())
		causes := make(chan error, 3)
		var stopped atomic.Int32
		Spawn(g, attempt(time.Second, "fails first", errBoom, nil, nil))
		Spawn(g, attempt(2*time.Second, "b", nil, &stopped, causes))
		Spawn(g, attempt(3*time.Second, "c", nil, &stopped, causes))
		Spawn(g, attempt(4*time.Second, "d", nil, &stopped, causes))
		start := time.Now()
		v, err := Winner[string](g)
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("Winner returned after %v; want 2s", d)
		}
		if err != nil || v != "b" {
			t.Fatalf("Winner() = %q, %v; want b, nil", v, err)
		}
		if stopped.Load() != 2 {
			t.Fatalf("%d losers were cancelled; want 2", stopped.Load())
		}
		for range 2 {
			if cause := <-causes; cause != ErrQuorumReached {
				t.Errorf("a loser was cancelled with %v; want ErrQuorumReached", cause)
			}
		}
	})
}

func TestFirstSuccessAllFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		g.SetPolicy(FirstSuccess())
		errA, errB := errors.New("a failed"), errors.New("b failed")
		Spawn(g, attempt(time.Second, 1, errA, nil, nil))
		Spawn(g, attempt(2*time.Second, 2, errB, nil, nil))
		start := time.Now()
		v, err := Winner[int](g)
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("Winner returned after %v; want 2s: a failure cancels nothing", d)
		}
		if v != 0 || !errors.Is(err, ErrNoQuorum) || !errors.Is(err, errA) || !errors.Is(err, errB) {
			t.Fatalf("Winner() = %v, %v; want 0 and an error with ErrNoQuorum and both failures", v, err)
		}
		if !strings.Contains(err.Error(), "0 of 1 needed") {
			t.Errorf("the error %q does not say how many successes were needed", err)
		}
	})
}

func TestQuorum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		g.SetPolicy(Quorum(2))
		var stopped atomic.Int32
		Spawn(g, attempt(3*time.Second, 3, nil, &stopped, nil))
		Spawn(g, attempt(1*time.Second, 1, nil, &stopped, nil))
		Spawn(g, attempt(2*time.Second, 0, errBoom, &stopped, nil))
		Spawn(g, attempt(4*time.Second, 4, nil, &stopped, nil))
		Spawn(g, attempt(5*time.Second, 5, nil, &stopped, nil))
		start := time.Now()
		vs, err := Winners[int](g)
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("Winners returned after %v; want 3s, at the second success", d)
		}
		if err != nil || len(vs) != 2 || vs[0] != 1 || vs[1] != 3 {
			t.Fatalf("Winners() = %v, %v; want [1 3], nil: the failure does not count, and the order is the order of success", vs, err)
		}
		if stopped.Load() != 2 {
			t.Fatalf("%d children were cancelled; want the 2 still running", stopped.Load())
		}
	})
}

func TestQuorumNotReached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		g.SetPolicy(Quorum(3))
		Spawn(g, attempt(time.Second, 1, nil, nil, nil))
		g.Go(func(ctx context.Context) error { return errBoom })
		g.Go(func(ctx context.Context) error { return nil })
		err := g.Wait()
		if !errors.Is(err, ErrNoQuorum) || !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "2 of 3 needed") {
			t.Fatalf("Wait() = %v; want ErrNoQuorum, boom, 2 of 3", err)
		}
	})
}

func TestQuorumStoppedByItsParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeoutCause(context.Background(), time.Second, errBoom)
		defer cancel()
		g := NewGroup(ctx)
		g.SetPolicy(FirstSuccess())
		Spawn(g, attempt(time.Hour, 1, nil, nil, nil))
		if err := g.Wait(); !errors.Is(err, ErrNoQuorum) || !errors.Is(err, errBoom) {
			t.Fatalf("Wait() = %v; want ErrNoQuorum and the parent's cause", err)
		}
	})
}

func TestWinnersNeedValues(t *testing.T) {
	t.Parallel()
	g := NewGroup(context.Background())
	g.SetPolicy(FirstSuccess())
	g.Go(func(ctx context.Context) error { return nil })
	if _, err := Winner[int](g); err == nil || !strings.Contains(err.Error(), "Spawn") {
		t.Errorf("Winner of a Go child = %v; want an error that says to use Spawn", err)
	}

	g = NewGroup(context.Background())
	g.SetPolicy(FirstSuccess())
	Spawn(g, func(ctx context.Context) (string, error) { return "s", nil })
	if _, err := Winner[int](g); err == nil || !strings.Contains(err.Error(), "string") {
		t.Errorf("Winner[int] of a string = %v; want an error naming the type", err)
	}

	g = NewGroup(context.Background())
	Spawn(g, func(ctx context.Context) (int, error) { return 1, nil })
	if _, err := Winner[int](g); err == nil || !strings.Contains(err.Error(), "fail-fast") {
		t.Errorf("Winner of a fail-fast group = %v; want an error naming the policy", err)
	}
}

func TestPolicyStrings(t *testing.T) {
	t.Parallel()
	for p, want := range map[Policy]string{
		{}:             "fail-fast",
		FailFast():     "fail-fast",
		Supervise():    "supervise",
		FirstSuccess(): "first success",
		Quorum(3):      "quorum of 3",
	} {
		if got := p.String(); got != want {
			t.Errorf("%#v.String() = %q; want %q", p, got, want)
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Quorum(0)") {
			t.Errorf("Quorum(0) panicked with %v; want a message naming it", r)
		}
	}()
	Quorum(0)
}

func TestHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		causes := make(chan error, 2)
		// The first attempt is slow (5 s), the second, started after
		// 1 s, answers in 1 s: the hedge answers at 2 s and cancels the
		// first.
		attempt := func(ctx context.Context) (string, error) {
			n := calls.Add(1)
			d := 5 * time.Second
			if n == 2 {
				d = time.Second
			}
			if err := Sleep(ctx, d); err != nil {
				causes <- err
				return "", err
			}
			return []string{"", "first", "second"}[n], nil
		}
		start := time.Now()
		v, err := Hedge(context.Background(), time.Second, attempt)
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("Hedge returned after %v; want 2s", d)
		}
		if err != nil || v != "second" || calls.Load() != 2 {
			t.Fatalf("Hedge() = %q, %v after %d calls; want second, nil, 2", v, err, calls.Load())
		}
		if cause := <-causes; cause != ErrQuorumReached {
			t.Fatalf("the loser was cancelled with %v; want ErrQuorumReached", cause)
		}
	})
}

func TestHedgeFastFirstAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		v, err := Hedge(context.Background(), time.Second, func(ctx context.Context) (int, error) {
			calls.Add(1)
			return 7, Sleep(ctx, 500*time.Millisecond)
		})
		if err != nil || v != 7 || calls.Load() != 1 {
			t.Fatalf("Hedge() = %v, %v after %d calls; want 7, nil, 1: no second attempt before the delay", v, err, calls.Load())
		}
	})
}

func TestHedgeFirstFailsEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		start := time.Now()
		v, err := Hedge(context.Background(), time.Second, func(ctx context.Context) (int, error) {
			if calls.Add(1) == 1 {
				return 0, errBoom // at once: the second attempt need not wait
			}
			return 2, Sleep(ctx, 100*time.Millisecond)
		})
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Errorf("Hedge returned after %v; want 100ms: a failed first attempt starts the second at once", d)
		}
		if err != nil || v != 2 {
			t.Fatalf("Hedge() = %v, %v; want 2, nil", v, err)
		}
	})
}

func TestHedgeBothFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errA, errB := errors.New("a"), errors.New("b")
		var calls atomic.Int32
		_, err := Hedge(context.Background(), time.Second, func(ctx context.Context) (int, error) {
			if calls.Add(1) == 1 {
				return 0, errA
			}
			return 0, errB
		})
		if !errors.Is(err, errA) || !errors.Is(err, errB) || !errors.Is(err, ErrNoQuorum) {
			t.Fatalf("Hedge() error = %v; want both failures", err)
		}
	})
}

func TestHedgeContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeoutCause(context.Background(), 1500*time.Millisecond, errBoom)
		defer cancel()
		var stopped atomic.Int32
		_, err := Hedge(ctx, time.Second, attempt(time.Hour, 1, nil, &stopped, nil))
		if !errors.Is(err, errBoom) || stopped.Load() != 2 {
			t.Fatalf("Hedge() = %v with %d attempts stopped; want the cause, both stopped", err, stopped.Load())
		}
	})
}
