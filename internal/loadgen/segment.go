package loadgen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// A Segment is one share of a distributed run: N processes, on as many
// machines, each run one segment of the same plan, and the union of their
// requests is exactly the run one machine would have made.
//
// Request j of the whole run (counted from 0 over every connection) is
// segment j mod N's: segment i sends requests i, i+N, i+2N... In the open
// model that is the global schedule's request j at its due time, so the
// merged schedule is the single machine's; in the closed model it splits
// -n exactly (segment i takes the ceiling of (n-i)/N, so the remainder
// goes to the first segments, nothing lost or doubled), and the
// connections are split the same way, those of a ramp too. Targets taken round-robin and data
// rows taken in turn follow the global request number, so they split the
// same way too.
type Segment struct {
	// Index is the segment's number, from 0; Count is N. The zero
	// Segment is the whole run.
	Index, Count int
	// Run identifies the distributed run, the same for all its segments,
	// so that a merge can tell when one is missing; "" derives it from
	// the plan and its StartAt (see [Plan.RunID]).
	Run string
}

// ParseSegment parses "i/N", as bench's --segment takes it.
func ParseSegment(s string) (Segment, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Segment{}, fmt.Errorf("segment %q: want i/N, e.g. 0/4", s)
	case n < 1:
		return Segment{}, fmt.Errorf("segment %q: N must be at least 1", s)
	case i < 0 || i >= n:
		return Segment{}, fmt.Errorf("segment %q: i must be from 0 to %d", s, n-1)
	}
	return Segment{Index: i, Count: n}, nil
}

// String returns "i/N", or "" for the whole run.
func (g Segment) String() string {
	if g.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", g.Index, g.Count)
}

// Share returns the segment's share of total things (requests or
// connections) split as requests are: how many of 0..total-1 are i mod N.
// The shares of the N segments add up to total exactly.
func (g Segment) Share(total int64) int64 {
	if g.Count <= 1 {
		return total
	}
	n, i := int64(g.Count), int64(g.Index)
	if total <= i {
		return 0
	}
	return (total-i-1)/n + 1
}

// Global returns the number, in the whole run, of the segment's own
// request k (from 0): k·N + i.
func (g Segment) Global(k int64) int64 {
	if g.Count <= 1 {
		return k
	}
	return k*int64(g.Count) + int64(g.Index)
}

// rampPlace returns the place, in the whole run's ramp of connections, of
// the segment's connection k: the segment follows the whole run's ramp and
// holds every Nth place of it, as it sends every Nth request, so that at
// every moment the segments' open connections add up to the whole run's
// exactly (a ramp of each segment's share would not: over four segments,
// a ramp from 0 to 10 is at 5 when each share's is at 1.5 or 1, 4 in all).
func (g Segment) rampPlace(k int) float64 {
	return float64(g.Global(int64(k)))
}

// Check reports a segment that cannot run its share of the whole run p:
// one left without a connection or a request.
func (g Segment) Check(p *Plan) error {
	switch {
	case g.Count == 0:
		return nil
	case g.Count < 0 || g.Index < 0 || g.Index >= g.Count:
		return fmt.Errorf("segment %d of %d", g.Index, g.Count)
	case p.Requests > 0 && g.Share(p.Requests) == 0:
		return fmt.Errorf("%s over %d segments leave segment %s without one", count(int(p.Requests), "request"), g.Count, g)
	case g.plan(p).shared().PeakConnections() < 1:
		return fmt.Errorf("%s over %d segments leave segment %s without one", count(p.PeakConnections(), "connection"), g.Count, g)
	}
	return nil
}

// plan returns p as the plan of segment g.
func (g Segment) plan(p *Plan) *Plan {
	q := *p
	q.Segment = g
	return &q
}

