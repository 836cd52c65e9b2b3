package gather

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestGroupWaitsForEveryChild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		var finished atomic.Int32
		for i := 1; i <= 3; i++ {
			g.Go(func(ctx context.Context) error {
				time.Sleep(time.Duration(i) * time.Second)
				finished.Add(1)
				return nil
			})
		}
		start := time.Now()
		if err := g.Wait(); err != nil {
			t.Fatalf("Wait() = %v", err)
		}
		if d := time.Since(start); d != 3*time.Second || finished.Load() != 3 {
			t.Fatalf("Wait returned after %v with %d children finished; want 3s, 3", d, finished.Load())
		}
		if g.Context().Err() == nil {
			t.Fatal("the group's context is still live after Wait")
		}
	})
}

func TestGroupFirstFailureCancelsAndErrorsJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		errLate := errors.New("late failure while stopping")
		var cancelled atomic.Int32
		g.Go(func(ctx context.Context) error {
			time.Sleep(time.Second)
			return errBoom
		})
		for range 3 {
			g.Go(func(ctx context.Context) error {
				<-ctx.Done()
				cancelled.Add(1)
				if !errors.Is(context.Cause(ctx), errBoom) {
					t.Errorf("sibling saw cause %v; want one wrapping boom", context.Cause(ctx))
				}
				return ctx.Err()
			})
		}
		g.Go(func(ctx context.Context) error {
			<-ctx.Done()
			return errLate
		})
		start := time.Now()
		err := g.Wait()
		if d := time.Since(start); d != time.Second {
			t.Errorf("Wait returned after %v; want 1s", d)
		}
		if cancelled.Load() != 3 {
			t.Errorf("%d siblings saw the cancellation; want 3", cancelled.Load())
		}
		if !errors.Is(err, errBoom) || !errors.Is(err, errLate) {
			t.Fatalf("Wait() = %v; want both real errors joined", err)
		}
		if errors.Is(err, context.Canceled) {
			t.Fatalf("Wait() = %v; the siblings' cancellation errors are noise and must be left out", err)
		}
	})
}

func TestGroupLimit(t *testing.T) {
	t.Parallel()
	const limit, children = 4, 200
	g := NewGroup(context.Background())
	g.SetLimit(limit)
	var running, most, ran atomic.Int32
	for range children {
		err := g.Go(func(ctx context.Context) error {
			n := running.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(100 * time.Microsecond)
			running.Add(-1)
			ran.Add(1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if most.Load() > limit {
		t.Fatalf("%d children ran at once; the limit is %d", most.Load(), limit)
	}
	if ran.Load() != children {
		t.Fatalf("%d children ran; want %d", ran.Load(), children)
	}
}

func TestGroupGoGivesUpWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		g := NewGroup(ctx)
		g.SetLimit(1)
		g.Go(func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		start := time.Now()
		started := false
		err := g.Go(func(ctx context.Context) error {
			started = true
			return nil
		})
		if !errors.Is(err, ErrGroupStopped) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Go() on a full group = %v; want ErrGroupStopped and DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("Go waited %v for a slot; want 1s, until the context ended", d)
		}
		if err := g.Wait(); err != context.DeadlineExceeded {
			t.Fatalf("Wait() = %v; want the parent's DeadlineExceeded, once", err)
		}
		if started {
			t.Fatal("a child was started after Go reported it was not")
		}
	})
}

func TestGroupGoAfterFailure(t *testing.T) {
	t.Parallel()
	g := NewGroup(context.Background())
	g.Go(func(ctx context.Context) error { return errBoom })
	<-g.Context().Done()
	err := g.Go(func(ctx context.Context) error { return nil })
	if !errors.Is(err, ErrGroupStopped) || !errors.Is(err, errBoom) {
		t.Fatalf("Go() after a failure = %v; want ErrGroupStopped wrapping the cause", err)
	}
	if err := g.Wait(); err != errBoom {
		t.Fatalf("Wait() = %v; want boom alone", err)
	}
}

func TestGroupCancelIsNotAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		for range 3 {
			g.Go(func(ctx context.Context) error {
				<-ctx.Done()
				return context.Cause(ctx)
			})
		}
		time.AfterFunc(time.Second, g.Cancel)
		if err := g.Wait(); err != nil {
			t.Fatalf("Wait() after Cancel = %v; want nil", err)
		}
	})
}

func TestGroupPanic(t *testing.T) {
	t.Parallel()
	g := NewGroup(context.Background())
	g.Go(func(ctx context.Context) error { panic("child") })
	var pe *PanicError
	if err := g.Wait(); !errors.As(err, &pe) || pe.Value != "child" {
		t.Fatalf("Wait() = %v; want a *PanicError for the child", err)
	}
}

