package gather

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// TasksFormat is the value of [TaskTree.Format]: what a reader checks to
// know it has gather's task tree, and which version of it.
const TasksFormat = "gather.tasks/1"

// A TaskTree is a snapshot of the running tasks and groups that are
// tracked (see [SetTracking]), as [WriteTasks] writes it. Its JSON form is
// what the handler of package gatherhttp serves and `gather ps` reads.
type TaskTree struct {
	Format   string     `json:"format"` // TasksFormat
	Time     time.Time  `json:"time"`   // when the snapshot was taken
	PID      int        `json:"pid"`
	Tracking bool       `json:"tracking"` // false: tasks are not being tracked, and none are listed
	Tasks    []TaskInfo `json:"tasks"`    // parents before their children, then by ID
}

// TaskInfo describes one running task, group child or group.
type TaskInfo struct {
	ID     uint64 `json:"id"`
	Kind   string `json:"kind"` // "task" (Go, Spawn), "child" (Group.Go, TryGo) or "group"
	Name   string `json:"name,omitempty"`
	Parent uint64 `json:"parent,omitempty"` // the task, child or group whose context started it; 0 for none

	// State is "running", "awaiting" (see Awaiting), "waiting for a slot"
	// (of the group in Awaiting) or "sleeping" (until SleepingUntil).
	State         string    `json:"state"`
	Awaiting      *Awaited  `json:"awaiting,omitempty"`
	SleepingUntil time.Time `json:"sleeping_until,omitzero"`
	// Cancelled is the cause with which its context was cancelled, if it
	// was: a task still running then has been asked to stop.
	Cancelled string `json:"cancelled,omitempty"`

	Started  time.Time `json:"started"`
	Location string    `json:"location"` // file:line of the call that started it
	Function string    `json:"function"` // the function that made that call

	Policy string `json:"policy,omitempty"` // a group's completion policy
	Limit  int    `json:"limit,omitempty"`  // a group's limit; 0 for none
}

// Awaited is what a task awaits: a task, a group, or some of many.
type Awaited struct {
	What  string   `json:"what"`  // "task", "group", "All", "Settle", "Wait", "AsCompleted", "WaitFor", "Map", "Stream"
	IDs   []uint64 `json:"ids"`   // the first few of them that are tracked
	Count int      `json:"count"` // how many it awaits
}

// Tasks returns a snapshot of the tracked tasks and groups that are
// running. It locks each shard of the registry briefly, one at a time, so
// it may be called at any moment; it costs about a microsecond a task.
func Tasks() *TaskTree {
	tree := &TaskTree{Format: TasksFormat, Time: time.Now(), PID: os.Getpid(), Tracking: tracking.Load(), Tasks: []TaskInfo{}}
	var nodes []*node
	registry.each(func(n *node) { nodes = append(nodes, n) })
	for _, n := range nodes {
		tree.Tasks = append(tree.Tasks, n.info())
	}
	tree.sort()
	return tree
}

// info describes the node. Its fixed fields were set before it was
// registered; the others are atomic.
func (n *node) info() TaskInfo {
	ti := TaskInfo{ID: n.id, Kind: n.kind.String(), Name: n.name, Started: n.born, State: "running"}
	if n.parent != nil {
		ti.Parent = n.parent.id
	}
	if n.pc != 0 {
		f, _ := runtime.CallersFrames([]uintptr{n.pc}).Next()
		ti.Location = fmt.Sprintf("%s:%d", f.File, f.Line)
		ti.Function = f.Function
	}
	switch n.state.Load() {
	case stateAwaiting:
		ti.State = "awaiting"
	case stateWaitingForSlot:
		ti.State = "waiting for a slot"
	case stateSleeping:
		ti.State = "sleeping"
		ti.SleepingUntil = time.Unix(0, n.until.Load())
	}
	if tgt := n.target.Load(); tgt != nil && ti.State != "sleeping" {
		a := &Awaited{What: tgt.what, Count: tgt.count, IDs: []uint64{}}
		for _, t := range tgt.nodes {
			if t.id != 0 {
				a.IDs = append(a.IDs, t.id)
			}
		}
		ti.Awaiting = a
	}
	if n.cancel != nil {
		if cause := n.cancel.cancelledBy(); cause != nil {
			ti.Cancelled = cause.Error()
		}
	}
	if g := n.group; g != nil {
		g.mu.Lock()
		ti.Policy, ti.Limit = g.policy.String(), g.limit
		g.mu.Unlock()
	}
	return ti
}

// sort puts parents before their children, and siblings and roots by ID:
// the order of a depth-first walk.
func (tree *TaskTree) sort() {
	byID := make(map[uint64]int, len(tree.Tasks))
	for i, t := range tree.Tasks {
		byID[t.ID] = i
	}
	children := make(map[uint64][]TaskInfo)
	var roots []TaskInfo
	for _, t := range tree.Tasks {
		if _, ok := byID[t.Parent]; ok && t.Parent != t.ID {
			children[t.Parent] = append(children[t.Parent], t)
		} else {
			roots = append(roots, t)
		}
	}
	byIDs := func(a, b TaskInfo) int { return cmp.Compare(a.ID, b.ID) }
	out := make([]TaskInfo, 0, len(tree.Tasks))
	var walk func(t TaskInfo)
	walk = func(t TaskInfo) {
		out = append(out, t)
		kids := children[t.ID]
		slices.SortFunc(kids, byIDs)
		for _, k := range kids {
			walk(k)
		}
	}
	slices.SortFunc(roots, byIDs)
	for _, r := range roots {
		walk(r)
	}
	tree.Tasks = out
}

// Format says how [WriteTasks] writes the tree.
type Format int

