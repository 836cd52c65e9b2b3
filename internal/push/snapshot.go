package push

import (
	"slices"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// A snapshot is the run's state at the end of one interval, as every sink
// sends it: cumulative counters and histograms (so that a lost snapshot
// loses a point in time, never a count), and the interval's own rates.
// It is never changed once made, so the sinks share it.
type snapshot struct {
	// at is the end of the interval: the time of every value.
	at time.Time
	// length is the interval's length; covered is the part of it the
	// run went on for (see [report.Interval.Covered]), for the rates.
	length, covered time.Duration
	// begin is the start of the run's first interval, where cumulative
	// values start. first marks the run's first snapshot: the sinks send
	// a zero point at begin before it, so that rate() and increase()
	// count the first interval too.
	begin time.Time
	first bool
	// total is cumulative since the run's start; interval is this
	// interval's own.
	total, interval report.IntervalCounts
	// targets are the per-target counters, cumulative, indexed as the
	// stream's target names.
	targets []report.TargetCounts
	// cpu is the generator's process CPU time since the stream started.
	cpu               time.Duration
	response, service latency
}

// accumulator folds the intervals of a run into snapshots, in order.
type accumulator struct {
	n                 int
	begin             time.Time
	total             report.IntervalCounts
	targets           []report.TargetCounts
	response, service latency
	cpu0              time.Duration
	cpu               func() time.Duration
}

// fold adds an interval to the run's totals and returns the snapshot at
// its end. It walks the interval's two histograms (a few thousand buckets
// each, some tens of µs) and copies the cumulative buckets (a few KiB).
func (a *accumulator) fold(iv report.Interval) *snapshot {
	if a.n == 0 {
		a.begin = iv.Start
	}
	a.total.Add(&iv.IntervalCounts)
	a.addTargets(iv)
	a.response.add(iv.ResponseHistogram())
	a.service.add(iv.ServiceHistogram())
	s := &snapshot{
		at:       iv.End(),
		length:   iv.Length,
		covered:  iv.Covered(),
		first:    a.n == 0,
		begin:    a.begin,
		total:    a.total,
		interval: iv.IntervalCounts,
		targets:  slices.Clone(a.targets),
		response: a.response.clone(),
		service:  a.service.clone(),
	}
	if a.cpu != nil {
		s.cpu = a.cpu() - a.cpu0
	}
	a.n++
	return s
}

// addTargets adds the interval's per-target counters; an interval of a
// run of one target has none, and its totals are that target's.
func (a *accumulator) addTargets(iv report.Interval) {
	if len(iv.Targets) == 0 {
		var non2xx int64
		for class, n := range iv.Status {
			if class != 2 {
				non2xx += n
			}
		}
		iv.Targets = []report.TargetCounts{{Requests: iv.Requests, Errors: iv.Errors, Non2xx: non2xx}}
	}
	if len(a.targets) < len(iv.Targets) {
		a.targets = append(a.targets, make([]report.TargetCounts, len(iv.Targets)-len(a.targets))...)
	}
	for i, c := range iv.Targets {
		t := &a.targets[i]
		t.Requests += c.Requests
		t.Errors += c.Errors
		t.Non2xx += c.Non2xx
	}
}

// rate returns n per second of the part of the snapshot's interval that
// the run went on for: the run's first and last intervals are partial.
func (s *snapshot) rate(n int64) float64 {
	return float64(n) / s.covered.Seconds()
}