func TestSpawn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		g.SetLimit(1)
		a, err := Spawn(g, sleeper(time.Second, "a"))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		b, err := Spawn(g, func(ctx context.Context) (string, error) { return "", errBoom })
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Spawn waited %v for a slot; want 1s", d)
		}
		if v, err := a.Await(context.Background()); v != "a" || err != nil {
			t.Errorf("a.Await() = %q, %v", v, err)
		}
		if err := g.Wait(); err != errBoom {
			t.Fatalf("Wait() = %v; want boom", err)
		}
		if _, err := b.Await(context.Background()); err != errBoom {
			t.Fatalf("b.Await() = %v; want boom", err)
		}
	})
}

func TestSpawnErrorIsNotReportedAsUnretrieved(t *testing.T) {
	errSpawned := errors.New("spawned child failed")
	reported := captureUnretrieved(t)
	var failed, panicked *Task[int]
	err := Run(func(ctx context.Context) error {
		g := NewGroup(ctx)
		both := make(chan struct{}) // the first failure must not stop the second Spawn
		failed, _ = Spawn(g, func(ctx context.Context) (int, error) {
			<-both
			return 0, errSpawned
		})
		panicked, _ = Spawn(g, func(ctx context.Context) (int, error) {
			<-both
			panic(errSpawned)
		})
		close(both)
		return g.Wait() // the only reader of both errors
	})
	var pe *PanicError
	if !errors.Is(err, errSpawned) || !errors.As(err, &pe) {
		t.Fatalf("Run() = %v; want the error and the panic, from Wait", err)
	}
	if failed.state != nil || panicked.state != nil {
		t.Fatal("a spawned task's error was left for the unretrieved report")
	}
	got := reported()
	if slices.ContainsFunc(got, func(e error) bool { return errors.Is(e, errSpawned) }) {
		t.Fatalf("errors that Wait returned were reported as unretrieved: %v", got)
	}
}

func TestSpawnCancelledAloneDoesNotFailTheGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		cancelled, err := Spawn(g, sleeper(time.Hour, 0))
		if err != nil {
			t.Fatal(err)
		}
		sibling, err := Spawn(g, sleeper(time.Second, "sibling"))
		if err != nil {
			t.Fatal(err)
		}
		cancelled.Cancel(nil)
		if _, err := cancelled.Await(context.Background()); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled.Await() = %v; want Canceled", err)
		}
		if err := g.Context().Err(); err != nil {
			t.Fatalf("cancelling one child cancelled the group: %v", err)
		}
		if err := g.Wait(); err != nil {
			t.Fatalf("Wait() = %v; want nil, as asyncio.TaskGroup ignores a child cancelled on its own", err)
		}
		if v, err := sibling.Await(context.Background()); v != "sibling" || err != nil {
			t.Fatalf("sibling.Await() = %q, %v", v, err)
		}
	})
}

// Go must not start a child once the group has stopped, even when a slot
// frees at the same moment.
func TestGroupGoDoesNotStartAfterStop(t *testing.T) {
	t.Parallel()
	for range 200 {
		g := NewGroup(context.Background())
		g.SetLimit(1)
		g.Go(func(ctx context.Context) error {
			<-ctx.Done() // the slot frees only after the group stopped
			return nil
		})
		var started atomic.Bool
		goErr := make(chan error)
		go func() {
			goErr <- g.Go(func(ctx context.Context) error {
				started.Store(true)
				return nil
			})
		}()
		g.Cancel()
		if err := <-goErr; !errors.Is(err, ErrGroupStopped) {
			t.Fatalf("Go() on a stopped group = %v; want ErrGroupStopped", err)
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if started.Load() {
			t.Fatal("a child started in a stopped group")
		}
	}
}

func TestGroupParentEndsWithARealError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithCancelCause(context.Background())
		g := NewGroup(parent)
		errFlush := errors.New("flush failed")
		for range 3 {
			g.Go(func(ctx context.Context) error {
				<-ctx.Done()
				return context.Cause(ctx)
			})
		}
		g.Go(func(ctx context.Context) error {
			<-ctx.Done()
			return errFlush
		})
		time.AfterFunc(time.Second, func() { cancel(errBoom) })
		err := g.Wait()
		if !errors.Is(err, errFlush) || !errors.Is(err, errBoom) {
			t.Fatalf("Wait() = %v; want the real error and the parent's cause", err)
		}
		if n := strings.Count(err.Error(), errBoom.Error()); n != 1 {
			t.Fatalf("Wait() = %q; the parent's cause must appear once, not once per child", err)
		}
	})
}
