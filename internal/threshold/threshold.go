// Package threshold judges a load test's outcome: threshold expressions
// such as "p99<250ms", "errors<1%" or "login:p95<100ms", their verdicts on
// a [report.Summary], whether a run still going has already failed one
// beyond doubt, and JUnit XML for CI systems.
//
// A verdict is a pure function of a Summary, so a merge of saved runs (of
// several machines, say) is judged exactly as one run holding all their
// requests would be.
//
// The grammar is [TARGET:]MEASURE OP VALUE, with OP one of <, <=, >, >=,
// ==, and MEASURE one of:
//
//	pN        the response time at percentile N: p50, p99, p99.9, p99.99  VALUE: a duration (250ms, 1s, 500us)
//	mean min max                                                           VALUE: a duration
//	errors    failed requests (no response)                                VALUE: a share (1%) or a count (10)
//	statusNxx responses of a status class, e.g. status5xx; or of one code, status503  VALUE: a share or a count
//	rps       requests per second (a target's: its share of the run's)     VALUE: a number
//	achieved  the achieved rate as a share of the open model's target     VALUE: a share (99%)
//	late      requests sent late in the open model                         VALUE: a share or a count
//
// Shares are of all requests (of the target's, for a target), but for the
// latencies, which are of the answered requests. TARGET is a target's
// name as the report shows it; achieved and late are the run's only.
package threshold

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A Threshold is one parsed threshold expression.
type Threshold struct {
	// Expr is the expression as given.
	Expr string
	// Target is the target name it judges; "" for the whole run.
	Target string
	// Measure is the measure's name as written: "p99", "errors", "status5xx".
	Measure string
	// Op is the comparison: "<", "<=", ">", ">=" or "==".
	Op string

	kind     kind
	q        float64       // kindPercentile: the percentile, 0-100
	lo, hi   int           // kindStatus: the codes counted
	limit    float64       // in the measure's unit: ms for a duration, % for a share, or a count, or req/s
	duration time.Duration // the limit of a latency
	share    bool          // the limit is a share (%), not a count
	text     string        // the limit as written
}

type kind uint8

const (
	kindPercentile kind = iota
	kindMean
	kindMin
	kindMax
	kindErrors
	kindStatus
	kindRPS
	kindAchieved
	kindLate
)

// latency reports whether the measure is a response time.
func (k kind) latency() bool { return k <= kindMax }

// exprRE is a threshold's syntax: [name:] measure op value. It is
// compiled on first use, not at start, where every gather command would
// pay for it (see docs/fetch.md, where the memory goes).
var exprRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:(.+):)?\s*([A-Za-z][A-Za-z0-9_.]*)\s*(<=|>=|==|<|>)\s*(.*?)\s*$`)
})

// measures lists what MEASURE may be, for error messages.
const measures = "pN (p99, p99.9), mean, min, max, errors, statusNxx (status5xx) or statusNNN, rps, achieved, late"

// Parse parses one threshold expression. Its error names the expression
// and what was expected.
func Parse(expr string) (Threshold, error) {
	bad := func(format string, args ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("threshold %q: %s", expr, fmt.Sprintf(format, args...))
	}
	m := exprRE().FindStringSubmatch(expr)
	if m == nil {
		return bad("want [TARGET:]MEASURE OP VALUE, such as p99<250ms or login:errors<1%%, with OP one of <, <=, >, >=, ==")
	}
	t := Threshold{Expr: expr, Target: strings.TrimSpace(m[1]), Measure: m[2], Op: m[3], text: m[4]}
	if m[1] != "" && t.Target == "" {
		return bad("an empty target name before the colon")
	}
	name := strings.ToLower(t.Measure)
	switch {
	case name == "mean":
		t.kind = kindMean
	case name == "min":
		t.kind = kindMin
	case name == "max":
		t.kind = kindMax
	case name == "errors":
		t.kind = kindErrors
	case name == "rps":
		t.kind = kindRPS
	case name == "achieved":
		t.kind = kindAchieved
	case name == "late":
		t.kind = kindLate
	case strings.HasPrefix(name, "p") && len(name) > 1:
		q, err := strconv.ParseFloat(name[1:], 64)
		if err != nil || !(q > 0 && q <= 100) || strings.ContainsAny(name[1:], "eE+-") {
			return bad("percentile %q: want p and a number above 0 and up to 100, such as p99 or p99.9", t.Measure)
		}
		t.kind, t.q = kindPercentile, q
	case strings.HasPrefix(name, "status"):
		lo, hi, ok := statusRange(name[len("status"):])
		if !ok {
			return bad("%q: want a status class such as status5xx, or a code such as status503", t.Measure)
		}
		t.kind, t.lo, t.hi = kindStatus, lo, hi
	default:
		return bad("unknown measure %q (want %s)", t.Measure, measures)
	}
	if t.Target != "" && (t.kind == kindAchieved || t.kind == kindLate) {
		return bad("%s is the whole run's; it has no value per target", t.Measure)
	}
	v := t.text
	if v == "" {
		return bad("no value after %s", t.Op)
	}
	switch {
	case t.kind.latency():
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return bad("want a duration with a unit after %s, such as 250ms or 1.5s; got %q", t.Op, v)
		}
		t.duration, t.limit = d, float64(d)/float64(time.Millisecond)
	case t.kind == kindRPS:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return bad("want a rate in requests per second after %s, such as 1000; got %q", t.Op, v)
		}
		t.limit = f
	default:
		num, isShare := strings.CutSuffix(v, "%")
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		switch {
		case err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f):
			return bad("want a share such as 1%% or 0.1%%, or a count such as 10, after %s; got %q", t.Op, v)
		case isShare && f > 100:
			return bad("a share above 100%%: %q", v)
		case t.kind == kindAchieved && !isShare:
			return bad("achieved is a share of the target rate: want a percentage such as 99%%, got %q", v)
		case !isShare && f != math.Trunc(f):
			return bad("a count is a whole number; for a share write %s%%", v)
		}
		t.limit, t.share = f, isShare
	}
	return t, nil
}

// statusRange reads "5xx" (500-599) or "503".
func statusRange(s string) (lo, hi int, ok bool) {
	if len(s) != 3 || s[0] < '1' || s[0] > '5' {
		return 0, 0, false
	}
	if s[1:] == "xx" {
		lo = int(s[0]-'0') * 100
		return lo, lo + 99, true
	}
	code, err := strconv.Atoi(s)
	if err != nil {
		return 0, 0, false
	}
	return code, code, true
}

// ParseAll parses each expression, stopping at the first error.
func ParseAll(exprs []string) ([]Threshold, error) {
	ts := make([]Threshold, 0, len(exprs))
	for _, e := range exprs {
		t, err := Parse(e)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// compare reports whether v op limit holds.
func compare(v float64, op string, limit float64) bool {
	switch op {
	case "<":
		return v < limit
	case "<=":
		return v <= limit
	case ">":
		return v > limit
	case ">=":
		return v >= limit
	}
	return v == limit
}

// compareDurations is compare for durations, exact to the nanosecond.
func compareDurations(v time.Duration, op string, limit time.Duration) bool {
	switch op {
	case "<":
		return v < limit
	case "<=":
		return v <= limit
	case ">":
		return v > limit
	case ">=":
		return v >= limit
	}
	return v == limit
}
