package report

import (
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"
	"unsafe"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The run as a time series: counters and two latency histograms for every
// interval of fixed length (1 s unless the run asks otherwise), kept for
// the whole run. Interval boundaries are absolute: interval k covers
// [k·length, (k+1)·length) of wall-clock time since the Unix epoch, so the
// series of runs on several machines whose clocks agree line up interval
// by interval, and merge exactly. The first and last intervals of a run
// are usually partial: the run started and ended inside them.
//
// Interval histograms cover the same range as the run's (1 µs to 1 hour)
// at 2 significant digits: a percentile of one interval is exact to within
// 1% of its value (the run's own histograms, to within 0.1%). A closed
// interval is kept as its histograms' bucket counts in varints (see
// packHistogram), about 1.5 KiB per histogram for an interval of 100,000
// widely spread latencies and nothing for an empty one, so an hour at 1 s
// intervals stays under 16 MiB (see BenchmarkSeriesHour).

// intervalSigFigs is the precision of interval histograms; see above.
const intervalSigFigs = 2

func newIntervalHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(lowestMicros, highestMicros, intervalSigFigs)
}

// NumStatusClasses is the length of [IntervalCounts.Status].
const NumStatusClasses = 6

// StatusClass returns the index of a status code in [IntervalCounts.Status]:
// 1 to 5 for 1xx to 5xx, 0 for a code outside 100-599.
func StatusClass(code int) int {
	if code >= 100 && code < 600 {
		return code / 100
	}
	return 0
}

// IntervalCounts are the counters of one interval. Requests, errors,
// status classes, bytes and late requests are counted in the interval in
// which the request ended (its response or its failure was recorded); Due
// and Dropped come from the schedule (open model).
//
// A field added here for a new dimension of the run (per-target counters,
// say) must add up under [IntervalCounts.Add], be saved by
// [Summary.Save], and be zero in the saved files that predate it.
type IntervalCounts struct {
	// Requests counts the requests that finished or failed.
	Requests int64
	// Errors counts the failed requests; ErrorKinds splits them, indexed
	// by ErrorKind.
	Errors     int64
	ErrorKinds [numErrorKinds]int64
	// Status counts responses by class, indexed by [StatusClass]: Status[2]
	// counts the 2xx responses.
	Status [NumStatusClasses]int64
	// Codes splits the responses by exact status code, for the
	// interval's [MaxIntervalCodes] most frequent codes;
	// [IntervalCounts.OtherCodes] counts the rest.
	Codes StatusCodes
	// Bytes counts response body bytes (see [Sample]).
	Bytes int64
	// Late counts the requests sent after their due time (open model).
	Late int64
	// Due counts the requests the schedule made due during the interval:
	// the target of the open model; 0 in the closed model.
	Due int64
	// Dropped counts the requests that were due but never sent because
	// the run ended first; they are counted in the interval in which the
	// run stopped.
	Dropped int64
	// Cut counts the requests in flight when the run was stopped (see
	// [Summary.Cut]), in the run's last interval.
	Cut int64
}

// Add adds o's counters to c.
func (c *IntervalCounts) Add(o *IntervalCounts) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	for k, n := range o.ErrorKinds {
		c.ErrorKinds[k] += n
	}
	for k, n := range o.Status {
		c.Status[k] += n
	}
	c.Codes.Add(&o.Codes)
	c.Bytes += o.Bytes
	c.Late += o.Late
	c.Due += o.Due
	c.Dropped += o.Dropped
	c.Cut += o.Cut
}

// An Interval is one interval of a run's series: its counters and its
// response and service time histograms (those of the answered requests,
// as in [Summary]).
type Interval struct {
	// Start is the interval's start, in UTC: a whole multiple of Length
	// since the Unix epoch.
	Start time.Time
	// Length is the interval's length: the series' interval.
	Length time.Duration
	IntervalCounts
	// Targets splits Requests, Errors and the non-2xx answers by target,
	// indexed as [Series.TargetNames], in a run that kept per-target rows
	// (see [Recorder.TrackTargets]); nil in one that did not.
	Targets []TargetCounts

	response, service *hdrhistogram.Histogram
	// runStart and runEnd are the bounds of the run the interval belongs
	// to, for Covered; zero where they are not known.
	runStart, runEnd time.Time
}

// End returns the end of the interval (Start plus Length).
func (iv Interval) End() time.Time { return iv.Start.Add(iv.Length) }

// Covered returns the part of the interval its run went on for: Length,
// but less in the run's first and last intervals, which the run began
// and ended inside. Its counters are over that time, so a rate is a
// count divided by Covered. It is never less than a tenth of Length, so
// that a run that began or ended a moment into an interval shows no spike
// there. The intervals [Intervals.Closed] gives know their run's start and
// end (the end once the run has finished); those of a [Series] know them
// once [Interval.Within] has given them, and are taken as whole until then.
func (iv Interval) Covered() time.Duration {
	from, to := iv.Start, iv.End()
	if iv.runStart.After(from) {
		from = iv.runStart
	}
	if !iv.runEnd.IsZero() && iv.runEnd.Before(to) {
		to = iv.runEnd
	}
	return max(to.Sub(from), iv.Length/10)
}

