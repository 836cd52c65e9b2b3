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
	if owed(failed) != nil || owed(panicked) != nil {
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

// mustPanic calls f and fails the test unless it panics with a message
// that contains want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Errorf("panicked with %v; want a message with %q", r, want)
		}
	}()
	f()
}

// SetLimit after a child started made Wait hang (the child gave back a
// slot of the new, empty semaphore) and raced; it now panics at once, as
// errgroup does, and the group goes on working.
func TestGroupSetLimitAfterGoPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		g.Go(func(ctx context.Context) error { return Sleep(ctx, time.Second) })
		mustPanic(t, "SetLimit called after the group started a child", func() { g.SetLimit(2) })
		mustPanic(t, "SetPolicy called after the group started a child", func() { g.SetPolicy(Supervise()) })
		if err := g.Wait(); err != nil {
			t.Fatalf("Wait() = %v", err)
		}
	})
	g := NewGroup(context.Background())
	g.TryGo(func(ctx context.Context) error { return nil })
	mustPanic(t, "SetLimit called after", func() { g.SetLimit(1) })
	g.Wait()
}

func TestGroupLimitZeroMeansNone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		g.SetLimit(3)
		g.SetLimit(0) // no limit, as for Map and Stream
		start := time.Now()
		for range 10 {
			g.Go(func(ctx context.Context) error { return Sleep(ctx, time.Second) })
		}
		g.Wait()
		if d := time.Since(start); d != time.Second {
			t.Fatalf("10 children of 1s took %v with limit 0; want 1s, all at once", d)
		}
	})
}

func TestGroupTryGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		g.SetLimit(2)
		var ran atomic.Int32
		child := func(ctx context.Context) error {
			ran.Add(1)
			return Sleep(ctx, time.Second)
		}
		results := []bool{g.TryGo(child), g.TryGo(child), g.TryGo(child)}
		if !results[0] || !results[1] || results[2] {
			t.Fatalf("TryGo on a group of limit 2 = %v; want true, true, false", results)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !g.TryGo(child) {
			t.Fatal("TryGo = false once the slots were free again")
		}
		if err := g.Wait(); err != nil || ran.Load() != 3 {
			t.Fatalf("Wait() = %v with %d children run; want nil, 3", err, ran.Load())
		}
		if g.TryGo(child) {
			t.Fatal("TryGo = true after Wait")
		}
	})
	g := NewGroup(context.Background())
	if !g.TryGo(func(ctx context.Context) error { return errBoom }) {
		t.Fatal("TryGo on a group without a limit = false")
	}
	if err := g.Wait(); err != errBoom {
		t.Fatalf("Wait() = %v; want the TryGo child's error", err)
	}
}

// A shielded child keeps running when its group is cancelled, is still
// waited for, and its error still counts.
func TestGroupShieldedChild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGroup(context.Background())
		errSave := errors.New("save failed")
		var saved, cancelled atomic.Bool
		g.Go(func(ctx context.Context) error {
			if err := Sleep(ctx, 3*time.Second); err != nil {
				return err
			}
			saved.Store(true)
			return errSave
		}, Shield())
		task, _ := Spawn(g, func(ctx context.Context) (int, error) {
			if err := Sleep(ctx, 3*time.Second); err != nil {
				cancelled.Store(true)
				return 0, err
			}
			return 1, nil
		}, Shield())
		g.Go(func(ctx context.Context) error {
			err := Sleep(ctx, time.Hour)
			cancelled.Store(true)
			return err
		})
		time.Sleep(time.Second)
		g.Cancel()
		start := time.Now()
		err := g.Wait()
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("Wait returned %v after Cancel; want 2s, when the shielded children end", d)
		}
		if !saved.Load() || err != errSave {
			t.Errorf("shielded child saved=%v, Wait() = %v; want true, its error", saved.Load(), err)
		}
		if v, err := task.Await(context.Background()); v != 1 || err != nil {
			t.Errorf("the shielded task returned %v, %v; want 1, nil", v, err)
		}
		if !cancelled.Load() {
			t.Error("the unshielded child was not cancelled")
		}
	})
}

// A shielded task keeps running when its parent context ends, and Run
// still waits for it; Task.Cancel still stops it.
func TestGoShielded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		task := Go(ctx, func(ctx context.Context) (int, error) {
			return 1, Sleep(ctx, time.Second)
		}, Shield())
		cancel()
		if v, err := task.Await(context.Background()); v != 1 || err != nil {
			t.Fatalf("shielded task = %v, %v after its parent ended; want 1, nil", v, err)
		}
		stubborn := Go(context.Background(), func(ctx context.Context) (int, error) {
			return 0, Sleep(ctx, time.Hour)
		}, Shield())
		stubborn.Cancel(errBoom)
		if _, err := stubborn.Await(context.Background()); err != errBoom {
			t.Fatalf("cancelled shielded task returned %v; want boom", err)
		}
	})
	var finished atomic.Bool
	Run(func(ctx context.Context) error {
		Go(ctx, func(ctx context.Context) (int, error) {
			time.Sleep(50 * time.Millisecond)
			finished.Store(ctx.Err() == nil)
			return 0, nil
		}, Shield())
		return nil
	})
	if !finished.Load() {
		t.Fatal("Run returned before the shielded task, or Run's end cancelled it")
	}
}

// A group whose Wait is never called loses its children's errors: they
// are reported as a task's would be, at Run's end or by the garbage
// collector.
func TestGroupWithoutWaitIsReported(t *testing.T) {
	reported := captureUnretrieved(t)
	Run(func(ctx context.Context) error {
		g := NewGroup(ctx, Name("forgotten"))
		g.Go(func(ctx context.Context) error { return errBoom })
		g.Go(func(ctx context.Context) error { return nil })
		return nil // no Wait
	})
	got := reported()
	if len(got) != 1 || !errors.Is(got[0], errBoom) || !strings.Contains(got[0].Error(), `"forgotten"`) {
		t.Fatalf("reports = %v; want the group's error, naming it", got)
	}

	// Waited for: nothing to report.
	Run(func(ctx context.Context) error {
		g := NewGroup(ctx)
		g.Go(func(ctx context.Context) error { return errBoom })
		g.Wait()
		return nil
	})
	if got := reported(); len(got) != 1 {
		t.Fatalf("reports after a waited group = %v; want none more", got[1:])
	}
}
