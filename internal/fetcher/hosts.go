package fetcher

import (
	"context"
	"sync"
	"time"
)

// hosts limits the requests in flight to each host and paces the start of
// requests to each host. Only hosts with requests waiting, in flight or
// paced into the future have an entry, so a crawl over millions of hosts
// holds state for the few it is talking to now.
type hosts struct {
	limit    int           // requests in flight per host; <= 0: no limit
	interval time.Duration // between request starts per host; 0: no pacing

	mu      sync.Mutex
	m       map[string]*host
	sweepAt int // sweep stale entries when the map grows to this size
}

type host struct {
	refs  int           // acquirers holding or waiting for a slot
	slots chan struct{} // nil: no limit
	next  time.Time     // earliest start of the next request
}

func newHosts(limit int, rate float64) *hosts {
	h := &hosts{limit: limit, m: make(map[string]*host)}
	if rate > 0 {
		// Clamped: a float64 too large for a Duration converts to a
		// negative one, which would turn pacing off.
		h.interval = time.Duration(min(float64(time.Second)/rate, 1<<62))
	}
	return h
}

// acquire waits until a request to name may start: a slot is free and the
// host's pace allows it. Every nil return must be paired with a release.
func (h *hosts) acquire(ctx context.Context, name string) error {
	if h.limit <= 0 && h.interval <= 0 {
		return nil
	}
	h.mu.Lock()
	e := h.m[name]
	if e == nil {
		e = &host{}
		if h.limit > 0 {
			e.slots = make(chan struct{}, h.limit)
		}
		if len(h.m) >= h.sweepAt {
			h.sweep()
		}
		h.m[name] = e
	}
	e.refs++
	h.mu.Unlock()

	if e.slots != nil {
		select {
		case e.slots <- struct{}{}:
		case <-ctx.Done():
			h.drop(name, e, false)
			return context.Cause(ctx)
		}
	}
	if h.interval > 0 {
		// Reserve the next start time now, so that waiters are paced in
		// the order they reserved, not in the order their timers fire.
		h.mu.Lock()
		now := time.Now()
		start := e.next
		if start.Before(now) {
			start = now
		}
		e.next = start.Add(h.interval)
		h.mu.Unlock()
		if d := time.Until(start); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				h.drop(name, e, true)
				return context.Cause(ctx)
			}
		}
	}
	return nil
}

// release gives back the slot taken by a successful acquire.
func (h *hosts) release(name string) {
	if h.limit <= 0 && h.interval <= 0 {
		return
	}
	h.mu.Lock()
	e := h.m[name]
	h.mu.Unlock()
	h.drop(name, e, true)
}

// drop ends one acquirer's hold on e, freeing its slot if it had one.
func (h *hosts) drop(name string, e *host, slotted bool) {
	if slotted && e.slots != nil {
		<-e.slots
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e.refs--
	// A host paced into the future keeps its entry, or the next request
	// would not wait; stale ones are swept when the map has grown.
	if e.refs == 0 && !e.next.After(time.Now()) {
		delete(h.m, name)
	}
}

// sweep deletes the entries of idle hosts whose pace no longer matters. It
// runs when the map has doubled since the last sweep, so its cost is
// amortized over the entries added. h.mu must be held.
func (h *hosts) sweep() {
	now := time.Now()
	for k, v := range h.m {
		if v.refs == 0 && !v.next.After(now) {
			delete(h.m, k)
		}
	}
	h.sweepAt = 2*len(h.m) + 1024
}

// size reports how many hosts have an entry; for tests.
func (h *hosts) size() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}