// Within returns iv as an interval of a run that went from start to end,
// for [Interval.Covered]; a zero start or end is not known.
func (iv Interval) Within(start, end time.Time) Interval {
	iv.runStart, iv.runEnd = start, end
	return iv
}

// Response returns the interval's response-time distribution.
func (iv Interval) Response() Latency { return latencyOf(iv.response) }

// Service returns the interval's service-time distribution.
func (iv Interval) Service() Latency { return latencyOf(iv.service) }

// ResponseHistogram returns the interval's response-time histogram, in
// microseconds, for consumers that export buckets. It belongs to the
// Interval: clone it before changing it.
func (iv Interval) ResponseHistogram() *hdrhistogram.Histogram { return iv.response }

// ServiceHistogram returns the interval's service-time histogram, as
// ResponseHistogram does.
func (iv Interval) ServiceHistogram() *hdrhistogram.Histogram { return iv.service }

// A Series is a run's intervals, in time order. Every interval from the
// one in which the run started to the one in which it ended is present,
// empty or not; the series of runs merged from different times may have
// gaps between them. A Series is not changed once a [Summary] holds it,
// so it may be read from several goroutines.
type Series struct {
	length  time.Duration
	items   []storedInterval // ascending index
	targets []string         // see TargetNames
}

// storedInterval is a closed interval in the form the series keeps:
// histograms in the V2 compressed encoding, without base64 (a third
// smaller), nil when empty.
type storedInterval struct {
	index             int64 // Start is index·length since the Unix epoch
	counts            IntervalCounts
	response, service []byte
	targets           []TargetCounts // nil if the series has no targets or the interval no request
}

const sizeofStoredInterval = unsafe.Sizeof(storedInterval{})

// Interval returns the length of the series' intervals.
func (s *Series) Interval() time.Duration { return s.length }

// Len returns the number of intervals.
func (s *Series) Len() int { return len(s.items) }

// At returns interval i, decoding its histograms (some tens of µs).
func (s *Series) At(i int) Interval {
	it := &s.items[i]
	return Interval{
		Start:          time.Unix(0, it.index*int64(s.length)).UTC(),
		Length:         s.length,
		IntervalCounts: it.counts,
		Targets:        s.targetsOf(it),
		response:       unpackHistogram(it.response),
		service:        unpackHistogram(it.service),
	}
}

// All returns the intervals in time order, as At does.
func (s *Series) All() iter.Seq[Interval] {
	return func(yield func(Interval) bool) {
		for i := range s.items {
			if !yield(s.At(i)) {
				return
			}
		}
	}
}

// Totals returns the sum of the intervals' counters: for a run's series,
// its totals (Requests, Errors, Late and Bytes equal the [Summary]'s).
func (s *Series) Totals() IntervalCounts {
	var t IntervalCounts
	for i := range s.items {
		t.Add(&s.items[i].counts)
	}
	return t
}

// MemorySize returns the bytes the series holds: its intervals' counters
// and encoded histograms.
func (s *Series) MemorySize() int {
	n := cap(s.items) * int(sizeofStoredInterval)
	for i := range s.items {
		n += cap(s.items[i].response) + cap(s.items[i].service) + cap(s.items[i].targets)*int(unsafe.Sizeof(TargetCounts{}))
	}
	return n
}

// packHistogram returns h in the form a series keeps, nil if h is empty:
// its bucket counts as varints (encoding/binary's zig-zag form), a run of
// n empty buckets as -n, trailing empty buckets left out. This is the V2
// encoding's payload without its zlib stage: 20-30% larger, but made
// without the 600 allocations and 800 KiB of compressor state that
// hdrhistogram-go's Encode costs per histogram, once a second. Saved files
// hold the V2 encoding itself (see [Summary.Save]).
func packHistogram(h *hdrhistogram.Histogram) []byte {
	if h.TotalCount() == 0 {
		return nil
	}
	c := h.Export().Counts
	n := len(c)
	for n > 0 && c[n-1] == 0 {
		n--
	}
	out := make([]byte, 0, 2*n/3+16)
	for i := 0; i < n; {
		if c[i] != 0 {
			out = binary.AppendVarint(out, c[i])
			i++
			continue
		}
		j := i + 1
		for c[j] == 0 { // c[n-1] is not zero
			j++
		}
		out = binary.AppendVarint(out, -int64(j-i))
		i = j
	}
	return slices.Clip(out)
}

// intervalCounts is the number of buckets of an interval histogram,
// counted on first use rather than at start, where every gather command
// would make a histogram (54 KB) to count them.
var intervalCounts = sync.OnceValue(func() int { return len(newIntervalHistogram().Export().Counts) })

