package gather

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// next returns file:line of the line after its caller's, for the
// locations in the tree.
func next() string {
	_, file, line, _ := runtime.Caller(1)
	return fmt.Sprintf("%s:%d", file, line+1)
}

// byName indexes a snapshot by task name.
func byName(t *testing.T, tree *TaskTree) map[string]TaskInfo {
	t.Helper()
	m := map[string]TaskInfo{}
	for _, ti := range tree.Tasks {
		if ti.Name != "" {
			m[ti.Name] = ti
		}
	}
	return m
}

// The tree while tasks run, await a task, await a group, sleep, wait for a
// group slot, and go on running after they were cancelled, in fake time.
func TestTaskTree(t *testing.T) {
	defer SetTracking(true)()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		start := time.Now()
		var mu sync.Mutex
		where := map[string]string{}
		at := func(name, loc string) {
			mu.Lock()
			defer mu.Unlock()
			where[name] = loc
		}
		release := make(chan struct{})
		at("main", next())
		mainTask := Go(ctx, func(ctx context.Context) (int, error) {
			at("crawl", next())
			g := NewGroup(ctx, Name("crawl"))
			g.SetLimit(2)
			at("a", next())
			Spawn(g, func(ctx context.Context) (int, error) { return 0, Sleep(ctx, 10*time.Second) }, Name("a"))
			at("b", next())
			Spawn(g, func(ctx context.Context) (int, error) {
				at("inner", next())
				inner := Go(ctx, func(ctx context.Context) (int, error) {
					<-ctx.Done() // cancelled, and still running
					<-release
					return 0, nil
				}, Name("inner"))
				inner.Cancel(errBoom)
				return inner.Await(ctx)
			}, Name("b"))
			Spawn(g, func(ctx context.Context) (int, error) { return 0, nil }, Name("c")) // waits for a slot
			return 0, g.Wait()
		}, Name("main"))

		time.Sleep(time.Second)
		synctest.Wait()
		tree := Tasks()
		if !tree.Tracking || tree.Format != TasksFormat {
			t.Fatalf("Tasks() = tracking %v, format %q", tree.Tracking, tree.Format)
		}
		got := byName(t, tree)
		if len(tree.Tasks) != 5 || len(got) != 5 {
			t.Fatalf("the tree has %d tasks (%v); want main, crawl, a, b, inner", len(tree.Tasks), tree.Tasks)
		}
		m, g, a, b, inner := got["main"], got["crawl"], got["a"], got["b"], got["inner"]
		for name, want := range map[string]struct {
			ti     TaskInfo
			kind   string
			parent uint64
			state  string
		}{
			"main":  {m, "task", 0, "waiting for a slot"},
			"crawl": {g, "group", m.ID, "running"},
			"a":     {a, "task", g.ID, "sleeping"},
			"b":     {b, "task", g.ID, "awaiting"},
			"inner": {inner, "task", b.ID, "running"},
		} {
			ti := want.ti
			if ti.Kind != want.kind || ti.Parent != want.parent || ti.State != want.state {
				t.Errorf("%s: kind %s, parent #%d, state %q; want %s, #%d, %q", name, ti.Kind, ti.Parent, ti.State, want.kind, want.parent, want.state)
			}
			if !ti.Started.Equal(start) {
				t.Errorf("%s started at %v; want %v", name, ti.Started, start)
			}
			mu.Lock()
			loc := where[name]
			mu.Unlock()
			if ti.Location != loc || !strings.Contains(ti.Function, "TestTaskTree") {
				t.Errorf("%s started at %s in %s; want %s in TestTaskTree", name, ti.Location, ti.Function, loc)
			}
		}
		if m.Awaiting == nil || m.Awaiting.What != "group" || len(m.Awaiting.IDs) != 1 || m.Awaiting.IDs[0] != g.ID {
			t.Errorf("main waits for a slot of %+v; want group #%d", m.Awaiting, g.ID)
		}
		if b.Awaiting == nil || b.Awaiting.What != "task" || len(b.Awaiting.IDs) != 1 || b.Awaiting.IDs[0] != inner.ID {
			t.Errorf("b awaits %+v; want task #%d", b.Awaiting, inner.ID)
		}
		if !a.SleepingUntil.Equal(start.Add(10 * time.Second)) {
			t.Errorf("a sleeps until %v; want %v", a.SleepingUntil, start.Add(10*time.Second))
		}
		if inner.Cancelled != "boom" || a.Cancelled != "" {
			t.Errorf("cancelled: inner %q, a %q; want boom, none", inner.Cancelled, a.Cancelled)
		}
		if g.Policy != "fail-fast" || g.Limit != 2 {
			t.Errorf("the group shows policy %q, limit %d; want fail-fast, 2", g.Policy, g.Limit)
		}
		// Parents come before their children, in a depth-first walk.
		order := []string{}
		for _, ti := range tree.Tasks {
			order = append(order, ti.Name)
		}
		if got, want := strings.Join(order, " "), "main crawl a b inner"; got != want {
			t.Errorf("the tasks come in the order %s; want %s", got, want)
		}

		var text bytes.Buffer
		if err := tree.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		wantLines := []string{
			fmt.Sprintf(`#%d task "main" · waiting for a slot group #%d · 1s · tree_test.go:`, m.ID, g.ID),
			fmt.Sprintf(`└── #%d group "crawl" (fail-fast, limit 2) · 1s · tree_test.go:`, g.ID),
			fmt.Sprintf(`    ├── #%d task "a" · sleeping, 9s left · 1s · tree_test.go:`, a.ID),
			fmt.Sprintf(`    └── #%d task "b" · awaiting task #%d · 1s · tree_test.go:`, b.ID, inner.ID),
			fmt.Sprintf(`        └── #%d task "inner" · running · cancelled: boom · 1s · tree_test.go:`, inner.ID),
		}
		lines := strings.Split(strings.TrimSpace(text.String()), "\n")
		if len(lines) != 6 || !strings.HasPrefix(lines[0], "gather: 5 tasks (pid ") {
			t.Fatalf("text tree:\n%s", text.String())
		}
		for i, want := range wantLines {
			if !strings.HasPrefix(lines[i+1], want) {
				t.Errorf("line %d = %q; want it to start with %q", i+1, lines[i+1], want)
			}
		}

		// JSON that parses back into the same tree.
		var js bytes.Buffer
		if err := WriteTasks(&js, FormatJSON); err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal(js.Bytes(), &raw); err != nil {
			t.Fatalf("WriteTasks JSON does not parse: %v\n%s", err, js.String())
		}
		back, err := ReadTasks(&js)
		if err != nil {
			t.Fatal(err)
		}
		if len(back.Tasks) != 5 || byName(t, back)["inner"].Cancelled != "boom" || byName(t, back)["a"].SleepingUntil.IsZero() {
			t.Errorf("ReadTasks gave %+v", back.Tasks)
		}

		close(release)
		if _, err := mainTask.Await(ctx); err != nil {
			t.Fatalf("main: %v", err)
		}
		if n := len(Tasks().Tasks); n != 0 {
			t.Fatalf("%d tasks still in the tree after they all returned: %v", n, Tasks().Tasks)
		}
	})
}

