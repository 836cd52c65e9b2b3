package gathertest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/gathertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a testing.TB whose failures and cleanups are kept, so that a
// test can run Check on a test of its own and look at the verdict.
type recorder struct {
	testing.TB
	ctx      context.Context
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func newRecorder(t *testing.T) *recorder { return &recorder{TB: t, ctx: t.Context()} }

func (r *recorder) Helper()                  {}
func (r *recorder) Context() context.Context { return r.ctx }
func (r *recorder) Cleanup(f func())         { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// end runs the cleanups, as the end of a test does, and returns the
// failures.
func (r *recorder) end() []string {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

var errBoom = errors.New("boom")

func waitForCancel(ctx context.Context) (int, error) { return 0, gather.Sleep(ctx, time.Hour) }

func TestCheckReportsALeakedTask(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	ctx := gathertest.Check(r)
	task := gather.Go(ctx, waitForCancel, gather.Name("leaky"))
	time.Sleep(10 * time.Millisecond) // let it fall asleep
	errs := r.end()
	if len(errs) != 1 || !strings.Contains(errs[0], `gathertest: task "leaky" (started at gathertest_test.go:`) ||
		!strings.Contains(errs[0], "still running at the end of the test: sleeping") {
		t.Fatalf("Check reported %q; want the leaked task, named, with where it started and that it sleeps", errs)
	}
	if _, ok := task.Result(); !ok {
		t.Fatal("the leaked task is still running after Check's cleanup: it must cancel it and wait")
	}
}

func TestCheckReportsADroppedError(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	ctx := gathertest.Check(r)
	task := gather.Go(ctx, func(ctx context.Context) (int, error) { return 0, errBoom })
	<-task.Done() // finished, but nobody read its error
	errs := r.end()
	if len(errs) != 1 || !strings.Contains(errs[0], "gathertest: task (started at gathertest_test.go:") ||
		!strings.Contains(errs[0], "failed and its error was never read: boom") {
		t.Fatalf("Check reported %q; want the task whose error was dropped", errs)
	}
}

func TestCheckPassesWhatIsClean(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	ctx := gathertest.Check(r)
	a := gather.Go(ctx, func(ctx context.Context) (int, error) { return 1, nil })
	b := gather.Go(ctx, func(ctx context.Context) (int, error) { return 0, errBoom }, gather.Name("read"))
	gather.Settle(ctx, a, b)
	g := gather.NewGroup(ctx, gather.Name("waited"))
	g.Go(func(ctx context.Context) error { return errBoom })
	g.Wait()
	cancelled := gather.Go(ctx, waitForCancel)
	cancelled.Cancel(nil)
	<-cancelled.Done() // a task stopped by its cancellation has nothing to read
	if errs := r.end(); len(errs) != 0 {
		t.Fatalf("Check reported %q for a test that left nothing behind", errs)
	}
}

func TestCheckReportsAGroupNeverWaited(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	ctx := gathertest.Check(r)
	g := gather.NewGroup(ctx, gather.Name("forgotten"))
	g.Go(func(ctx context.Context) error { return errBoom }, gather.Name("child"))
	time.Sleep(10 * time.Millisecond)
	errs := strings.Join(r.end(), "\n")
	if !strings.Contains(errs, `group "forgotten" (started at gathertest_test.go:`) || !strings.Contains(errs, "Wait was never called") ||
		!strings.Contains(errs, `group "forgotten" (started at gathertest_test.go:`) || !strings.Contains(errs, "error was never read: boom") {
		t.Fatalf("Check reported:\n%s\nwant the group still running and its unread error", errs)
	}
	g.Wait()
}

// Parallel tests each see their own tasks only, where goleak would see
// every goroutine of the binary.
func TestCheckIsPrecisePerTest(t *testing.T) {
	t.Parallel()
	leaky, clean := newRecorder(t), newRecorder(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		ctx := gathertest.Check(leaky)
		gather.Go(ctx, waitForCancel, gather.Name("mine"))
	})
	wg.Go(func() {
		ctx := gathertest.Check(clean)
		gather.Go(ctx, func(ctx context.Context) (int, error) { return 1, nil }).Await(ctx)
	})
	wg.Wait()
	cleanErrs := clean.end()
	leakyErrs := leaky.end()
	if len(cleanErrs) != 0 || len(leakyErrs) != 1 || !strings.Contains(leakyErrs[0], `"mine"`) {
		t.Fatalf("clean test reported %q, leaky one %q; want nothing, then the leak", cleanErrs, leakyErrs)
	}
}

func TestCheckTasksThatIgnoreCancellation(t *testing.T) {
	old := gathertest.Grace
	gathertest.Grace = 50 * time.Millisecond
	defer func() { gathertest.Grace = old }()
	r := newRecorder(t)
	ctx := gathertest.Check(r)
	release := make(chan struct{})
	stubborn := gather.Go(ctx, func(ctx context.Context) (int, error) { <-release; return 0, nil })
	errs := strings.Join(r.end(), "\n")
	close(release)
	stubborn.Await(context.Background())
	if !strings.Contains(errs, "still running at the end of the test: running") || !strings.Contains(errs, "still run 50ms after their context was cancelled") {
		t.Fatalf("Check reported:\n%s\nwant the leak, and that it ignored the cancellation", errs)
	}
}

func TestCheckInFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder(t)
		ctx := gathertest.Check(r)
		holder := gather.Go(ctx, func(ctx context.Context) (int, error) {
			inner := gather.Go(ctx, waitForCancel, gather.Name("inner"))
			return inner.Await(ctx)
		}, gather.Name("holder"))
		time.Sleep(time.Second)
		synctest.Wait()
		errs := strings.Join(r.end(), "\n")
		if !strings.Contains(errs, `task "holder"`) || !strings.Contains(errs, "awaiting task #") ||
			!strings.Contains(errs, `task "inner"`) || !strings.Contains(errs, "sleeping, 59m59s left") {
			t.Fatalf("Check reported:\n%s\nwant both tasks and what they do", errs)
		}
		holder.Await(context.Background())
	})
}

// TestSubjectLeaks is the subject of TestCheckFailsARealTest: it runs only
// in the child process that test starts, and fails there.
func TestSubjectLeaks(t *testing.T) {
	if os.Getenv("GATHERTEST_SUBJECT") != "1" {
		t.Skip("run by TestCheckFailsARealTest")
	}
	ctx := gathertest.Check(t)
	gather.Go(ctx, waitForCancel, gather.Name("left behind"))
	gather.Go(ctx, func(ctx context.Context) (int, error) { return 0, errBoom }, gather.Name("dropped"))
	time.Sleep(10 * time.Millisecond)
}

// A real test that leaks a task and drops an error fails, and says why.
func TestCheckFailsARealTest(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSubjectLeaks$", "-test.v")
	cmd.Env = append(os.Environ(), "GATHERTEST_SUBJECT=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the leaking test exited with %v; want status 1\n%s", err, out)
	}
	for _, want := range []string{
		"--- FAIL: TestSubjectLeaks",
		`gathertest: task "left behind" (started at gathertest_test.go:`,
		"is still running at the end of the test: sleeping",
		`gathertest: task "dropped" (started at gathertest_test.go:`,
		"failed and its error was never read: boom",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the failing test's output lacks %q:\n%s", want, out)
		}
	}
}
