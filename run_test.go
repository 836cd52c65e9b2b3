package gather

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Run's tests are not parallel: Run owns the process's signals.

func TestRunReturnsMainsError(t *testing.T) {
	if err := Run(func(ctx context.Context) error { return errBoom }); err != errBoom {
		t.Fatalf("Run() = %v; want main's error", err)
	}
	if err := Run(func(ctx context.Context) error { return nil }); err != nil {
		t.Fatalf("Run() = %v; want nil", err)
	}
	var pe *PanicError
	if err := Run(func(ctx context.Context) error { panic("in main") }); !errors.As(err, &pe) {
		t.Fatalf("Run() = %v; want a *PanicError", err)
	}
}

func TestRunWaitsForWhatMainStarted(t *testing.T) {
	var sawCause error
	var nested *Task[int]
	var groupChildDone bool
	err := Run(func(ctx context.Context) error {
		Go(ctx, func(ctx context.Context) (int, error) {
			// A task started by a task is waited for too.
			nested = Go(ctx, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				sawCause = context.Cause(ctx)
				return 1, nil
			})
			<-ctx.Done()
			return 0, nil
		})
		g := NewGroup(ctx)
		g.Go(func(ctx context.Context) error {
			<-ctx.Done()
			groupChildDone = true
			return nil
		})
		return nil // without awaiting anything
	})
	if err != nil {
		t.Fatal(err)
	}
	if nested == nil {
		t.Fatal("the nested task never started")
	}
	if r, done := nested.Result(); !done || r.Value != 1 {
		t.Fatalf("Run returned before the nested task did: %v, %v", r, done)
	}
	if sawCause != ErrMainReturned {
		t.Fatalf("the leftover task saw cause %v; want ErrMainReturned", sawCause)
	}
	if !groupChildDone {
		t.Fatal("Run returned before a group child did")
	}
}

func TestRunReportsUnretrievedErrors(t *testing.T) {
	unread := errors.New("request failed: nobody awaited me")
	read := errors.New("request failed: somebody awaited me")
	reported := captureUnretrieved(t)
	err := Run(func(ctx context.Context) error {
		for range 5 {
			Go(ctx, func(context.Context) (int, error) { return 0, unread })
		}
		task := Go(ctx, func(context.Context) (int, error) { return 0, read })
		task.Await(ctx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := reported()
	// Count only this test's errors: the garbage collector may report
	// another test's at any time.
	n := 0
	for _, e := range got {
		if errors.Is(e, read) {
			t.Fatalf("reported %v, which was read", e)
		}
		if !errors.Is(e, unread) {
			continue
		}
		n++
		var ue *UnretrievedError
		if !errors.As(e, &ue) || ue.Err != unread {
			t.Fatalf("reported %v; want an *UnretrievedError wrapping the unread error", e)
		}
	}
	if n != 5 {
		t.Fatalf("Run reported %d unread errors: %v; want 5", n, got)
	}
}

func TestRunSignals(t *testing.T) {
	exited := make(chan int, 1)
	oldExit, oldStderr := exit, stderr
	var said strings.Builder
	exit = func(code int) { exited <- code }
	stderr = &said
	defer func() { exit, stderr = oldExit, oldStderr }()
	var cause error
	err := Run(func(ctx context.Context) error {
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			return errors.New("the context was not cancelled by SIGINT")
		}
		cause = context.Cause(ctx)
		// A second Ctrl-C while main is still cleaning up exits at once.
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		select {
		case code := <-exited:
			if code != 130 {
				return errors.New("second SIGINT exited with the wrong status")
			}
		case <-time.After(10 * time.Second):
			return errors.New("a second SIGINT did not exit")
		}
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	var se *SignalError
	if !errors.As(cause, &se) || se.Signal != os.Interrupt {
		t.Fatalf("cause = %v; want a *SignalError for interrupt", cause)
	}
	if !errors.Is(cause, context.Canceled) {
		t.Fatal("a SignalError must match context.Canceled")
	}
	if got := said.String(); got != "gather: second interrupt, exiting now\n" {
		t.Fatalf("on the second signal Run said %q", got)
	}
	if got := cause.Error(); got != "gather: received interrupt" {
		t.Fatalf("cause.Error() = %q", got)
	}
}

// A goroutine that Run does not know of may start tasks while Run waits,
// and after: that must be neither a race nor a WaitGroup misuse, and the
// tasks started while Run still waited are waited for.
func TestRunLateStartsFromAStrayGoroutine(t *testing.T) {
	for range 20 {
		strayDone := make(chan struct{})
		var tasks []*Task[int]
		err := Run(func(ctx context.Context) error {
			go func() {
				defer close(strayDone)
				for range 200 {
					tasks = append(tasks, Go(ctx, func(context.Context) (int, error) { return 1, nil }))
					runtime.Gosched()
				}
			}()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		<-strayDone
		if _, err := All(context.Background(), tasks...); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunForgetsErrorsThatWereRead(t *testing.T) {
	var tr *tracker
	err := Run(func(ctx context.Context) error {
		tr = trackerFrom(ctx)
		for range 1000 {
			Go(ctx, func(context.Context) (int, error) { return 0, errBoom }).Await(ctx)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := cap(tr.failed); c > 16 {
		t.Fatalf("Run kept room for %d failed tasks after 1000 read ones; it must drop the read ones", c)
	}
}

func TestRunMainGoexit(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	returned := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(func(ctx context.Context) error {
			runtime.Goexit()
			return nil
		})
		returned = true
	}()
	<-done
	if returned {
		t.Fatal("Run returned, though main called runtime.Goexit")
	}
}
