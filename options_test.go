package gather

import (
	"bytes"
	"context"
	"errors"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"testing"
	"time"
)

// A name shows in the task's panic, in the report of its unread error, on
// the task, and as pprof labels in its context and on its goroutine.
func TestNameInPanicError(t *testing.T) {
	t.Parallel()
	boom := func(ctx context.Context) (int, error) { panic("boom") }
	_, err := Go(context.Background(), boom, Name("fetch a")).Await(context.Background())
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Task != "fetch a" || err.Error() != `gather: task "fetch a" panicked: boom` {
		t.Fatalf("Await() = %v; want a PanicError naming the task", err)
	}
	if _, err := Go(context.Background(), boom).Await(context.Background()); err.Error() != "gather: task panicked: boom" {
		t.Fatalf("an unnamed task's panic reads %q", err)
	}

	g := NewGroup(context.Background())
	g.SetPolicy(Supervise())
	g.Go(func(ctx context.Context) error { panic("child") }, Name("child a"))
	Spawn(g, boom, Name("spawned b"))
	err = g.Wait()
	for _, want := range []string{`task "child a" panicked: child`, `task "spawned b" panicked: boom`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Wait() = %v; want it to contain %s", err, want)
		}
	}
}

func TestNameInUnretrievedReport(t *testing.T) {
	reported := captureUnretrieved(t)
	Run(func(ctx context.Context) error {
		Go(ctx, func(ctx context.Context) (int, error) { return 0, errBoom }, Name("lost"))
		return nil
	})
	got := reported()
	var ue *UnretrievedError
	if len(got) != 1 || !errors.As(got[0], &ue) || ue.Task != "lost" || got[0].Error() != `task "lost": boom` {
		t.Fatalf("reports = %v; want one naming the task", got)
	}
}

func TestTaskName(t *testing.T) {
	t.Parallel()
	named := Go(context.Background(), trivialTask, Name("x"), Name("y"))
	plain := Go(context.Background(), trivialTask)
	if named.Name() != "y" || plain.Name() != "" {
		t.Fatalf("Name() = %q, %q; want the last name given, y, and none", named.Name(), plain.Name())
	}
	All(context.Background(), named, plain)
}

func trivialTask(ctx context.Context) (int, error) { return 1, nil }

// goroutineLabels returns the goroutine profile, which lists each
// goroutine's pprof labels.
func goroutineLabels(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestNameAsPprofLabel(t *testing.T) {
	release := make(chan struct{})
	running := make(chan string, 3)
	wait := func(ctx context.Context) (int, error) {
		label, _ := pprof.Label(ctx, "gather.task")
		group, _ := pprof.Label(ctx, "gather.group")
		running <- label + "|" + group
		<-release
		return 0, nil
	}
	task := Go(context.Background(), wait, Name("label-task"))
	g := NewGroup(context.Background(), Name("label-group"))
	Spawn(g, wait, Name("label-child"))
	Spawn(g, wait)
	var seen []string
	for range 3 {
		seen = append(seen, <-running)
	}
	profile := goroutineLabels(t)
	close(release)
	task.Await(context.Background())
	g.Wait()
	for _, want := range []string{"label-task|", "label-child|label-group", "|label-group"} {
		found := false
		for _, s := range seen {
			found = found || s == want
		}
		if !found {
			t.Errorf("the tasks' contexts had labels %q; want one with %q", seen, want)
		}
	}
	for _, want := range []string{`"gather.task":"label-task"`, `"gather.task":"label-child"`, `"gather.group":"label-group"`} {
		if !strings.Contains(profile, want) {
			t.Errorf("the goroutine profile has no goroutine labelled %s", want)
		}
	}
}

// With an execution trace on, each task, group and child is a trace task
// named after it, so go tool trace shows the tree; waits are regions.
func TestNameInExecutionTrace(t *testing.T) {
	if trace.IsEnabled() {
		t.Skip("a trace is being taken already")
	}
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := NewGroup(ctx, Name("trace-group"))
	Spawn(g, func(ctx context.Context) (int, error) {
		slow := func(ctx context.Context) (int, error) { return 0, Sleep(ctx, 10*time.Millisecond) }
		return Go(ctx, slow, Name("trace-grandchild")).Await(ctx) // a wait: a region
	}, Name("trace-child"))
	g.Go(func(ctx context.Context) error { return Sleep(ctx, 0) })
	g.Wait()
	trace.Stop()
	for _, want := range []string{"trace-group", "trace-child", "trace-grandchild", "gather.child", "gather.Await", "gather.Sleep"} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("the execution trace does not name %q", want)
		}
	}
}
