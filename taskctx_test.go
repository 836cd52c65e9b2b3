package gather

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

// TestTaskSize holds a Task of a small T to six words, 48 bytes on a
// 64-bit system: the collector marks and scans every live task, and a
// seventh word would put it in the 64-byte size class.
func TestTaskSize(t *testing.T) {
	if got, want := unsafe.Sizeof(Task[int]{}), 6*unsafe.Sizeof(uintptr(0)); got != want {
		t.Errorf("a Task[int] is %d bytes; want %d", got, want)
	}
}

// TestTaskLockSharedWithParent runs tasks whose lock is their parent
// task's (see taskLocks): one cancelled, which asks whether the parent
// has ended, and one that makes its context, which asks the parent for
// its own, both while the parent's context is not made yet. Were either
// to ask under its lock, it would wait for itself forever.
func TestTaskLockSharedWithParent(t *testing.T) {
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := Go(ctx, func(pctx context.Context) (int, error) {
			self := pctx.(*taskCtx)
			wait := make(chan struct{})
			var shared, others []*Task[int]
			for len(shared) < 2 {
				c := Go(pctx, func(context.Context) (int, error) { <-wait; return 0, nil })
				if c.ctx.lock() == self.lock() {
					shared = append(shared, c)
				} else {
					others = append(others, c)
				}
				if len(others) > 100_000 {
					close(wait)
					return 0, errors.New("no child shares its parent's lock")
				}
			}
			if self.state.Load() != nil {
				close(wait)
				return 0, errors.New("the parent's context was made before the test")
			}
			shared[0].Cancel(errBoom)
			if shared[1].ctx.Done() == nil {
				return 0, errors.New("a task context with no Done channel")
			}
			close(wait)
			if _, err := All(ctx, append(shared, others...)...); err != nil {
				return 0, err
			}
			if cause := shared[0].ctx.cancelledBy(); cause != errBoom {
				return 0, fmt.Errorf("the cancelled child's cause is %v; want %v", cause, errBoom)
			}
			return 0, nil
		}).Await(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a task sharing its parent's lock deadlocked")
	}
}

// The task context is made lazily; these tests check that a task function
// sees exactly what a context.WithCancelCause child would show, whenever it
// first looks.

func TestTaskContextCancelledBeforeItIsUsed(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	task := Go(context.Background(), func(ctx context.Context) (error, error) {
		<-release // Cancel happens before the context is first used
		<-ctx.Done()
		return ctx.Err(), context.Cause(ctx)
	})
	task.Cancel(errBoom)
	close(release)
	ctxErr, cause := task.Await(context.Background())
	if ctxErr != context.Canceled || cause != errBoom {
		t.Fatalf("task saw Err() = %v, Cause = %v; want Canceled, boom", ctxErr, cause)
	}
}

func TestTaskContextParentEndsBeforeItIsUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithTimeoutCause(context.Background(), time.Second, errBoom)
		defer cancel()
		task := Go(parent, func(ctx context.Context) (error, error) {
			time.Sleep(2 * time.Second) // the parent times out meanwhile
			return ctx.Err(), context.Cause(ctx)
		})
		ctxErr, cause := task.Await(context.Background())
		if ctxErr != context.DeadlineExceeded || cause != errBoom {
			t.Fatalf("task saw Err() = %v, Cause = %v; want DeadlineExceeded, boom", ctxErr, cause)
		}
	})
}

func TestTaskContextDeadlineAndValues(t *testing.T) {
	t.Parallel()
	type key struct{}
	deadline := time.Now().Add(time.Hour)
	parent, cancel := context.WithDeadline(context.WithValue(context.Background(), key{}, "v"), deadline)
	defer cancel()
	task := Go(parent, func(ctx context.Context) (bool, error) {
		d, ok := ctx.Deadline()
		return ok && d.Equal(deadline) && ctx.Value(key{}) == "v", nil
	})
	if ok, _ := task.Await(context.Background()); !ok {
		t.Fatal("a task's context lost its parent's deadline or values")
	}
}

func TestTaskContextDerivedContextsFollowIt(t *testing.T) {
	t.Parallel()
	afterFunc := make(chan struct{})
	derivedCause := make(chan error, 1)
	started := make(chan struct{})
	task := Go(context.Background(), func(ctx context.Context) (int, error) {
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		context.AfterFunc(ctx, func() { close(afterFunc) })
		close(started)
		<-child.Done()
		derivedCause <- context.Cause(child)
		return 0, nil
	})
	<-started
	task.Cancel(errBoom)
	if err := <-derivedCause; err != errBoom {
		t.Fatalf("a context derived from the task's saw cause %v; want boom", err)
	}
	select {
	case <-afterFunc:
	case <-time.After(10 * time.Second):
		t.Fatal("context.AfterFunc on the task's context never ran")
	}
	task.Await(context.Background())
}

