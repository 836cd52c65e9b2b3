package threshold

import (
	"fmt"
	"math"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// Judging a run that is still going (bench --abort-on-fail).
//
// Only what the workers count as they record is read while they run (see
// [report.Watch]): for each threshold that can be judged early, how many
// samples in its scope could fail it. A threshold has failed beyond doubt
// when either
//
//   - certainly: whatever the requests still to come do, it cannot pass.
//     A run with a bound on its requests (-n, or -q times -z in the open
//     model) knows how many may still come; a count ("errors<10") or the
//     max needs no bound, since it only grows; or
//   - statistically: at least MinSamples samples are in its scope, and
//     the share of failing ones is past the limit with 99.9% confidence
//     (the Wilson score bound, one-sided), as it would be if the rest of
//     the run went on like its start. This is what makes a run with no
//     bound on its requests stop early; a run that starts badly and would
//     have recovered is stopped too, which is what --abort-on-fail asks.
//
// The measures that can be judged early are the percentiles and max held
// below a limit (<, <=), and errors, statusNxx and late, above or below.
// mean, min, rps and achieved are judged at the end only.

// MinSamples is the least number of samples in a threshold's scope for it
// to fail statistically before the run ends.
const MinSamples = 1000

// z is the normal quantile of the one-sided 99.9% confidence bound.
const z = 3.090232

// A Watcher judges thresholds while a run goes. Make it with NewWatcher,
// give Watches to the recorders, and call Doomed with their counts.
type Watcher struct {
	ts    []Threshold
	index []int // threshold i's watch, or -1 if it is judged at the end only
	ws    []report.Watch
}

// NewWatcher returns the watcher of ts; targetIndex gives the index of a
// target name in the recorders' rows (report.Sample.Target).
func NewWatcher(ts []Threshold, targetIndex func(name string) int) *Watcher {
	w := &Watcher{ts: ts, index: make([]int, len(ts))}
	for i, t := range ts {
		rw, ok := t.watch()
		if !ok {
			w.index[i] = -1
			continue
		}
		rw.Target = -1
		if t.Target != "" {
			rw.Target = targetIndex(t.Target)
		}
		w.index[i] = len(w.ws)
		w.ws = append(w.ws, rw)
	}
	return w
}

// Watches returns what the recorders must count; nil if no threshold can
// be judged early.
func (w *Watcher) Watches() []report.Watch { return w.ws }

// Doomed returns the first threshold that has failed beyond doubt given
// the watches' counts, with why; remaining is how many requests the run
// may still send, or -1 if it has no bound.
func (w *Watcher) Doomed(counts []report.WatchCount, remaining int64) (t Threshold, why string, doomed bool) {
	for i, t := range w.ts {
		if j := w.index[i]; j >= 0 && j < len(counts) {
			if why, ok := t.doomed(counts[j], remaining); ok {
				return t, why, true
			}
		}
	}
	return Threshold{}, "", false
}

// watch returns what to count to judge t early, if t can be.
func (t Threshold) watch() (report.Watch, bool) {
	upper := t.Op == "<" || t.Op == "<="
	switch t.kind {
	case kindPercentile, kindMax:
		if !upper {
			return report.Watch{}, false
		}
		at := t.duration
		if t.Op == "<=" {
			at += time.Microsecond // the histograms' resolution: above the limit
		}
		return report.Watch{Kind: report.WatchLatency, AtLeast: at}, true
	case kindErrors:
		return report.Watch{Kind: report.WatchErrors}, t.Op != "=="
	case kindStatus:
		return report.Watch{Kind: report.WatchStatus, StatusLo: t.lo, StatusHi: t.hi}, t.Op != "=="
	case kindLate:
		return report.Watch{Kind: report.WatchLate}, t.Op != "=="
	}
	return report.Watch{}, false
}

// doomed reports whether t has failed beyond doubt, given c and at most
// remaining requests still to come (-1: no bound).
func (t Threshold) doomed(c report.WatchCount, remaining int64) (string, bool) {
	upper := t.Op == "<" || t.Op == "<="
	m, n := float64(c.Matched), float64(c.Of)
	if t.kind == kindPercentile || t.kind == kindMax {
		// The measure fails when more samples reach the limit than the
		// percentile leaves above it: for max, any.
		allowed := 0.0 // share of samples that may reach the limit
		if t.kind == kindPercentile {
			allowed = 1 - t.q/100
		}
		if c.Matched > 0 && allowed == 0 {
			return fmt.Sprintf("%d responses already at or past the limit", c.Matched), true
		}
		if remaining >= 0 {
			// The best case: every request still to come answered, and
			// fast. The percentile is the value of the sample of rank
			// max(1, round(q·n)), as HdrHistogram counts it: it reaches
			// the limit when fewer samples than that rank are below it.
			most := n + float64(remaining)
			if m > most-max(1, math.Floor(t.q/100*most+0.5)) {
				return fmt.Sprintf("%d of at most %.0f responses at or past the limit, more than the %g%% %s allows",
					c.Matched, most, 100*allowed, t.Measure), true
			}
		}
		if n >= MinSamples && wilsonLow(m, n) > allowed {
			return fmt.Sprintf("%d of %d responses at or past the limit: more than %g%% with 99.9%% confidence",
				c.Matched, c.Of, 100*allowed), true
		}
		return "", false
	}
	if !t.share {
		// A count only grows: past an upper limit, it stays past.
		if upper && !compare(m, t.Op, t.limit) {
			return fmt.Sprintf("%d counted already", c.Matched), true
		}
		if !upper && remaining >= 0 && !compare(m+float64(remaining), t.Op, t.limit) {
			return fmt.Sprintf("%d counted, and at most %d requests to come", c.Matched, remaining), true
		}
		return "", false
	}
	limit := t.limit / 100
	if remaining >= 0 {
		most := n + float64(remaining)
		// The best the rest can do: none of it counted (upper limit), or
		// all of it (lower limit).
		best := m / most
		if !upper {
			best = (m + float64(remaining)) / most
		}
		if most > 0 && !compare(best*100, t.Op, t.limit) {
			return fmt.Sprintf("%d of %d requests so far, at most %d more: the share cannot come back within %s",
				c.Matched, c.Of, remaining, t.text), true
		}
	}
	if n < MinSamples {
		return "", false
	}
	if upper && wilsonLow(m, n) > limit || !upper && wilsonHigh(m, n) < limit {
		return fmt.Sprintf("%d of %d requests (%.2f%%): past %s with 99.9%% confidence", c.Matched, c.Of, 100*m/n, t.text), true
	}
	return "", false
}

// wilsonLow and wilsonHigh bound the share m/n with 99.9% confidence, one
// side each (Wilson's score interval, which holds for shares near 0 and 1).
func wilsonLow(m, n float64) float64  { c, h := wilson(m, n); return c - h }
func wilsonHigh(m, n float64) float64 { c, h := wilson(m, n); return c + h }

func wilson(m, n float64) (center, half float64) {
	p := m / n
	d := 1 + z*z/n
	center = (p + z*z/(2*n)) / d
	half = z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / d
	return center, half
}
