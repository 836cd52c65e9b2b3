package threshold

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// Validate reports a threshold that cannot be judged on a run: one naming
// a target the run does not have (names are the report's target names;
// nil means the run kept none), or one of the open model's measures on a
// closed-model run. Call it before the run, so that a typo is a usage
// error rather than a failed verdict after the load.
func Validate(ts []Threshold, open bool, names []string) error {
	for _, t := range ts {
		if (t.kind == kindAchieved || t.kind == kindLate) && !open {
			return fmt.Errorf("threshold %q: %s is a measure of the open model (-q); this run is closed", t.Expr, t.Measure)
		}
		if t.Target == "" || slices.Contains(names, t.Target) {
			continue
		}
		if len(names) == 0 {
			return fmt.Errorf("threshold %q: the run has no per-target rows to judge %q by", t.Expr, t.Target)
		}
		if slices.Contains(names, report.OtherTarget) {
			return fmt.Errorf("threshold %q: no target is named %q among the first %d names (the others are counted as %s)",
				t.Expr, t.Target, report.MaxTargetRows-1, report.OtherTarget)
		}
		return fmt.Errorf("threshold %q: no target is named %q (the names are %s)", t.Expr, t.Target, quoteList(names))
	}
	return nil
}

func quoteList(names []string) string {
	q := make([]string, 0, min(len(names), 10))
	for _, n := range names[:min(len(names), 10)] {
		q = append(q, fmt.Sprintf("%q", n))
	}
	if len(names) > 10 {
		q = append(q, fmt.Sprintf("and %d more", len(names)-10))
	}
	return strings.Join(q, ", ")
}

// Names returns the target names of s's rows, for Validate.
func Names(s *report.Summary) []string {
	var names []string
	for _, t := range s.Targets {
		names = append(names, t.Name)
	}
	return names
}

// Evaluate judges each threshold on s and returns the verdicts, in order.
// It reads s only. A threshold with nothing to measure (a latency without
// responses, a share of no requests, achieved in the closed model, a
// target s has no row for) fails, and says why.
func Evaluate(ts []Threshold, s *report.Summary) []report.Verdict {
	vs := make([]report.Verdict, len(ts))
	for i, t := range ts {
		vs[i] = t.Evaluate(s)
	}
	return vs
}

// scope is what a threshold measures: the run's totals or a target's.
type scope struct {
	requests, errors int64
	status           map[int]int64
	latency          report.Latency
	at               func(q float64) time.Duration
	rps              float64
}

func scopeOf(s *report.Summary, target string) (*scope, bool) {
	if target == "" {
		return &scope{requests: s.Requests, errors: s.Errors, status: s.Status,
			latency: s.Response(), at: s.ResponseAt, rps: s.RequestsPerSecond()}, true
	}
	t := s.TargetNamed(target)
	if t == nil {
		return nil, false
	}
	sc := &scope{requests: t.Requests, errors: t.Errors, status: t.Status, latency: t.Response(), at: t.ResponseAt}
	if s.Requests > 0 {
		// A target's rate is its share of the run's: exact for one run,
		// and for merged runs consistent with their summed rates.
		sc.rps = s.RequestsPerSecond() * float64(t.Requests) / float64(s.Requests)
	}
	return sc, true
}

// Evaluate judges t on s.
func (t Threshold) Evaluate(s *report.Summary) report.Verdict {
	v := report.Verdict{Expr: t.Expr, Target: t.Target, Metric: t.Measure, Op: t.Op, Limit: t.limit, Value: math.NaN()}
	fail := func(why string) report.Verdict {
		v.Measured, v.Pass = why, false
		return v
	}
	sc, ok := scopeOf(s, t.Target)
	if !ok {
		return fail(fmt.Sprintf("no target named %q in the run", t.Target))
	}
	switch {
	case t.kind.latency():
		v.Unit = "ms"
		if sc.latency.Count == 0 {
			return fail("no responses")
		}
		var d time.Duration
		switch t.kind {
		case kindPercentile:
			d = sc.at(t.q)
		case kindMean:
			d = sc.latency.Mean
		case kindMin:
			d = sc.latency.Min
		case kindMax:
			d = sc.latency.Max
		}
		v.Value = float64(d) / float64(time.Millisecond)
		v.Measured = fmt.Sprintf("%.3f ms", v.Value)
		v.Pass = compareDurations(d, t.Op, t.duration)
		return v
	case t.kind == kindRPS:
		v.Unit, v.Value = "req/s", sc.rps
		v.Measured = fmt.Sprintf("%.1f req/s", sc.rps)
		v.Pass = compare(sc.rps, t.Op, t.limit)
		return v
	case t.kind == kindAchieved:
		v.Unit = "%"
		g := s.Generator
		if g.TargetRate <= 0 {
			return fail("no target rate (closed model)")
		}
		v.Value = 100 * g.AchievedRate / g.TargetRate
		v.Measured = fmt.Sprintf("%.2f%% (%.1f of %.1f req/s)", v.Value, g.AchievedRate, g.TargetRate)
		v.Pass = compare(v.Value, t.Op, t.limit)
		return v
	}
	var n int64
	switch t.kind {
	case kindErrors:
		n = sc.errors
	case kindLate:
		n = s.Late
	case kindStatus:
		for code, c := range sc.status {
			if t.lo <= code && code <= t.hi {
				n += c
			}
		}
	}
	if !t.share {
		v.Value = float64(n)
		v.Measured = fmt.Sprint(n)
		v.Pass = compare(v.Value, t.Op, t.limit)
		return v
	}
	v.Unit = "%"
	if sc.requests == 0 {
		return fail("no requests")
	}
	v.Value = 100 * float64(n) / float64(sc.requests)
	v.Measured = fmt.Sprintf("%.2f%% (%d of %d)", v.Value, n, sc.requests)
	// Compare counts, not rounded shares: n < 1% of requests exactly.
	v.Pass = compare(float64(n)*100, t.Op, t.limit*float64(sc.requests))
	return v
}
