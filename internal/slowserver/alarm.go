package slowserver

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// sleep waits for d and reports true, or returns false as soon as ctx ends.
//
// It waits on the process's alarm when the handler's Config.PreciseTimer
// asks for it and the system has one (timerfd on Linux), else on a
// runtime timer. The difference is the server's precision: an idle Go
// program waits for its runtime timers in epoll_wait, whose timeout is in
// whole milliseconds, so a 20 ms delay on a runtime timer lasts 20.5 ms on
// average, and a client at -c 200 loses 2.5% of the 10,000 answers a
// second that 200 / 20 ms allows. On the alarm it lasts 20 ms and the
// kernel's timer slack (50 µs by default), never less than asked.
func (h *Handler) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	if h.alarm != nil {
		return h.alarm.sleep(ctx, time.Now().Add(d))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// An alarm wakes sleepers at their due times from one precise timer,
// armed for the earliest of them. Its goroutine (run) lives only while
// someone sleeps, so an idle server, and a test that is done, has none.
//
// Cost per sleep: one waiter and its channel (what time.NewTimer
// allocates too), a heap push and pop under a lock, and at most one
// wake-up of the alarm's goroutine, two system calls (read the timer, arm
// it for the next due time); sleepers due within one wake-up share it.
type alarm struct {
	timer preciseTimer

	mu      sync.Mutex
	q       waiters   // earliest due first
	armed   time.Time // the due time the timer is set for; zero: none
	running bool      // run is on its way or running
}

// A preciseTimer is the system's timer under an alarm: set makes it
// expire after d (at least 1 ns), wait blocks the calling goroutine until
// it has expired, however many times since the last wait.
type preciseTimer interface {
	set(d time.Duration)
	wait()
}

// A waiter is one sleeper in an alarm's heap.
type waiter struct {
	due  time.Time
	done chan struct{} // closed at due
	i    int           // index in the heap, -1 once out of it
}

func (a *alarm) sleep(ctx context.Context, due time.Time) bool {
	w := &waiter{due: due, done: make(chan struct{})}
	a.add(w)
	select {
	case <-w.done:
		return true
	case <-ctx.Done():
		a.remove(w)
		return false
	}
}

func (a *alarm) add(w *waiter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	heap.Push(&a.q, w)
	if !a.running {
		a.running = true
		a.arm()
		go a.run()
		return
	}
	if a.q[0] == w && (a.armed.IsZero() || w.due.Before(a.armed)) {
		a.arm() // due before the time the timer is set for: /delay/{d}, jitter
	}
}

// remove takes a cancelled sleeper out. If it was the last one, the timer
// fires at once so that run sees an empty heap and ends, instead of
// lingering until the cancelled due time.
func (a *alarm) remove(w *waiter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.i < 0 {
		return // woken as it was cancelled
	}
	heap.Remove(&a.q, w.i)
	if len(a.q) == 0 && a.running {
		a.timer.set(1)
		a.armed = time.Time{}
	}
}

// arm sets the timer for the earliest due time. Called with mu held.
func (a *alarm) arm() {
	due := a.q[0].due
	a.timer.set(max(time.Until(due), 1)) // relative: it can only expire late, never early
	a.armed = due
}

// run wakes every sleeper that is due each time the timer expires, and
// ends when none is left.
func (a *alarm) run() {
	for {
		a.timer.wait()
		a.mu.Lock()
		now := time.Now()
		for len(a.q) > 0 && !a.q[0].due.After(now) {
			close(heap.Pop(&a.q).(*waiter).done)
		}
		if len(a.q) == 0 {
			a.running = false
			a.armed = time.Time{}
			a.mu.Unlock()
			return
		}
		// The timer may have expired for a due time since removed or
		// moved: arm it for what is now the earliest, unless it is
		// already set for that.
		if !a.q[0].due.Equal(a.armed) || !a.armed.After(now) {
			a.arm()
		}
		a.mu.Unlock()
	}
}

// waiters is a min-heap of waiters by due time (container/heap).
type waiters []*waiter

func (q waiters) Len() int           { return len(q) }
func (q waiters) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q waiters) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].i, q[j].i = i, j
}
func (q *waiters) Push(x any) {
	w := x.(*waiter)
	w.i = len(*q)
	*q = append(*q, w)
}
func (q *waiters) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.i = -1
	*q = old[:len(old)-1]
	return w
}
