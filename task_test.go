package gather

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var errBoom = errors.New("boom")

// sleeper returns a task function that sleeps d, honouring its context,
// then returns v.
func sleeper[T any](d time.Duration, v T) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		if err := Sleep(ctx, d); err != nil {
			var zero T
			return zero, err
		}
		return v, nil
	}
}

func TestGoAwait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ok := Go(ctx, func(context.Context) (int, error) { return 42, nil })
	v, err := ok.Await(ctx)
	if v != 42 || err != nil {
		t.Fatalf("Await() = %v, %v; want 42, nil", v, err)
	}
	bad := Go(ctx, func(context.Context) (int, error) { return 7, errBoom })
	v, err = bad.Await(ctx)
	if v != 7 || !errors.Is(err, errBoom) {
		t.Fatalf("Await() = %v, %v; want 7, boom", v, err)
	}
	// Awaiting again gives the same result.
	if v, err := bad.Await(ctx); v != 7 || !errors.Is(err, errBoom) {
		t.Fatalf("second Await() = %v, %v", v, err)
	}
}

func TestAwaitContextEndsFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		task := Go(context.Background(), sleeper(time.Second, "late"))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := task.Await(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Await() error = %v; want DeadlineExceeded", err)
		}
		if got := time.Since(start); got != 100*time.Millisecond {
			t.Fatalf("Await gave up after %v; want 100ms", got)
		}
		if _, done := task.Result(); done {
			t.Fatal("the task stopped when the awaiter gave up; Await must not own it")
		}
		v, err := task.Await(context.Background())
		if v != "late" || err != nil {
			t.Fatalf("Await() = %q, %v; want late, nil", v, err)
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("task took %v; want 1s", got)
		}
	})
}

func TestResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		task := Go(context.Background(), sleeper(time.Second, 3))
		if r, done := task.Result(); done || r != (Result[int]{}) {
			t.Fatalf("Result() of a running task = %v, %v; want zero, false", r, done)
		}
		select {
		case <-task.Done():
			t.Fatal("Done closed while the task runs")
		default:
		}
		<-task.Done()
		if r, done := task.Result(); !done || r.Value != 3 || r.Err != nil {
			t.Fatalf("Result() = %v, %v; want {3 <nil>}, true", r, done)
		}
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	errStop := errors.New("stop now")
	tests := []struct {
		name      string
		cause     error
		wantCause error
	}{
		{"with cause", errStop, errStop},
		{"nil cause", nil, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{})
			task := Go(context.Background(), func(ctx context.Context) (int, error) {
				close(started)
				<-ctx.Done()
				if !errors.Is(ctx.Err(), context.Canceled) {
					t.Errorf("ctx.Err() = %v; want Canceled", ctx.Err())
				}
				return 0, context.Cause(ctx)
			})
			<-started
			task.Cancel(tt.cause)
			if _, err := task.Await(context.Background()); !errors.Is(err, tt.wantCause) {
				t.Fatalf("the task saw cause %v; want %v", err, tt.wantCause)
			}
		})
	}
}

func TestCancelBeforeStart(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancelCause(context.Background())
	cancel(errBoom)
	task := Go(parent, func(ctx context.Context) (bool, error) {
		return ctx.Err() != nil, context.Cause(ctx)
	})
	seen, err := task.Await(context.Background())
	if !seen || !errors.Is(err, errBoom) {
		t.Fatalf("task under a cancelled parent saw cancelled=%v cause=%v; want true, boom", seen, err)
	}
}

func TestCancelAfterFinish(t *testing.T) {
	t.Parallel()
	task := Go(context.Background(), func(context.Context) (int, error) { return 1, nil })
	<-task.Done()
	task.Cancel(errBoom)
	if v, err := task.Await(context.Background()); v != 1 || err != nil {
		t.Fatalf("Cancel changed a finished task's result to %v, %v", v, err)
	}
}

func TestTaskContextEndsWhenFunctionReturns(t *testing.T) {
	t.Parallel()
	var leaked context.Context
	task := Go(context.Background(), func(ctx context.Context) (int, error) {
		leaked = ctx
		return 0, nil
	})
	<-task.Done()
	if context.Cause(leaked) != ErrTaskReturned {
		t.Fatalf("after its function returned, a task's context has cause %v; want ErrTaskReturned", context.Cause(leaked))
	}
}

func TestPanicBecomesError(t *testing.T) {
	t.Parallel()
	task := Go(context.Background(), func(context.Context) (int, error) {
		panicHere()
		return 0, nil
	})
	_, err := task.Await(context.Background())
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T); want *PanicError", err, err)
	}
	if pe.Value != "deliberate" {
		t.Errorf("PanicError.Value = %v; want deliberate", pe.Value)
	}
	if !strings.Contains(string(pe.Stack), "panicHere") {
		t.Errorf("PanicError.Stack does not name the panicking function:\n%s", pe.Stack)
	}
	if got := err.Error(); got != "gather: task panicked: deliberate" {
		t.Errorf("Error() = %q", got)
	}
}

