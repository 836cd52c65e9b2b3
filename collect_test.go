package gather

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestAllKeepsArgumentOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		start := time.Now()
		// Finishing order is the reverse of the argument order.
		tasks := []*Task[int]{
			Go(ctx, sleeper(3*time.Second, 1)),
			Go(ctx, sleeper(2*time.Second, 2)),
			Go(ctx, sleeper(1*time.Second, 3)),
		}
		got, err := All(ctx, tasks...)
		if err != nil || !slices.Equal(got, []int{1, 2, 3}) {
			t.Fatalf("All() = %v, %v; want [1 2 3], nil", got, err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("All took %v; want 3s, the longest task", d)
		}
	})
}

func TestAllEmpty(t *testing.T) {
	t.Parallel()
	got, err := All[int](context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("All() = %v, %v; want [], nil", got, err)
	}
}

func TestAllFirstErrorCancelsTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		start := time.Now()
		var causes [2]error
		waiter := func(i int) func(context.Context) (int, error) {
			return func(ctx context.Context) (int, error) {
				select {
				case <-ctx.Done():
					causes[i] = context.Cause(ctx)
					time.Sleep(500 * time.Millisecond) // cleaning up takes time
					return 0, ctx.Err()
				case <-time.After(time.Hour):
					return i, nil
				}
			}
		}
		tasks := []*Task[int]{
			Go(ctx, waiter(0)),
			Go(ctx, func(ctx context.Context) (int, error) {
				time.Sleep(time.Second)
				return 0, errBoom
			}),
			Go(ctx, waiter(1)),
		}
		got, err := All(ctx, tasks...)
		if got != nil || err != errBoom {
			t.Fatalf("All() = %v, %v; want nil, boom", got, err)
		}
		if d := time.Since(start); d != 1500*time.Millisecond {
			t.Fatalf("All returned after %v; want 1.5s: the failure at 1s, then the others' clean-up", d)
		}
		for i, task := range tasks {
			if _, done := task.Result(); !done {
				t.Fatalf("task %d still running after All returned", i)
			}
		}
		for i, c := range causes {
			if !errors.Is(c, errBoom) {
				t.Errorf("task %d saw cancellation cause %v; want one wrapping boom", i, c)
			}
		}
		// The siblings stopped because they were cancelled: their errors
		// are not left for the unretrieved report.
		for _, i := range []int{0, 2} {
			if st := owed(tasks[i]); st != nil && !st.retrieved.Load() {
				t.Errorf("task %d's cancellation error is left for the unretrieved report", i)
			}
		}
	})
}

func TestAllLeavesOtherRealErrorsUnread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		other := errors.New("a different failure")
		tasks := []*Task[int]{
			Go(ctx, func(ctx context.Context) (int, error) { return 0, errBoom }),
			Go(ctx, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, other
			}),
		}
		if _, err := All(ctx, tasks...); err != errBoom {
			t.Fatalf("All() error = %v; want boom", err)
		}
		if owed(tasks[1]).retrieved.Load() {
			t.Fatal("All marked an unrelated error as read; it would be silently lost")
		}
		if _, err := tasks[1].Await(ctx); err != other {
			t.Fatalf("Await() = %v", err)
		}
	})
}

func TestAllContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		tasks := []*Task[int]{Go(ctx, sleeper(time.Hour, 1)), Go(context.Background(), sleeper(2*time.Second, 2))}
		start := time.Now()
		_, err := All(ctx, tasks...)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("All() error = %v; want DeadlineExceeded", err)
		}
		// The second task does not descend from ctx, yet All cancelled it.
		if d := time.Since(start); d != time.Second {
			t.Fatalf("All returned after %v; want 1s", d)
		}
		for i, task := range tasks {
			if _, done := task.Result(); !done {
				t.Fatalf("task %d still running after All returned", i)
			}
		}
	})
}

func TestSettle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tasks := []*Task[string]{
			Go(ctx, sleeper(2*time.Second, "a")),
			Go(ctx, func(context.Context) (string, error) { return "", errBoom }),
			Go(ctx, func(context.Context) (string, error) { panic("p") }),
			Go(ctx, sleeper(time.Second, "d")),
		}
		start := time.Now()
		got := Settle(ctx, tasks...)
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("Settle took %v; want 2s: a failure must not stop the others", d)
		}
		if len(got) != 4 || got[0] != (Result[string]{"a", nil}) || got[1].Err != errBoom || got[3] != (Result[string]{"d", nil}) {
			t.Fatalf("Settle() = %v", got)
		}
		var pe *PanicError
		if !errors.As(got[2].Err, &pe) {
			t.Fatalf("Settle()[2].Err = %v; want *PanicError", got[2].Err)
		}
		for i, task := range tasks {
			if owed(task) != nil && !owed(task).retrieved.Load() {
				t.Errorf("task %d's error is not marked as read, though Settle returned it", i)
			}
		}
	})
}

func TestSettleContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeoutCause(context.Background(), time.Second, errBoom)
		defer cancel()
		bg := context.Background()
		tasks := []*Task[int]{Go(bg, sleeper(500*time.Millisecond, 1)), Go(bg, sleeper(time.Hour, 2))}
		got := Settle(ctx, tasks...)
		if got[0] != (Result[int]{1, nil}) {
			t.Errorf("Settle()[0] = %v; want {1 <nil>}", got[0])
		}
		if !errors.Is(got[1].Err, errBoom) {
			t.Errorf("Settle()[1].Err = %v; want the context's cause, as the task returned it", got[1].Err)
		}
		if _, done := tasks[1].Result(); !done {
			t.Fatal("Settle left a task running")
		}
	})
}

func TestWait(t *testing.T) {
	failAt := func(d time.Duration) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			if err := Sleep(ctx, d); err != nil {
				return "", err
			}
			return "", errBoom
		}
	}
	tests := []struct {
		name        string
		until       Until
		timeout     time.Duration
		wantElapsed time.Duration
		wantDone    []string // names, in completion order
		wantPending []string // names, in argument order
	}{
		{"first completed", FirstCompleted, time.Hour, time.Second, []string{"1s"}, []string{"4s", "2s", "fail3s"}},
		{"first error", FirstError, time.Hour, 3 * time.Second, []string{"1s", "2s", "fail3s"}, []string{"4s"}},
		{"all completed", AllCompleted, time.Hour, 4 * time.Second, []string{"1s", "2s", "fail3s", "4s"}, nil},
		{"timeout", AllCompleted, 2500 * time.Millisecond, 2500 * time.Millisecond, []string{"1s", "2s"}, []string{"4s", "fail3s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				names := map[*Task[string]]string{}
				start := func(name string, fn func(context.Context) (string, error)) *Task[string] {
					task := Go(ctx, fn)
					names[task] = name
					return task
				}
				tasks := []*Task[string]{
					start("4s", sleeper(4*time.Second, "")),
					start("2s", sleeper(2*time.Second, "")),
					start("1s", sleeper(1*time.Second, "")),
					start("fail3s", failAt(3*time.Second)),
				}
				wctx, cancel := context.WithTimeout(ctx, tt.timeout)
				defer cancel()
				begin := time.Now()
				done, pending := Wait(wctx, tasks, tt.until)
				if d := time.Since(begin); d != tt.wantElapsed {
					t.Errorf("Wait returned after %v; want %v", d, tt.wantElapsed)
				}
				nameAll := func(ts []*Task[string]) (out []string) {
					for _, task := range ts {
						out = append(out, names[task])
					}
					return out
				}
				if got := nameAll(done); !slices.Equal(got, tt.wantDone) {
					t.Errorf("done = %v; want %v", got, tt.wantDone)
				}
				if got := nameAll(pending); !slices.Equal(got, tt.wantPending) {
					t.Errorf("pending = %v; want %v", got, tt.wantPending)
				}
				for _, task := range pending {
					if _, finished := task.Result(); finished {
						t.Errorf("pending task %s has finished", names[task])
					}
				}
				// Wait cancels nothing: the pending tasks run to their end.
				Settle(ctx, tasks...)
				if d := time.Since(begin); d != 4*time.Second {
					t.Errorf("the pending tasks ended after %v; want 4s, they must not be cancelled", d)
				}
			})
		})
	}
}

func TestAsCompleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tasks := []*Task[int]{
			Go(ctx, sleeper(3*time.Second, 3)),
			Go(ctx, sleeper(1*time.Second, 1)),
			Go(ctx, sleeper(2*time.Second, 2)),
		}
		begin := time.Now()
		var order []int
		for task := range AsCompleted(ctx, tasks...) {
			v, err := task.Await(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(begin); d != time.Duration(v)*time.Second {
				t.Errorf("task %d yielded at %v; want %ds", v, d, v)
			}
			order = append(order, v)
		}
		if !slices.Equal(order, []int{1, 2, 3}) {
			t.Fatalf("AsCompleted order = %v; want [1 2 3]", order)
		}
	})
}

func TestAsCompletedStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tasks := []*Task[int]{Go(ctx, sleeper(time.Second, 1)), Go(ctx, sleeper(2*time.Second, 2)), Go(ctx, sleeper(3*time.Second, 3))}
		defer Settle(ctx, tasks...)
		n := 0
		for range AsCompleted(ctx, tasks...) {
			n++
			break
		}
		if n != 1 {
			t.Fatalf("loop ran %d times after break", n)
		}
		tctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		n = 0
		for range AsCompleted(tctx, tasks...) {
			n++
		}
		// From 1s to 2.5s: the task done at 1s, the one done at 2s, then stop.
		if n != 2 || tctx.Err() == nil {
			t.Fatalf("with a 1.5s timeout AsCompleted yielded %d tasks; want 2, then stop", n)
		}
	})
}