func TestTaskContextConcurrentCancelAndUse(t *testing.T) {
	t.Parallel()
	for range 200 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		task := Go(context.Background(), func(ctx context.Context) (error, error) {
			<-start
			<-ctx.Done()
			return context.Cause(ctx), nil
		})
		wg.Go(func() {
			<-start
			task.Cancel(errBoom)
		})
		close(start)
		wg.Wait()
		if cause, _ := task.Await(context.Background()); cause != errBoom {
			t.Fatalf("cause = %v; want boom", cause)
		}
	}
}

func TestTaskContextFirstCancelWins(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	task := Go(context.Background(), func(ctx context.Context) (error, error) {
		<-release
		return context.Cause(ctx), nil
	})
	task.Cancel(errBoom)
	task.Cancel(errors.New("second"))
	close(release)
	if cause, _ := task.Await(context.Background()); cause != errBoom {
		t.Fatalf("cause = %v; want the first cause, boom", cause)
	}
}

// The lazy context must keep the order of events: the first cancellation
// wins, whether it came from Cancel or from the parent, even when the task
// looks at its context only after both.
func TestTaskContextCancelOrderBeforeItIsUsed(t *testing.T) {
	t.Parallel()
	errParent := errors.New("parent ended")
	tests := []struct {
		name        string
		cancelFirst bool
		want        error
	}{
		{"task cancelled, then parent", true, errBoom},
		{"parent ended, then task cancelled", false, errParent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancelParent := context.WithCancelCause(context.Background())
			release := make(chan struct{})
			task := Go(parent, func(ctx context.Context) (error, error) {
				<-release
				return context.Cause(ctx), nil
			})
			if tt.cancelFirst {
				task.Cancel(errBoom)
				cancelParent(errParent)
			} else {
				cancelParent(errParent)
				task.Cancel(errBoom)
			}
			close(release)
			if cause, _ := task.Await(context.Background()); cause != tt.want {
				t.Fatalf("the task saw cause %v; want %v", cause, tt.want)
			}
		})
	}
}

func TestTaskContextReturnedThenParentEnds(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancelCause(context.Background())
	var leaked context.Context
	task := Go(parent, func(ctx context.Context) (int, error) {
		leaked = ctx // not looked at while the task runs
		return 0, nil
	})
	<-task.Done()
	cancel(errBoom)
	if got := context.Cause(leaked); got != ErrTaskReturned {
		t.Fatalf("cause = %v; want ErrTaskReturned, which came first", got)
	}
}

// Sleep in a task's own context makes no context: a cancellation fires its
// timer, and the parent's end is watched on the parent's channel.
func TestSleepInTaskContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		made := func(task *Task[error]) bool {
			s := task.ctx.state.Load()
			return s != nil && s.inner != nil
		}
		sleepy := func(ctx context.Context) (error, error) { return Sleep(ctx, time.Hour), nil }

		// Cancelled while sleeping.
		task := Go(context.Background(), sleepy)
		time.Sleep(time.Second)
		task.Cancel(errBoom)
		if err, _ := task.Await(context.Background()); err != errBoom {
			t.Errorf("Sleep after Cancel(boom) = %v; want boom", err)
		}
		if made(task) {
			t.Error("Sleep made the task's context")
		}

		// The parent ends while it sleeps.
		parent, cancel := context.WithCancelCause(context.Background())
		task = Go(parent, sleepy)
		time.Sleep(time.Second)
		cancel(errBoom)
		if err, _ := task.Await(context.Background()); err != errBoom {
			t.Errorf("Sleep after the parent ended = %v; want the parent's cause", err)
		}

		// Cancelled before it sleeps: no wait at all.
		start := time.Now()
		task = Go(context.Background(), func(ctx context.Context) (error, error) {
			time.Sleep(time.Second)
			return Sleep(ctx, time.Hour), nil
		})
		task.Cancel(nil)
		if err, _ := task.Await(context.Background()); err != context.Canceled || time.Since(start) != time.Second {
			t.Errorf("Sleep on a cancelled task = %v after %v; want Canceled after 1s", err, time.Since(start))
		}

		// The context is made by someone else while the task sleeps, then
		// cancelled: the sleep still ends.
		task = Go(context.Background(), sleepy)
		time.Sleep(time.Second)
		_ = task.ctx.Done()
		task.Cancel(errBoom)
		if err, _ := task.Await(context.Background()); err != errBoom {
			t.Errorf("Sleep after the context was made and cancelled = %v; want boom", err)
		}

		// Undisturbed, it sleeps its time and returns nil.
		start = time.Now()
		task = Go(context.Background(), func(ctx context.Context) (error, error) { return Sleep(ctx, 3*time.Second), nil })
		if err, _ := task.Await(context.Background()); err != nil || time.Since(start) != 3*time.Second {
			t.Errorf("Sleep(3s) = %v after %v; want nil after 3s", err, time.Since(start))
		}
		if made(task) {
			t.Error("Sleep made the task's context")
		}
	})
}
