// Package gathertest checks, in a test, that the tasks a test started have
// ended and that their errors were read: the test kit of package gather.
//
// goleak finds goroutines left running when a whole test binary ends, and
// cannot tell which of several parallel tests left them. Check is precise
// per test: it knows the tasks by the context they were started from.
//
//	func TestCrawl(t *testing.T) {
//		t.Parallel()
//		ctx := gathertest.Check(t)
//		crawl(ctx, urls) // every task it starts from ctx is checked
//	}
package gathertest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/gather-dev/gather" // which opens the scopes
	"github.com/gather-dev/gather/internal/scopehook"
)

// Grace is how long Check waits, after reporting the tasks still running
// at the end of a test, for them to end once their context is cancelled,
// before it reports that they ignore cancellation.
var Grace = 5 * time.Second

// Check returns a context, derived from t.Context() but not cancelled with
// it, and fails t at its end, when its cleanups run, for each task, group
// child or group started from that context (directly or through other
// tasks) that is still running, and for each failed task whose error was
// never read. It names each one: its name (see gather.Name), where it was
// started, and what it is doing ("sleeping", "awaiting task #4"). A group
// whose Wait was never called is still running, and its children's errors
// unread.
//
// Then Check cancels the context and waits up to [Grace] for what was left
// running, so that one test's leak does not run on into the next. Tasks
// started from another context, such as context.Background(), are not
// seen: start the code under test from the context Check returns.
//
// Check records every task's name, place and state, as the task tree
// does (see gather.SetTracking), which costs each task about 0.5 µs
// while the test runs.
func Check(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	ctx, scope := scopehook.Open(ctx)
	t.Cleanup(func() {
		running := scope.Running()
		for _, task := range running {
			t.Errorf("gathertest: %s is still running at the end of the test: %s", describe(task), task.State)
		}
		for _, task := range scope.Unread() {
			t.Errorf("gathertest: %s failed and its error was never read: %v", describe(task), task.Err)
		}
		cancel()
		if !scope.Close(Grace) {
			t.Errorf("gathertest: tasks of the test still run %v after their context was cancelled", Grace)
		}
		// What a task that ended only now failed with was never read
		// either, but it failed because of the cancellation above: not
		// worth a report.
		scope.Unread()
	})
	return ctx
}

// describe names a task: `task "fetch a" (started at crawl_test.go:42)`.
func describe(task scopehook.Task) string {
	s := task.Kind
	if task.Name != "" {
		s += fmt.Sprintf(" %q", task.Name)
	}
	if task.Location != "" {
		s += " (started at " + filepath.Base(task.Location) + ")"
	}
	return s
}