func panicHere() { panic("deliberate") }

func TestPanicWithError(t *testing.T) {
	t.Parallel()
	task := Go(context.Background(), func(context.Context) (int, error) { panic(errBoom) })
	if _, err := task.Await(context.Background()); !errors.Is(err, errBoom) {
		t.Fatalf("errors.Is(%v, errBoom) = false; PanicError must unwrap an error value", err)
	}
}

func TestGoexitDoesNotHang(t *testing.T) {
	t.Parallel()
	task := Go(context.Background(), func(context.Context) (int, error) {
		runtime.Goexit()
		return 0, nil
	})
	if _, err := task.Await(context.Background()); !errors.Is(err, errGoexit) {
		t.Fatalf("Await() error = %v; want errGoexit", err)
	}
}

func TestWaitFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		start := time.Now()
		v, err := WaitFor(ctx, Go(ctx, sleeper(time.Second, "on time")), 2*time.Second)
		if v != "on time" || err != nil {
			t.Fatalf("WaitFor() = %q, %v; want on time, nil", v, err)
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("WaitFor returned after %v; want 1s", got)
		}
	})
}

func TestWaitForTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var sawCause error
		task := Go(ctx, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			sawCause = context.Cause(ctx)
			return 0, ctx.Err()
		})
		start := time.Now()
		_, err := WaitFor(ctx, task, time.Second)
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFor() error = %v; want ErrTimeout, matching DeadlineExceeded", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("WaitFor timed out after %v; want 1s", got)
		}
		if _, done := task.Result(); !done {
			t.Fatal("WaitFor returned while the task was still running")
		}
		if sawCause != ErrTimeout {
			t.Fatalf("the task saw cause %v; want ErrTimeout", sawCause)
		}
	})
}

func TestWaitForWaitsForStubbornTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		// This task ignores its context: WaitFor must still not return
		// before it has.
		task := Go(ctx, func(context.Context) (int, error) {
			time.Sleep(3 * time.Second)
			return 1, nil
		})
		start := time.Now()
		if _, err := WaitFor(ctx, task, time.Second); !errors.Is(err, ErrTimeout) {
			t.Fatalf("WaitFor() error = %v; want ErrTimeout", err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Fatalf("WaitFor returned after %v; want 3s, when the task returned", got)
		}
	})
}

func TestWaitForContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		task := Go(ctx, sleeper(time.Hour, 0))
		time.AfterFunc(time.Second, func() { cancel(errBoom) })
		if _, err := WaitFor(ctx, task, time.Minute); !errors.Is(err, errBoom) {
			t.Fatalf("WaitFor() error = %v; want the context's cause", err)
		}
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := Sleep(context.Background(), 1500*time.Millisecond); err != nil {
			t.Fatalf("Sleep() = %v", err)
		}
		if got := time.Since(start); got != 1500*time.Millisecond {
			t.Fatalf("Sleep slept %v; want 1.5s", got)
		}
		ctx, cancel := context.WithTimeoutCause(context.Background(), time.Second, errBoom)
		defer cancel()
		start = time.Now()
		if err := Sleep(ctx, time.Hour); !errors.Is(err, errBoom) {
			t.Fatalf("Sleep() = %v; want the context's cause", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("cancelled Sleep returned after %v; want 1s", got)
		}
		if err := Sleep(ctx, 0); !errors.Is(err, errBoom) {
			t.Fatalf("Sleep(done ctx, 0) = %v; want the cause", err)
		}
	})
}

