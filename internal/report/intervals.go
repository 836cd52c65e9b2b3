package report

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Intervals cuts a run into its [Series] while the run goes: the
// recorders' samples land in the interval in which they ended, and each
// interval is closed, merged across recorders and kept compactly a moment
// after it ends.
//
// Nothing of this is on the recorders' side but a few nanoseconds per
// Record: each Recorder given to [NewIntervals] gets two interval slots
// (the interval going on and the next, about 100 KiB), records into the
// one its sample's End falls in, and enters and leaves a writer-reader
// phaser (two uncontended atomic adds) around it. Closing an interval
// never blocks a recorder: the closing side waits, spinning, for the
// recorders that were inside the slot when it sealed it, never the other
// way around. A sample that ends in an interval already closed (recorded
// more than the grace after the interval's end, as can happen to a
// recorder shared behind a mutex) is counted in the interval going on.
//
// Intervals itself is driven by one goroutine, the run's: it calls
// [Intervals.Cut] at [Intervals.Next] and [Intervals.Finish] once the
// recorders have stopped. [Intervals.Closed] and [Intervals.Len] may be
// called from any goroutine, for consumers that follow the run.
type Intervals struct {
	length time.Duration
	t0     time.Time // the run's start, with its monotonic reading
	wall0  int64     // t0 in ns since the Unix epoch
	grace  time.Duration
	recs   []*recorderSeries
	due    func(from, to time.Time) int64

	cur      int64 // the interval going on
	sealNext bool  // interval cur-1 is not yet closed
	response *hdrhistogram.Histogram
	service  *hdrhistogram.Histogram
	counts   IntervalCounts
	cut      int64          // see CountCut
	targets  []TargetCounts // per target, once a recorder has names

	// codes counts the responses by code, of all recorders: see topCodes.
	codes [statusSlots]int64

	mu     sync.Mutex // guards series.items and end against Closed and Len
	series Series
	end    time.Time // the run's end on the wall clock, once Finish has it
}

// MinInterval is the shortest interval a series may have.
const MinInterval = time.Millisecond

// NewIntervals returns the cutter of a run that starts at start into
// intervals of length, and attaches it to recs, which must not have
// recorded yet. It panics if length is shorter than [MinInterval].
func NewIntervals(start time.Time, length time.Duration, recs ...*Recorder) *Intervals {
	if length < MinInterval {
		panic("report: NewIntervals: interval shorter than MinInterval")
	}
	iv := &Intervals{
		length:   length,
		t0:       start,
		wall0:    start.UnixNano(),
		grace:    min(length/10, 100*time.Millisecond),
		response: newIntervalHistogram(),
		service:  newIntervalHistogram(),
		series:   Series{length: length},
	}
	iv.cur = floorDiv(iv.wall0, int64(length))
	for _, r := range recs {
		rs := &recorderSeries{}
		for i := range rs.slots {
			rs.slots[i] = &intervalSlot{response: newIntervalHistogram(), service: newIntervalHistogram()}
		}
		cur, next := rs.slot(iv.cur), rs.slot(iv.cur+1)
		iv.place(cur, iv.cur)
		iv.place(next, iv.cur+1)
		cur.next.Store(next)
		rs.active.Store(cur)
		r.series = rs
		if len(r.targets) > 0 {
			rs.trackTargets(r.targetNames)
		}
		iv.recs = append(iv.recs, rs)
	}
	return iv
}

// CountDue sets the function that counts the requests a schedule makes
// due in [from, to), for [IntervalCounts.Due]; from is never before the
// run's start, nor to after the end given to Finish. Call it before Cut.
func (iv *Intervals) CountDue(due func(from, to time.Time) int64) { iv.due = due }

// Length returns the intervals' length.
func (iv *Intervals) Length() time.Duration { return iv.length }

// bound returns the start of interval k on the run's monotonic clock.
func (iv *Intervals) bound(k int64) time.Time {
	return iv.t0.Add(time.Duration(k*int64(iv.length) - iv.wall0))
}

// place makes sl the empty slot of interval k.
func (iv *Intervals) place(sl *intervalSlot, k int64) {
	sl.index, sl.start, sl.end = k, iv.bound(k), iv.bound(k+1)
}

// Next returns when Cut next has something to do.
func (iv *Intervals) Next() time.Time {
	if iv.sealNext {
		return iv.bound(iv.cur).Add(iv.grace)
	}
	return iv.bound(iv.cur + 1)
}

