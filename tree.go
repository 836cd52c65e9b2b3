package gather

import (
	"context"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"
)

// The task tree: every task and group started while tracking is on (see
// [SetTracking]) has a node, which knows its parent, where it was started
// and what it is doing; the registry holds the nodes of those running.
// A task started with a name but no tracking has a node too, for its
// name, but is not in the registry.

// tracking is on when SetTracking(true) asks for the tree.
var tracking atomic.Bool

// scopes counts the test scopes open (package gathertest), which record
// their tasks' states as the tree does.
var scopes atomic.Int32

// SetTracking turns the task tree on or off for the tasks and groups
// started from then on, and returns a function that puts the previous
// setting back. [WriteTasks], [Tasks] and the handler of package
// gatherhttp show the tasks started while it is on.
//
// Tracking is off by default, and then costs one atomic load per task.
// On, it costs each task, group and group child one allocation of about
// 200 bytes, the caller's program counter and a short lock (about 0.5 µs in
// all; see BenchmarkTracking), which is little for tasks that do I/O and
// much for tasks of a few microseconds: turn it on where the tree is
// wanted, like a profile.
func SetTracking(on bool) (restore func()) {
	old := tracking.Swap(on)
	return func() { tracking.Store(old) }
}

// observed reports whether a task started under tr needs a node even
// without options.
func observed(tr *tracker) bool {
	return tracking.Load() || trace.IsEnabled() || tr != nil && tr.records
}

// marking reports whether waits must be recorded in the nodes' states.
func marking() bool {
	return tracking.Load() || scopes.Load() > 0 || trace.IsEnabled()
}

type nodeKind uint8

const (
	kindTask  nodeKind = iota // a Task, from Go or Spawn
	kindChild                 // a child started with Group.Go or TryGo
	kindGroup
)

func (k nodeKind) String() string {
	switch k {
	case kindChild:
		return "child"
	case kindGroup:
		return "group"
	}
	return "task"
}

// What a node is doing, besides running.
const (
	stateRunning uint32 = iota
	stateAwaiting
	stateWaitingForSlot
	stateSleeping
)

// nodeKey is the context key under which a task's or group's context
// holds its node.
type nodeKey struct{}

// nodeOf returns the node of the task, child or group whose context ctx
// is or derives from, or nil.
func nodeOf(ctx context.Context) *node {
	n, _ := ctx.Value(nodeKey{}).(*node)
	return n
}

// A canceller tells whether and why a node's context was cancelled.
type canceller interface {
	cancelledBy() error
}

type node struct {
	id     uint64
	kind   nodeKind
	name   string
	labels bool            // ctx carries pprof labels for the goroutine
	ctx    context.Context // the parent's, with the labels, trace task and shield
	cancel canceller       // nil for a child that nothing cancels
	group  *Group          // kindGroup: the group itself
	trace  *trace.Task

	// Set when the tree or a test scope records the node:
	tracked bool     // in the registry
	scope   *tracker // the test scope that records it
	pc      uintptr
	born    time.Time
	parent  *node

	state  atomic.Uint32
	until  atomic.Int64 // stateSleeping: when, in Unix nanoseconds
	target atomic.Pointer[target]

	prev, next *node // in its registry shard; guarded by the shard's lock
}

// A target is what a node awaits, or the group whose slot it waits for.
type target struct {
	what  string  // "task", "All", "Settle", "Wait", "AsCompleted", "WaitFor", "group", "Map", "Stream"
	nodes []*node // the first few awaited that have nodes
	count int     // how many are awaited
}

// maxTargets bounds the nodes a target names: a task awaiting a million
// tasks is shown awaiting the first few and a count.
const maxTargets = 8

var lastID atomic.Uint64

// newNode makes the node of a task, child or group started from ctx; the
// caller publishes it once the rest is set up.
// c tells whether its context was cancelled; skip is the number of gather
// frames between newNode and the user's call.
func newNode(ctx context.Context, kind nodeKind, opts []Option, tr *tracker, c canceller, skip int) *node {
	n := &node{kind: kind, cancel: c}
	name, shield := parseOptions(opts)
	n.name = name
	if shield {
		ctx = context.WithoutCancel(ctx)
		if kind == kindChild {
			n.cancel = nil
		}
	}
	rec := tracking.Load()
	scoped := tr != nil && tr.records
	if rec || scoped {
		var pc [1]uintptr
		runtime.Callers(skip+2, pc[:])
		n.pc = pc[0]
		n.born = time.Now()
		n.parent = nodeOf(ctx)
		n.id = lastID.Add(1)
	}
	if name != "" && kind != kindGroup {
		ctx = pprof.WithLabels(ctx, pprof.Labels("gather.task", name))
		n.labels = true
	} else if name != "" {
		ctx = pprof.WithLabels(ctx, pprof.Labels("gather.group", name))
		n.labels = true
	}
	if trace.IsEnabled() {
		ctx, n.trace = trace.NewTask(ctx, n.traceType())
	}
	n.ctx = ctx
	n.tracked = rec
	if scoped {
		n.scope = tr
	}
	return n
}

// publish puts the node in the registry and its test scope, once its task,
// child or group is set up: from then on, snapshots read it.
func (n *node) publish() {
	if n == nil {
		return
	}
	if n.tracked {
		registry.add(n)
	}
	if n.scope != nil {
		n.scope.addLive(n)
	}
}

