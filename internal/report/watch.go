package report

import (
	"sync/atomic"
	"time"
)

// A Watch counts, as a run goes, the samples that could fail a threshold,
// so that the threshold can be judged before the run ends (bench
// --abort-on-fail) from counters any goroutine may read, rather than from
// the histograms only their worker may.
type Watch struct {
	// Target is the target index a sample must have (see
	// [Sample.Target]), or -1 for every sample.
	Target int
	// Kind is what the watch counts.
	Kind WatchKind
	// AtLeast is the response time a WatchLatency sample must reach.
	AtLeast time.Duration
	// StatusLo and StatusHi bound the status of a WatchStatus sample.
	StatusLo, StatusHi int
}

// WatchKind is what a Watch counts.
type WatchKind uint8

const (
	// WatchErrors counts failed requests among all requests.
	WatchErrors WatchKind = iota
	// WatchStatus counts responses with a status in a range, among all
	// requests.
	WatchStatus
	// WatchLatency counts responses at least as slow as AtLeast, among
	// the answered requests.
	WatchLatency
	// WatchLate counts requests sent late, among all requests.
	WatchLate
)

// WatchCount is what a watch has counted so far: Matched samples of the Of
// samples in its scope.
type WatchCount struct{ Matched, Of int64 }

type watchState struct {
	Watch
	matched, of atomic.Int64
}

// SetWatches makes the recorder count ws as it records, at a few
// nanoseconds per watch and sample. Call it before the first Record.
func (r *Recorder) SetWatches(ws []Watch) {
	r.watches = make([]watchState, len(ws))
	for i, w := range ws {
		r.watches[i].Watch = w
	}
}

// AddWatchCounts adds what the recorder's watches have counted to dst,
// one entry per watch given to SetWatches. It is safe to call
// concurrently with Record.
func (r *Recorder) AddWatchCounts(dst []WatchCount) {
	for i := range min(len(dst), len(r.watches)) {
		w := &r.watches[i]
		// Record adds to of first and this reads it last, so a reader
		// never sees more matched than of.
		m := w.matched.Load()
		dst[i].Of += w.of.Load()
		dst[i].Matched += m
	}
}

func (r *Recorder) watch(s *Sample) {
	for i := range r.watches {
		w := &r.watches[i]
		if w.Target >= 0 && w.Target != s.Target {
			continue
		}
		answered := s.Err == ErrNone
		var match bool
		switch w.Kind {
		case WatchErrors:
			match = !answered
		case WatchStatus:
			match = answered && w.StatusLo <= s.Status && s.Status <= w.StatusHi
		case WatchLatency:
			if !answered {
				continue
			}
			match = s.Response >= w.AtLeast
		case WatchLate:
			match = s.Late
		}
		w.of.Add(1)
		if match {
			w.matched.Add(1)
		}
	}
}
