package gather

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/gather-dev/gather/internal/scopehook"
)

// tracker counts the tasks and group children started under [Run] or in a
// test scope (package gathertest), so that the owner can wait for them and
// report the failures nobody read. Unlike a sync.WaitGroup, it may be added
// to while Run waits, even from zero (by a goroutine Run does not know of),
// and it stops counting once Run is done waiting, so that a late start is
// neither a race nor a misuse.
type tracker struct {
	records bool // a test scope: keep every running task's node, to name it

	mu      sync.Mutex
	running int
	idle    chan struct{} // closed when running drops to zero while someone waits
	closed  bool          // nobody waits any more: nothing is counted
	failed  []*taskState
	live    map[*node]struct{} // records: the running tasks
}

type trackerKey struct{}

func trackerFrom(ctx context.Context) *tracker {
	tr, _ := ctx.Value(trackerKey{}).(*tracker)
	return tr
}

// add counts one more task, and reports false if nobody waits any more.
func (tr *tracker) add() bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.closed {
		return false
	}
	tr.running++
	return true
}

// addLive records the node of a task counted by add.
func (tr *tracker) addLive(n *node) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.live == nil {
		tr.live = make(map[*node]struct{})
	}
	tr.live[n] = struct{}{}
}

// removeLive forgets the node of a group that has been waited for: groups
// are recorded but not counted, as their children are.
func (tr *tracker) removeLive(n *node) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	delete(tr.live, n)
}

// addFailed keeps the state of a failed group, whose Wait reads its error,
// for the owner to report if nobody does.
func (tr *tracker) addFailed(st *taskState) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.failed = append(tr.failed, st)
}

// done counts a task out; st, if not nil, is its unread error for the
// owner to report, and n its node.
func (tr *tracker) done(st *taskState, n *node) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if st != nil {
		if len(tr.failed) == cap(tr.failed) {
			// Drop the errors read since the last time, so that a long
			// Run that reads its errors does not keep them all.
			tr.failed = slices.DeleteFunc(tr.failed, func(st *taskState) bool { return st.retrieved.Load() })
		}
		tr.failed = append(tr.failed, st)
	}
	if n != nil && tr.live != nil {
		delete(tr.live, n)
	}
	tr.running--
	if tr.running == 0 && tr.idle != nil {
		close(tr.idle)
		tr.idle = nil
	}
}

// idleChan returns a channel closed once no task is counted.
func (tr *tracker) idleChan() <-chan struct{} {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.running == 0 {
		return closed
	}
	if tr.idle == nil {
		tr.idle = make(chan struct{})
	}
	return tr.idle
}

// wait waits until no task is counted, then stops counting and returns the
// failed tasks.
func (tr *tracker) wait() []*taskState {
	for {
		<-tr.idleChan()
		tr.mu.Lock()
		if tr.running == 0 {
			break
		}
		tr.mu.Unlock()
	}
	defer tr.mu.Unlock()
	tr.closed = true
	failed := tr.failed
	tr.failed = nil
	return failed
}

// snapshot returns the nodes of the tasks still running, in the order
// they were started, and the failed tasks whose errors nobody has read yet.
func (tr *tracker) snapshot() (running []*node, unread []*taskState) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for n := range tr.live {
		running = append(running, n)
	}
	slices.SortFunc(running, func(a, b *node) int { return cmp.Compare(a.id, b.id) })
	for _, st := range tr.failed {
		if !st.retrieved.Load() {
			unread = append(unread, st)
		}
	}
	return running, unread
}

// close stops counting: tasks started from the scope's context from now
// on are not counted, as after Run.
func (tr *tracker) close() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.closed = true
}

func init() { scopehook.Open = openScope }

// openScope opens a test scope: a tracker that keeps the node of every task
// started from the returned context.
func openScope(ctx context.Context) (context.Context, scopehook.Scope) {
	tr := &tracker{records: true}
	scopes.Add(1)
	return context.WithValue(ctx, trackerKey{}, tr), testScope{tr}
}

type testScope struct{ tr *tracker }

func (s testScope) Running() []scopehook.Task {
	running, _ := s.tr.snapshot()
	out := make([]scopehook.Task, len(running))
	for i, n := range running {
		ti := n.info()
		out[i] = scopehook.Task{Kind: ti.Kind, Name: ti.Name, Location: ti.Location, State: ti.describeState()}
	}
	return out
}

func (s testScope) Unread() []scopehook.Task {
	_, unread := s.tr.snapshot()
	var out []scopehook.Task
	for _, st := range unread {
		if st.retrieved.Swap(true) {
			continue // read since, or reported by the garbage collector
		}
		task := scopehook.Task{Kind: st.kind.String(), Name: st.name, Err: st.err}
		if st.pc != 0 {
			f, _ := runtime.CallersFrames([]uintptr{st.pc}).Next()
			task.Location = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		out = append(out, task)
	}
	return out
}

func (s testScope) Close(d time.Duration) bool {
	defer scopes.Add(-1)
	s.tr.close()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-s.tr.idleChan():
		return true
	case <-timer.C:
		return false
	}
}
