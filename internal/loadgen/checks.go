package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// defaultCheckEvery is how often Check is called unless the plan says:
// often enough that a run doomed early stops soon, and each call only
// reads a few atomic counters per recorder.
const defaultCheckEvery = 250 * time.Millisecond

// errChecked is the cause of a run that the plan's Check stopped.
var errChecked = errors.New("the run was stopped early")

// checks calls the plan's Check, if it has one, every CheckEvery with the
// watches' counts so far, and stops the run through stop when Check
// returns an error. It reads the recorders' atomic counters only, so it
// costs the workers nothing but the watches' own counting. It returns the
// function that stops it and waits for it.
func (r *run) checks(recs []*report.Recorder, stop context.CancelCauseFunc) func() {
	p := r.plan
	if p.Check == nil {
		return func() {}
	}
	interval := p.CheckEvery
	if interval <= 0 {
		interval = defaultCheckEvery
	}
	bound := int64(-1) // the most requests the run may send
	if p.Requests > 0 {
		bound = p.Requests
	}
	if r.sched != nil && p.Duration > 0 {
		due := r.sched.count(p.Duration)
		if bound < 0 || due < bound {
			bound = due
		}
	}
	counts := make([]report.WatchCount, len(p.Watches))
	return every(interval, func() bool {
		clear(counts)
		var requests int64
		for _, rec := range recs {
			requests += rec.Requests()
			rec.AddWatchCounts(counts)
		}
		remaining := int64(-1)
		if bound >= 0 {
			remaining = max(0, bound-requests)
		}
		if err := p.Check(counts, remaining); err != nil {
			stop(fmt.Errorf("%w: %v", errChecked, err))
			return false
		}
		return true
	})
}