// watchers counts the waiters a task would tell when it finishes.
func (t *Task[T]) watcherCount() int {
	mu := t.ctx.lock()
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for w := t.ctx.watchers.Load(); w != nil && !w.isFinal(); w = w.next.Load() {
		n++
	}
	return n
}

// The asyncio idiom "while pending: done, pending = wait(pending,
// FIRST_COMPLETED)" must not pile up a watcher per task per call.
func TestWaitLoopLeavesNoWatchers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const n = 50
		pending := make([]*Task[int], n)
		for i := range pending {
			pending[i] = Go(ctx, sleeper(time.Duration(i+1)*time.Second, i))
		}
		last := pending[n-1]
		for rounds := 0; len(pending) > 0; rounds++ {
			var done []*Task[int]
			done, pending = Wait(ctx, pending, FirstCompleted)
			if len(done) == 0 {
				t.Fatal("Wait(FirstCompleted) returned no task")
			}
			if len(pending) > 0 {
				if c := last.watcherCount(); c != 0 {
					t.Fatalf("after round %d the last task has %d watchers; want 0", rounds, c)
				}
			}
		}
	})
}

func TestAsCompletedStopLeavesNoWatchers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tasks := []*Task[int]{Go(ctx, sleeper(time.Second, 1)), Go(ctx, sleeper(time.Hour, 2))}
		defer Settle(ctx, tasks...)
		for range 3 {
			for range AsCompleted(ctx, tasks...) {
				break
			}
			tctx, cancel := context.WithTimeout(ctx, time.Second)
			for range AsCompleted(tctx, tasks[1]) {
			}
			cancel()
		}
		if c := tasks[1].watcherCount(); c != 0 {
			t.Fatalf("the running task has %d watchers after the loops stopped; want 0", c)
		}
	})
}

// An Until that is not one of the three used to act as AllCompleted.
func TestWaitInvalidUntilPanics(t *testing.T) {
	t.Parallel()
	task := Go(context.Background(), func(ctx context.Context) (int, error) { return 1, nil })
	mustPanic(t, "gather: Wait: invalid Until 7", func() { Wait(context.Background(), []*Task[int]{task}, Until(7)) })
	task.Await(context.Background())
}

// owed returns the failure of a finished task that is left for the
// unretrieved report, or nil if it has none.
func owed[T any](t *Task[T]) *taskState {
	if st := t.failure(); st != nil && st.owed {
		return st
	}
	return nil
}

// All and Settle share one watcher among the tasks nobody else watches;
// the tasks that others watch too, before or after, must still tell
// everyone, and a waiter that gives up must leave the shared one in place.
func TestAllBesideOtherWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const n = 8
		tasks := make([]*Task[int], n)
		for i := range tasks {
			tasks[i] = Go(ctx, sleeper(time.Duration(i+1)*time.Second, i))
		}
		done := tasks[3].Done() // watched before All: All needs a watcher of its own
		var all []int
		var allErr error
		var settled []Result[int]
		var wg sync.WaitGroup
		wg.Go(func() { all, allErr = All(ctx, tasks...) })
		wg.Go(func() { settled = Settle(ctx, tasks...) })
		synctest.Wait() // both are waiting: the first took the empty lists
		// Waiters that give up leave the others in place.
		for range 3 {
			tctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			Wait(tctx, tasks, FirstCompleted)
			cancel()
		}
		if c := tasks[n-1].watcherCount(); c != 2 {
			t.Fatalf("the last task has %d watchers while All and Settle wait; want 2", c)
		}
		later := tasks[n-1].Done() // watched after All
		wg.Wait()
		<-done
		<-later
		if allErr != nil {
			t.Fatalf("All() error = %v", allErr)
		}
		for i := range n {
			if all[i] != i || settled[i].Value != i || settled[i].Err != nil {
				t.Fatalf("task %d: All gave %d, Settle %+v; want %d", i, all[i], settled[i], i)
			}
		}
	})
}

// The error All returns is the first to come, not the first in the
// arguments, though All no longer knows which task told it.
func TestAllReturnsTheFirstFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		first, second := errors.New("first"), errors.New("second")
		late := Go(ctx, func(ctx context.Context) (int, error) {
			Sleep(ctx, 2*time.Second) // not cancelled: it must fail with its own error
			return 0, second
		})
		early := Go(ctx, func(ctx context.Context) (int, error) {
			time.Sleep(time.Second)
			return 0, first
		})
		if _, err := All(ctx, late, early); err != first {
			t.Fatalf("All() error = %v; want %v", err, first)
		}
		if owed(early).retrieved.Load() != true {
			t.Fatal("All did not mark the error it returned as read")
		}
		if _, err := late.Await(ctx); err != second {
			t.Fatalf("the late task's error = %v; want its own, %v", err, second)
		}
	})
}