const (
	// FormatText is a tree for people, one line a task, like Python's
	// asyncio pstree.
	FormatText Format = iota
	// FormatJSON is a [TaskTree] as JSON, like the JDK's JSON thread dump.
	FormatJSON
)

// WriteTasks writes a snapshot of the running tracked tasks and groups to
// w (see [Tasks]), as text or JSON. It returns the first write error.
func WriteTasks(w io.Writer, f Format) error {
	tree := Tasks()
	switch f {
	case FormatText:
		return tree.WriteText(w)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(tree)
	}
	return fmt.Errorf("gather: WriteTasks: unknown format %d", f)
}

// WriteText writes the tree for people: a line a task, indented under its
// parent, with its ID, kind, name, state, age and where it was started.
//
//	gather: 4 tasks (pid 4242) at 2026-12-01T07:41:02Z
//	#1 task "main" · awaiting group #2 · 3.2s · main.go:20
//	└── #2 group "crawl" (fail-fast, limit 2) · 3.2s · main.go:22
//	    ├── #3 task "fetch a" · sleeping, 1.8s left · 3.1s · main.go:25
//	    └── #4 task "fetch b" · running · cancelled: boom · 3.1s · main.go:25
func (tree *TaskTree) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "gather: %s (pid %d) at %s\n", count(len(tree.Tasks), "task"), tree.PID, tree.Time.Format(time.RFC3339Nano))
	if !tree.Tracking && len(tree.Tasks) == 0 {
		b.WriteString("tracking is off: call gather.SetTracking(true) before starting the tasks to see them\n")
	}
	ids := make(map[uint64]bool, len(tree.Tasks))
	for _, t := range tree.Tasks {
		ids[t.ID] = true
	}
	// The tasks come parents first and siblings in order (see sort).
	children := map[uint64][]int{}
	var roots []int
	for i, t := range tree.Tasks {
		if ids[t.Parent] && t.Parent != t.ID {
			children[t.Parent] = append(children[t.Parent], i)
		} else {
			roots = append(roots, i)
		}
	}
	var walk func(i int, prefix, branch string)
	walk = func(i int, prefix, branch string) {
		t := tree.Tasks[i]
		b.WriteString(prefix + branch + t.line(tree.Time, ids) + "\n")
		switch branch {
		case "├── ":
			prefix += "│   "
		case "└── ":
			prefix += "    "
		}
		kids := children[t.ID]
		for k, c := range kids {
			if k == len(kids)-1 {
				walk(c, prefix, "└── ")
			} else {
				walk(c, prefix, "├── ")
			}
		}
	}
	for _, r := range roots {
		walk(r, "", "")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describeState says what the task is doing, as the text tree does.
func (t TaskInfo) describeState() string {
	s := t.State
	switch {
	case t.Kind == "group":
		s = "running (Wait was never called, or its children still run)"
	case t.State == "sleeping":
		s += fmt.Sprintf(", %v left", roundAge(time.Until(t.SleepingUntil)))
	case t.Awaiting != nil:
		s += " " + t.Awaiting.describe()
	}
	if t.Cancelled != "" {
		s += ", cancelled: " + t.Cancelled
	}
	return s
}

func (t TaskInfo) line(now time.Time, ids map[uint64]bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s", t.ID, t.Kind)
	if t.Name != "" {
		fmt.Fprintf(&b, " %q", t.Name)
	}
	if t.Kind == "group" {
		b.WriteString(" (" + t.Policy)
		if t.Limit > 0 {
			fmt.Fprintf(&b, ", limit %d", t.Limit)
		}
		b.WriteString(")")
	}
	if t.Kind != "group" {
		b.WriteString(" · " + t.State)
		switch {
		case t.State == "sleeping":
			fmt.Fprintf(&b, ", %v left", roundAge(t.SleepingUntil.Sub(now)))
		case t.Awaiting != nil:
			b.WriteString(" " + t.Awaiting.describe())
		}
	}
	if t.Cancelled != "" {
		b.WriteString(" · cancelled: " + t.Cancelled)
	}
	if t.Parent != 0 && !ids[t.Parent] {
		fmt.Fprintf(&b, " · parent #%d has returned", t.Parent)
	}
	fmt.Fprintf(&b, " · %v", roundAge(now.Sub(t.Started)))
	if t.Location != "" {
		b.WriteString(" · " + filepath.Base(t.Location))
	}
	return b.String()
}

func (a *Awaited) describe() string {
	if a.What == "group" || a.What == "task" {
		if len(a.IDs) == 1 {
			return fmt.Sprintf("%s #%d", a.What, a.IDs[0])
		}
		return "an untracked " + a.What
	}
	s := a.What + " of " + count(a.Count, "task")
	if len(a.IDs) > 0 {
		var ids []string
		for _, id := range a.IDs {
			ids = append(ids, fmt.Sprintf("#%d", id))
		}
		if len(a.IDs) < a.Count {
			ids = append(ids, "…")
		}
		s += " (" + strings.Join(ids, " ") + ")"
	}
	return s
}

// roundAge rounds d to what a person reads at a glance.
func roundAge(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// ErrNotTaskTree is wrapped by the error of [ReadTasks] when what it reads
// is not a task tree.
var ErrNotTaskTree = errors.New("not a gather task tree")

// ReadTasks reads a [TaskTree] written as JSON by [WriteTasks], checking
// its format, so that a tool can print the tree of another process.
func ReadTasks(r io.Reader) (*TaskTree, error) {
	var tree TaskTree
	if err := json.NewDecoder(r).Decode(&tree); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotTaskTree, err)
	}
	if tree.Format != TasksFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrNotTaskTree, tree.Format, TasksFormat)
	}
	tree.sort()
	return &tree, nil
}