// Cut moves the recorders on to the interval going on at now, closes the
// intervals that ended more than the grace before now, and returns the
// number of intervals closed so far.
func (iv *Intervals) Cut(now time.Time) int {
	for !now.Before(iv.Next()) {
		if iv.sealNext {
			iv.close(iv.cur-1, true, time.Time{})
		} else {
			iv.advance()
		}
	}
	return iv.Len()
}

// advance makes interval cur+1 the one going on.
func (iv *Intervals) advance() {
	for _, rs := range iv.recs {
		old, sl := rs.slot(iv.cur), rs.slot(iv.cur+1)
		sl.prev.Store(old)
		rs.active.Store(sl)
	}
	iv.cur++
	iv.sealNext = true
}

// close seals interval k in every recorder, merges it and keeps it. With
// recycle, each recorder's slot becomes interval k+2, the one after the
// interval going on (k+1). end, if set, is when the run ended.
func (iv *Intervals) close(k int64, recycle bool, end time.Time) {
	for _, rs := range iv.recs {
		sl := rs.slot(k)
		sl.sealed.Store(true)
		if n := rs.slot(k + 1); n.index == k+1 {
			n.prev.Store(nil)
		}
		// Every recorder that may have chosen sl has left it after this.
		rs.phaser.flip()
		iv.addTargets(rs, sl)
		iv.counts.Add(&sl.counts)
		for code, n := range sl.codes {
			iv.codes[code] += n
		}
		iv.response.Merge(sl.response)
		iv.service.Merge(sl.service)
		if recycle {
			sl.counts = IntervalCounts{}
			clear(sl.codes[:])
			clear(sl.targets)
			sl.response.Reset()
			sl.service.Reset()
			sl.next.Store(nil)
			iv.place(sl, k+2)
			sl.sealed.Store(false)
			rs.slot(k + 1).next.Store(sl)
		}
	}
	if iv.due != nil {
		from, to := iv.bound(k), iv.bound(k+1)
		if from.Before(iv.t0) {
			from = iv.t0
		}
		if !end.IsZero() && end.Before(to) {
			to = end
		}
		iv.counts.Due = iv.due(from, to)
	}
	iv.counts.Codes = topCodes(&iv.codes)
	clear(iv.codes[:])
	it := storedInterval{index: k, counts: iv.counts, response: packHistogram(iv.response), service: packHistogram(iv.service)}
	if iv.counts.Requests > 0 && iv.targets != nil {
		it.targets = slices.Clone(iv.targets)
		clear(iv.targets)
	}
	iv.counts = IntervalCounts{}
	iv.response.Reset()
	iv.service.Reset()
	iv.mu.Lock()
	iv.series.items = append(iv.series.items, it)
	iv.mu.Unlock()
	iv.sealNext = false
}

// addTargets adds the per-target counters of rs's slot sl to the
// interval being closed, taking the target names from the first recorder
// that has them.
func (iv *Intervals) addTargets(rs *recorderSeries, sl *intervalSlot) {
	if rs.names == nil {
		return
	}
	if iv.targets == nil {
		iv.targets = make([]TargetCounts, len(rs.names))
		iv.mu.Lock()
		iv.series.targets = rs.names
		iv.mu.Unlock()
	}
	for i, c := range sl.targets[:min(len(sl.targets), len(iv.targets))] {
		iv.targets[i].add(c)
	}
}

// CountCut sets the number of requests the run's stop cut in flight (see
// [Summary.Cut]), which Finish counts in the last interval.
func (iv *Intervals) CountCut(n int64) { iv.cut = n }

// Finish closes every interval up to the one in which the run ended at
// end, counts dropped requests in that last one, and returns the series.
// Call it once the recorders have stopped.
func (iv *Intervals) Finish(end time.Time, dropped int64) *Series {
	wallEnd := iv.wall0 + int64(end.Sub(iv.t0))
	iv.mu.Lock()
	iv.end = time.Unix(0, wallEnd).UTC()
	iv.mu.Unlock()
	last := floorDiv(wallEnd, int64(iv.length))
	for iv.cur < last {
		if iv.sealNext {
			iv.close(iv.cur-1, true, time.Time{})
		}
		iv.advance()
	}
	if iv.sealNext {
		iv.close(iv.cur-1, false, end)
	}
	iv.counts.Dropped = dropped
	iv.counts.Cut = iv.cut
	iv.close(iv.cur, false, end)
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return iv.series.clone()
}