func (n *node) traceType() string {
	if n.name != "" {
		return n.name
	}
	return "gather." + n.kind.String()
}

// begin runs first on the node's goroutine.
func (n *node) begin() {
	if n != nil && n.labels {
		pprof.SetGoroutineLabels(n.ctx)
	}
}

// end runs when the node's task, child or group is over.
func (n *node) end() {
	if n == nil {
		return
	}
	if n.trace != nil {
		n.trace.End()
	}
	if n.tracked {
		registry.remove(n)
	}
}

func (n *node) nameOrEmpty() string {
	if n == nil {
		return ""
	}
	return n.name
}

func (n *node) pcOrZero() uintptr {
	if n == nil {
		return 0
	}
	return n.pc
}

// A waitMark is a wait recorded in a node's state, undone by end.
type waitMark struct {
	n      *node
	state  uint32
	target *target
	region *trace.Region
}

// markAwait records in the node of ctx that it awaits the given nodes
// (what says what it awaits), and in the execution trace, if one is being
// taken, a region. It costs an atomic load when nobody looks.
func markAwait(ctx context.Context, what string, on ...*node) waitMark {
	if !marking() {
		return waitMark{}
	}
	return mark(ctx, stateAwaiting, &target{what: what, nodes: trimTargets(on), count: len(on)}, 0)
}

// markAwaitTasks is markAwait for many tasks.
func markAwaitTasks[T any](ctx context.Context, what string, tasks []*Task[T]) waitMark {
	if !marking() {
		return waitMark{}
	}
	tgt := &target{what: what, count: len(tasks)}
	for _, t := range tasks {
		if len(tgt.nodes) == maxTargets {
			break
		}
		if n := t.ctx.node(); n != nil {
			tgt.nodes = append(tgt.nodes, n)
		}
	}
	return mark(ctx, stateAwaiting, tgt, 0)
}

// markSleep records that the node of ctx sleeps for d.
func markSleep(ctx context.Context, d time.Duration) waitMark {
	if !marking() {
		return waitMark{}
	}
	return mark(ctx, stateSleeping, nil, d)
}

// markSlot records that the node of ctx waits for a slot of g.
// Like Wait, Go has no context to say who calls it: the wait is recorded
// on the task that made the group.
func markSlot(g *Group) waitMark {
	if !marking() || g.node == nil {
		return waitMark{}
	}
	return markOn(g.ctx, g.node.parent, stateWaitingForSlot, &target{what: "group", nodes: []*node{g.node}, count: 1}, 0)
}

// markAwaitGroup records that the task that made g awaits it: Wait has no
// context to say who calls it, and that task usually does.
func markAwaitGroup(g *Group) waitMark {
	if !marking() || g.node == nil {
		return waitMark{}
	}
	return markOn(g.ctx, g.node.parent, stateAwaiting, &target{what: "group", nodes: []*node{g.node}, count: 1}, 0)
}

func trimTargets(on []*node) []*node {
	var out []*node
	for _, n := range on {
		if n != nil && len(out) < maxTargets {
			out = append(out, n)
		}
	}
	return out
}

func mark(ctx context.Context, state uint32, tgt *target, d time.Duration) waitMark {
	return markOn(ctx, nodeOf(ctx), state, tgt, d)
}

// markOn records the wait in n, and in a trace region under ctx.
func markOn(ctx context.Context, n *node, state uint32, tgt *target, d time.Duration) waitMark {
	var m waitMark
	if trace.IsEnabled() {
		what := "sleep"
		if tgt != nil {
			what = tgt.what
		}
		m.region = trace.StartRegion(ctx, regionName(state, what))
	}
	if n == nil {
		return m
	}
	m.n = n
	m.state = n.state.Swap(state)
	m.target = n.target.Swap(tgt)
	if state == stateSleeping {
		n.until.Store(time.Now().Add(d).UnixNano())
	}
	return m
}

func regionName(state uint32, what string) string {
	switch state {
	case stateSleeping:
		return "gather.Sleep"
	case stateWaitingForSlot:
		return "gather: waiting for a group slot"
	}
	if what == "task" {
		return "gather.Await"
	}
	if what == "group" {
		return "gather.Group.Wait"
	}
	return "gather." + what
}

// end undoes the mark, restoring what the node was doing before.
func (m waitMark) end() {
	if m.region != nil {
		m.region.End()
	}
	if m.n != nil {
		m.n.target.Store(m.target)
		m.n.state.Store(m.state)
	}
}

// registry holds the tracked nodes that are running, in shards so that
// tasks starting and ending on different cores rarely share a lock.
var registry nodeRegistry

const registryShards = 32

type nodeRegistry struct {
	shards [registryShards]struct {
		mu   sync.Mutex
		head *node
		_    [40]byte // a cache line each
	}
}

func (r *nodeRegistry) add(n *node) {
	s := &r.shards[n.id%registryShards]
	s.mu.Lock()
	n.next = s.head
	if s.head != nil {
		s.head.prev = n
	}
	s.head = n
	s.mu.Unlock()
}

func (r *nodeRegistry) remove(n *node) {
	s := &r.shards[n.id%registryShards]
	s.mu.Lock()
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		s.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	}
	n.prev, n.next = nil, nil
	s.mu.Unlock()
}

// each calls f on every running tracked node, one shard locked at a time.
func (r *nodeRegistry) each(f func(*node)) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for n := s.head; n != nil; n = n.next {
			f(n)
		}
		s.mu.Unlock()
	}
}
