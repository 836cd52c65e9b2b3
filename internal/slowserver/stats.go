package slowserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Stats counts what a [Handler] has served since [New]. Every request that
// has finished is in exactly one of ByStatus, Dropped, Gone and Cut.
type Stats struct {
	Requests int64         // requests that reached the handler
	ByStatus map[int]int64 // finished answers, by status code
	Dropped  int64         // connections closed by /drop
	Gone     int64         // requests whose client left before the answer was complete
	Cut      int64         // requests cut by [Server.Shutdown] when the grace period ran out
	InFlight int64         // requests not finished yet
}

// String summarizes s on one line, for example
//
//	1005 requests (200: 1000, 500: 5), 2 dropped, 1 client gone, 0 in flight cut
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d request", s.Requests)
	if s.Requests != 1 {
		b.WriteString("s")
	}
	if len(s.ByStatus) > 0 {
		codes := make([]int, 0, len(s.ByStatus))
		for code := range s.ByStatus {
			codes = append(codes, code)
		}
		slices.Sort(codes)
		b.WriteString(" (")
		for i, code := range codes {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d: %d", code, s.ByStatus[code])
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ", %d dropped, %d client gone, %d in flight cut", s.Dropped, s.Gone, s.Cut)
	if s.InFlight > 0 {
		fmt.Fprintf(&b, ", %d still in flight", s.InFlight)
	}
	return b.String()
}

// ErrCut is the cause of the context of a request that [Server.Shutdown]
// cut because it was still running when the grace period ran out.
var ErrCut = errors.New("slowserver: request cut by shutdown")

// stats is the handler's counters. Counting a request costs a few atomic
// adds and one uncontended-in-practice mutex, for the idle signal.
type stats struct {
	requests atomic.Int64
	byStatus [600]atomic.Int64
	dropped  atomic.Int64
	gone     atomic.Int64
	cut      atomic.Int64

	mu     sync.Mutex
	active int64
	idle   chan struct{} // closed while active == 0
}

func (s *stats) init() {
	s.idle = make(chan struct{})
	close(s.idle)
}

func (s *stats) begin() {
	s.requests.Add(1)
	s.mu.Lock()
	if s.active == 0 {
		s.idle = make(chan struct{})
	}
	s.active++
	s.mu.Unlock()
}

// end counts the outcome of a finished request.
func (s *stats) end(w *recorder, ctx context.Context) {
	switch {
	case w.hijacked:
		s.dropped.Add(1)
	case (w.status == 0 || w.broken) && ctx.Err() != nil:
		if errors.Is(context.Cause(ctx), ErrCut) {
			s.cut.Add(1)
		} else {
			s.gone.Add(1)
		}
	case w.broken:
		s.gone.Add(1) // a write failed: the client is gone, its context not yet cancelled
	case w.status == 0:
		s.byStatus[http.StatusOK].Add(1) // net/http answers 200 for a handler that wrote nothing
	case w.status < len(s.byStatus):
		s.byStatus[w.status].Add(1)
	}
	s.mu.Lock()
	s.active--
	if s.active == 0 {
		close(s.idle)
	}
	s.mu.Unlock()
}

// idleCh returns a channel closed when no request is running.
func (s *stats) idleCh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle
}

// Stats returns a snapshot of what h has served. The counters are read one
// by one, so a snapshot taken while requests run may be off by those that
// finished meanwhile; once no request runs it is exact.
func (h *Handler) Stats() Stats {
	s := &h.stats
	st := Stats{
		Requests: s.requests.Load(),
		ByStatus: map[int]int64{},
		Dropped:  s.dropped.Load(),
		Gone:     s.gone.Load(),
		Cut:      s.cut.Load(),
	}
	for code := range s.byStatus {
		if n := s.byStatus[code].Load(); n > 0 {
			st.ByStatus[code] = n
		}
	}
	s.mu.Lock()
	st.InFlight = s.active
	s.mu.Unlock()
	return st
}