// unpackHistogram decodes what packHistogram returned. The bytes came from
// packHistogram, so decoding cannot fail; bytes that do not decode make an
// empty histogram.
func unpackHistogram(raw []byte) *hdrhistogram.Histogram {
	counts := make([]int64, intervalCounts())
	for i := 0; len(raw) > 0; {
		v, n := binary.Varint(raw)
		if n <= 0 || i >= len(counts) {
			return newIntervalHistogram()
		}
		raw = raw[n:]
		if v < 0 {
			i += int(-v)
			continue
		}
		counts[i] = v
		i++
	}
	return hdrhistogram.Import(&hdrhistogram.Snapshot{
		LowestTrackableValue:  lowestMicros,
		HighestTrackableValue: highestMicros,
		SignificantFigures:    intervalSigFigs,
		Counts:                counts,
	})
}

// mergesWith reports whether s and o can merge: one interval is a whole
// multiple of the other.
func (s *Series) mergesWith(o *Series) bool {
	return s.length%o.length == 0 || o.length%s.length == 0
}

// merged returns the series of two runs that went at the same time: the
// intervals with the same start add up, counters and histograms, so the
// result is what one run recording both would have kept. Series of
// different intervals merge when one interval is a whole multiple of the
// other: since boundaries are absolute, the finer series regroups into
// the coarser's intervals exactly. Neither series is changed.
func (s *Series) merged(o *Series) (*Series, error) {
	a, b := s, o
	switch {
	case a.length == b.length:
	case a.length > b.length && a.length%b.length == 0:
		b = b.coarsened(a.length)
	case b.length > a.length && b.length%a.length == 0:
		a = a.coarsened(b.length)
	default:
		return nil, fmt.Errorf("report: series of %v and %v intervals cannot be merged (neither is a multiple of the other)", s.length, o.length)
	}
	names, toA, toB := mergeTargetNames(a.targets, b.targets)
	a, b = a.withTargets(names, toA), b.withTargets(names, toB)
	out := &Series{length: a.length, items: make([]storedInterval, 0, max(len(a.items), len(b.items))), targets: names}
	i, j := 0, 0
	for i < len(a.items) || j < len(b.items) {
		switch {
		case j == len(b.items) || i < len(a.items) && a.items[i].index < b.items[j].index:
			out.items = append(out.items, a.items[i])
			i++
		case i == len(a.items) || b.items[j].index < a.items[i].index:
			out.items = append(out.items, b.items[j])
			j++
		default:
			m, err := mergeStored(a.items[i], b.items[j])
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, m)
			i++
			j++
		}
	}
	return out, nil
}

// Coarsened returns s regrouped into intervals of length, a whole
// multiple of s's interval: the series the run would have kept at that
// interval, exactly, since boundaries are absolute (counters add,
// histograms merge). It is how a long series is drawn in fewer points
// without losing a request or a maximum. s is not changed.
func (s *Series) Coarsened(length time.Duration) (*Series, error) {
	switch {
	case length == s.length:
		return s, nil
	case length < s.length || length%s.length != 0:
		return nil, fmt.Errorf("report: a series of %v intervals cannot be regrouped into %v ones", s.length, length)
	}
	return s.coarsened(length), nil
}

// coarsened returns s regrouped into intervals of length, a multiple of
// s's.
func (s *Series) coarsened(length time.Duration) *Series {
	out := &Series{length: length, targets: s.targets}
	ratio := int64(length / s.length)
	for _, it := range s.items {
		it.index = floorDiv(it.index, ratio)
		if n := len(out.items); n > 0 && out.items[n-1].index == it.index {
			m, err := mergeStored(out.items[n-1], it)
			if err == nil {
				out.items[n-1] = m
			}
			continue
		}
		out.items = append(out.items, it)
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// mergeStored adds two stored intervals of the same index.
func mergeStored(a, b storedInterval) (storedInterval, error) {
	out := storedInterval{index: a.index, counts: a.counts, targets: addTargetCounts(a.targets, b.targets)}
	out.counts.Add(&b.counts)
	var err error
	if out.response, err = mergePacked(a.response, b.response); err != nil {
		return out, err
	}
	out.service, err = mergePacked(a.service, b.service)
	return out, err
}

func mergePacked(a, b []byte) ([]byte, error) {
	switch {
	case a == nil:
		return b, nil
	case b == nil:
		return a, nil
	}
	h := unpackHistogram(a)
	if h.Merge(unpackHistogram(b)) != 0 {
		return nil, fmt.Errorf("report: interval histograms of different ranges cannot be merged exactly")
	}
	return packHistogram(h), nil
}

// clone returns a copy of s that shares its immutable encoded histograms.
func (s *Series) clone() *Series {
	if s == nil {
		return nil
	}
	return &Series{length: s.length, items: slices.Clone(s.items), targets: s.targets}
}