// Len returns the number of intervals closed so far.
func (iv *Intervals) Len() int {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return len(iv.series.items)
}

// Closed returns closed interval i (0 is the run's first), decoding its
// histograms outside any lock. It knows the run's start and, once Finish
// has been called, its end, for [Interval.Covered].
func (iv *Intervals) Closed(i int) Interval {
	iv.mu.Lock()
	s := Series{length: iv.length, items: iv.series.items[i : i+1 : i+1], targets: iv.series.targets}
	end := iv.end
	iv.mu.Unlock()
	return s.At(0).Within(time.Unix(0, iv.wall0).UTC(), end)
}

// recorderSeries is a Recorder's part of the series: two slots that the
// closing side passes between intervals, and the phaser that tells it when
// the recorder has left a slot.
type recorderSeries struct {
	phaser phaser
	active atomic.Pointer[intervalSlot]
	slots  [2]*intervalSlot
	names  []string // the recorder's target names, when it keeps rows
}

// trackTargets gives the slots per-target counters for names, before the
// recorder records.
func (rs *recorderSeries) trackTargets(names []string) {
	rs.names = names
	for _, sl := range rs.slots {
		sl.targets = make([]TargetCounts, len(names))
	}
}

// slot returns the slot that holds interval k, if any does.
func (rs *recorderSeries) slot(k int64) *intervalSlot { return rs.slots[k&1] }

// record adds one sample to the slot of the interval in which it ended:
// the one going on, the one before it until it is sealed, or the next one.
func (rs *recorderSeries) record(s *Sample, kind ErrorKind, code int, resp, serv int64) {
	e := rs.phaser.enter()
	sl := rs.active.Load()
	if end := s.End; !end.IsZero() {
		if end.Before(sl.start) {
			if p := sl.prev.Load(); p != nil && !p.sealed.Load() {
				sl = p
			}
		} else if !end.Before(sl.end) {
			if n := sl.next.Load(); n != nil {
				sl = n
			}
		}
	}
	c := &sl.counts
	var t *TargetCounts
	if sl.targets != nil {
		t = &sl.targets[min(max(s.Target, 0), len(sl.targets)-1)]
		t.Requests++
	}
	c.Requests++
	c.Bytes += s.Bytes
	if s.Late {
		c.Late++
	}
	if kind != ErrNone {
		c.Errors++
		c.ErrorKinds[kind]++
		if t != nil {
			t.Errors++
		}
	} else {
		class := StatusClass(code)
		c.Status[class]++
		sl.codes[code]++
		if t != nil && class != 2 {
			t.Non2xx++
		}
		_ = sl.response.RecordValue(resp)
		_ = sl.service.RecordValue(serv)
	}
	rs.phaser.exit(e)
}

// intervalSlot is one recorder's share of one interval.
type intervalSlot struct {
	index      int64
	start, end time.Time
	prev, next atomic.Pointer[intervalSlot]
	sealed     atomic.Bool
	counts     IntervalCounts
	targets    []TargetCounts // indexed by Sample.Target; see trackTargets
	response   *hdrhistogram.Histogram
	service    *hdrhistogram.Histogram

	// codes counts the responses by code, as the Recorder does the run's.
	codes [statusSlots]int64
}

// phaser is a writer-reader phaser (Gil Tene's, as HdrHistogram's
// interval recorders use it): writers enter and leave a critical section
// wait-free, and the reader's flip returns once every writer that entered
// before it has left.
type phaser struct {
	start   atomic.Int64
	evenEnd atomic.Int64
	oddEnd  atomic.Int64
}

func (p *phaser) enter() int64 { return p.start.Add(1) - 1 }

func (p *phaser) exit(e int64) {
	if e < 0 {
		p.oddEnd.Add(1)
	} else {
		p.evenEnd.Add(1)
	}
}

// flip starts a new phase and waits for the writers of the old one.
func (p *phaser) flip() {
	nextEven := p.start.Load() < 0
	initial := int64(math.MinInt64)
	if nextEven {
		initial = 0
		p.evenEnd.Store(0)
	} else {
		p.oddEnd.Store(math.MinInt64)
	}
	atFlip := p.start.Swap(initial)
	for {
		done := p.evenEnd.Load()
		if nextEven {
			done = p.oddEnd.Load()
		}
		if done == atFlip {
			return
		}
		runtime.Gosched()
	}
}