// What All, Map, a group child and WaitFor show while they wait.
func TestTaskTreeCollectors(t *testing.T) {
	defer SetTracking(true)()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		block := func(ctx context.Context) (int, error) { return 0, Sleep(ctx, time.Hour) }
		var tasks []*Task[int]
		for i := range 10 {
			tasks = append(tasks, Go(ctx, block, Name(fmt.Sprint("t", i))))
		}
		all := Go(ctx, func(ctx context.Context) ([]int, error) { return All(ctx, tasks...) }, Name("all"))
		mapper := Go(ctx, func(ctx context.Context) ([]int, error) {
			return Map(ctx, []int{1, 2}, 1, func(ctx context.Context, _ int) (int, error) { return block(ctx) })
		}, Name("map"))
		g := NewGroup(ctx)
		g.Go(func(ctx context.Context) error { _, err := WaitFor(ctx, tasks[0], time.Hour); return err }, Name("waitfor"))
		synctest.Wait()
		got := byName(t, Tasks())
		if a := got["all"].Awaiting; a == nil || a.What != "All" || a.Count != 10 || len(a.IDs) != maxTargets || a.IDs[0] != got["t0"].ID {
			t.Errorf("all awaits %+v; want All of 10, the first %d named", a, maxTargets)
		}
		if a := got["map"].Awaiting; got["map"].State != "awaiting" || a == nil || a.What != "Map" {
			t.Errorf("map is %q awaiting %+v; want awaiting Map", got["map"].State, a)
		}
		if w := got["waitfor"]; w.Kind != "child" || w.Awaiting == nil || w.Awaiting.What != "WaitFor" {
			t.Errorf("waitfor is a %s awaiting %+v; want a child awaiting WaitFor", w.Kind, w.Awaiting)
		}
		var text strings.Builder
		Tasks().WriteText(&text)
		if !strings.Contains(text.String(), fmt.Sprintf("awaiting All of 10 tasks (#%d", got["t0"].ID)) {
			t.Errorf("text tree:\n%s", text.String())
		}
		for _, task := range tasks {
			task.Cancel(nil)
		}
		all.Await(ctx)
		mapper.Cancel(nil)
		mapper.Await(ctx)
		g.Wait()
	})
}

func TestTaskTreeOff(t *testing.T) {
	defer SetTracking(false)()
	task := Go(context.Background(), func(ctx context.Context) (int, error) { return 0, Sleep(ctx, time.Hour) }, Name("hidden"))
	defer task.Await(context.Background())
	defer task.Cancel(nil)
	tree := Tasks()
	for _, ti := range tree.Tasks {
		if ti.Name == "hidden" {
			t.Fatal("a task started with tracking off is in the tree")
		}
	}
	var text strings.Builder
	(&TaskTree{Time: time.Now()}).WriteText(&text)
	if !strings.Contains(text.String(), "tracking is off") {
		t.Errorf("an empty untracked tree reads:\n%s", text.String())
	}
	if err := WriteTasks(&text, Format(9)); err == nil {
		t.Error("WriteTasks with an unknown format did not fail")
	}
}

func TestReadTasksRejectsOtherJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{"format":"other"}`, `[1,2]`, `not json`, ``} {
		if _, err := ReadTasks(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "not a gather task tree") {
			t.Errorf("ReadTasks(%q) = %v; want ErrNotTaskTree", in, err)
		}
	}
}