// collectGarbageUntil runs the garbage collector until ch closes, for at most
// a few seconds.
func collectGarbageUntil(t *testing.T, ch <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		select {
		case <-ch:
			return true
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false
}

func TestUnretrievedErrorIsReportedWhenCollected(t *testing.T) {
	unread := errors.New("nobody reads me")
	read := errors.New("somebody read me")
	func() {
		a := Go(context.Background(), func(context.Context) (int, error) { return 0, read })
		b := Go(context.Background(), func(context.Context) (int, error) { return 0, unread })
		if _, err := a.Await(context.Background()); err != read {
			t.Fatalf("Await() = %v", err)
		}
		<-b.Done()
	}()
	for !unretrieved.has(unread) {
		if !collectGarbageUntil(t, unretrieved.changed()) {
			t.Fatal("the unread error was not reported after garbage collection")
		}
	}
	// Both tasks became garbage together, and cleanups run in the order
	// their objects were queued; give the other one a last chance anyway.
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if unretrieved.has(read) {
		t.Fatal("an error that was read was reported as unretrieved")
	}
}

func TestDefaultUnretrievedHandler(t *testing.T) {
	var buf strings.Builder
	old := stderr
	stderr = &buf
	defer func() { stderr = old }()
	defer SetUnretrievedHandler(nil)()
	reportIfUnretrieved(&taskState{err: errBoom})
	read := &taskState{err: errBoom}
	read.retrieved.Store(true)
	reportIfUnretrieved(read)
	if got, want := buf.String(), "gather: task error was never retrieved: boom\n"; got != want {
		t.Fatalf("default handler wrote %q; want %q", got, want)
	}
}

// A cancelled task has nothing to retrieve, as in asyncio; a task that
// fails on its own, or that returns a cancellation error although nobody
// cancelled it, does.
func TestUnretrievedReportSkipsCancelledTasks(t *testing.T) {
	own := errors.New("failed while stopping")
	notCancelled := fmt.Errorf("an inner call gave up: %w", context.Canceled)
	reported := captureUnretrieved(t)
	var quiet, loud []*Task[int]
	err := Run(func(ctx context.Context) error {
		quiet = append(quiet, Go(ctx, func(ctx context.Context) (int, error) { // stopped by Run
			<-ctx.Done()
			return 0, ctx.Err()
		}))
		quiet = append(quiet, Go(ctx, func(ctx context.Context) (int, error) { // stopped by Run, with the cause
			<-ctx.Done()
			return 0, fmt.Errorf("wrapped: %w", context.Cause(ctx))
		}))
		cancelled := Go(ctx, func(ctx context.Context) (int, error) { // stopped by Cancel
			<-ctx.Done()
			return 0, context.Cause(ctx)
		})
		quiet = append(quiet, cancelled)
		cancelled.Cancel(errors.New("stop"))
		<-cancelled.Done()
		loud = append(loud, Go(ctx, func(ctx context.Context) (int, error) { // a real error while stopping
			<-ctx.Done()
			return 0, own
		}))
		uncancelled := Go(ctx, func(ctx context.Context) (int, error) { return 0, notCancelled })
		loud = append(loud, uncancelled)
		<-uncancelled.Done() // before Run cancels ctx
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, task := range quiet {
		if owed(task) != nil {
			t.Errorf("cancelled task %d (%v) was left for the unretrieved report", i, task.failure().err)
		}
	}
	for i, task := range loud {
		if owed(task) == nil || !owed(task).retrieved.Load() {
			t.Errorf("failed task %d was not reported", i)
		}
	}
	got := reported()
	for _, want := range []error{own, notCancelled} {
		if !slices.ContainsFunc(got, func(e error) bool { return errors.Is(e, want) }) {
			t.Errorf("%v was not reported; reported: %v", want, got)
		}
	}
}

func TestWaitForLeavesTheTasksOwnErrorUnread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		own := errors.New("could not stop cleanly")
		ctx := context.Background()
		task := Go(ctx, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, own
		})
		if _, err := WaitFor(ctx, task, time.Second); !errors.Is(err, ErrTimeout) {
			t.Fatalf("WaitFor() = %v; want ErrTimeout", err)
		}
		if owed(task) == nil || owed(task).retrieved.Load() {
			t.Fatal("WaitFor took the task's own error as read; it would be silently lost")
		}
		if r, _ := task.Result(); r.Err != own {
			t.Fatalf("Result() = %v; want the task's own error", r)
		}
		stopped := Go(ctx, sleeper(time.Hour, 0))
		WaitFor(ctx, stopped, time.Second)
		if owed(stopped) != nil {
			t.Fatal("a task stopped by WaitFor's cancellation is left for the unretrieved report")
		}
	})
}

// SetUnretrievedHandler's restore function puts back the handler that was
// set before, the default included, however the calls nest.
func TestSetUnretrievedHandlerRestores(t *testing.T) {
	var buf strings.Builder
	old := stderr
	stderr = &buf
	defer func() { stderr = old }()
	var outer, inner []error
	restoreDefault := SetUnretrievedHandler(nil)
	restoreOuter := SetUnretrievedHandler(func(err error) { outer = append(outer, err) })
	restoreInner := SetUnretrievedHandler(func(err error) { inner = append(inner, err) })
	reportIfUnretrieved(&taskState{err: errBoom})
	restoreInner()
	reportIfUnretrieved(&taskState{err: errBoom})
	restoreOuter()
	reportIfUnretrieved(&taskState{err: errBoom})
	restoreDefault()
	if len(inner) != 1 || len(outer) != 1 {
		t.Errorf("inner handler got %d reports, outer %d; want 1 each", len(inner), len(outer))
	}
	if got, want := buf.String(), "gather: task error was never retrieved: boom\n"; got != want {
		t.Errorf("default handler wrote %q; want %q", got, want)
	}
}