// shared returns the plan of p's segment: its share of the connections
// (and of each connection stage's target), and of the requests. p itself
// is the whole run's; the open model's schedule stays the whole run's
// (see [Plan.scheduled]), of which the segment sends every Nth request.
func (p *Plan) shared() *Plan {
	g := p.Segment
	if g.Count <= 1 {
		return p
	}
	q := *p
	q.Connections = int(g.Share(int64(p.Connections)))
	q.Requests = g.Share(p.Requests)
	if p.ConnectionStages != nil {
		q.ConnectionStages = make([]Stage, len(p.ConnectionStages))
		for i, st := range p.ConnectionStages {
			st.Target = float64(g.Share(int64(st.Target)))
			q.ConnectionStages[i] = st
		}
	}
	return &q
}

// scheduled returns the plan the open model's schedule is made from: the
// whole run's, its length that of the stages (see [Plan.Length]), with
// the segment that takes its share of it.
func (p *Plan) scheduled() *Plan {
	q := *p
	q.Duration = p.Length()
	return &q
}

// Describe returns the whole run as it was asked, before any split, in the
// words of bench's flags: "c=50 n=10000", "c=100 z=30s q=2000". Every
// segment of one run describes it alike, which a merge checks.
func (p *Plan) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "c=%d", p.Connections)
	if p.Requests > 0 {
		fmt.Fprintf(&b, " n=%d", p.Requests)
	}
	if p.Duration > 0 {
		fmt.Fprintf(&b, " z=%s", p.Duration)
	}
	if p.Rate > 0 {
		fmt.Fprintf(&b, " q=%s", strconv.FormatFloat(p.Rate, 'g', -1, 64))
	}
	if prof := p.describeProfile(); prof != "" {
		fmt.Fprintf(&b, " stages=%s", strings.ReplaceAll(prof, " ", ""))
	}
	return b.String()
}

// RunID returns the id of the distributed run p's segment belongs to:
// Segment.Run if set, else a digest of what every segment shares (the
// target, the method, [Plan.Describe], the number of segments and
// StartAt), so that segments started alike by hand still find each
// other. Two runs alike in all of these, one after the other, need
// Segment.Run to tell them apart, or a StartAt of their own.
func (p *Plan) RunID() string {
	if p.Segment.Run != "" {
		return p.Segment.Run
	}
	h := sha256.New()
	target := ""
	if p.URL != nil {
		target = p.URL.String()
	}
	for _, part := range []string{target, p.method(), p.Describe(), strconv.Itoa(p.Segment.Count),
		strconv.FormatInt(p.StartAt.UnixNano(), 10)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// startSpin is how long before StartAt the wait stops sleeping and spins:
// a timer wakes up to a millisecond late on a busy machine, a spin within
// microseconds, and one millisecond of spinning per run is cheap.
const startSpin = 2 * time.Millisecond

// lateStartWarning is how late after StartAt a run may start before its
// report warns: the wake-up of a process on a busy machine takes some
// milliseconds (the report says how late it started either way).
const lateStartWarning = 10 * time.Millisecond

// startSpinTurns bounds the spin: some milliseconds of yields.
const startSpinTurns = 20000

// waitStart waits until the wall clock reaches at, and returns the moment
// it did as a reading of the monotonic clock, or an error if ctx ended
// first. A start already past returns at once.
func waitStart(ctx context.Context, at time.Time) (time.Time, error) {
	if d := time.Until(at) - startSpin; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, ctx.Err()
		}
	}
	// The spin is bounded in turns rather than time, so that in a test's
	// fake time (where the clock stands still while anything runs) it
	// ends and the sleep below moves the clock on.
	for range startSpinTurns {
		now := time.Now()
		if !now.Before(at) {
			return now, nil
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		runtime.Gosched()
	}
	for {
		now := time.Now()
		if !now.Before(at) {
			return now, nil
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		time.Sleep(at.Sub(now))
	}
}

// part returns what the run's summary records of where and when it ran.
func (p *Plan) part(start time.Time, clock report.Clock) report.Part {
	host := p.HostName
	if host == "" {
		host, _ = os.Hostname()
	}
	pt := report.Part{
		Host:    host,
		Node:    p.NodeName,
		Start:   start.Round(0),
		StartAt: p.StartAt,
		Clock:   clock,
		Plan:    p.Describe(),
	}
	if g := p.Segment; g.Count > 0 {
		pt.Run, pt.Segment, pt.Segments = p.RunID(), g.Index, g.Count
	}
	return pt
}
