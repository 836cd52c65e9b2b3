package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A Verdict is one threshold's outcome, as the text and JSON reports show
// it. The threshold package judges a Summary and makes them; report only
// renders them.
type Verdict struct {
	// Expr is the threshold as given: "p99<250ms", "login:errors<1%".
	Expr string
	// Target is the target name it judges; "" for the whole run.
	Target string
	// Metric and Op are its parts: "p99" and "<".
	Metric, Op string
	// Limit and Value are the limit and the measured value in Unit
	// ("ms", "%", "req/s", or "" for a count); Value is NaN when there was
	// nothing to measure (no responses).
	Limit, Value float64
	Unit         string
	// Measured says what was measured, for people: "12.345 ms",
	// "3.20% (32 of 1000)", "no responses".
	Measured string
	// Pass reports whether the threshold held.
	Pass bool
}

// Failed returns the verdicts that did not pass.
func Failed(vs []Verdict) []Verdict {
	var f []Verdict
	for _, v := range vs {
		if !v.Pass {
			f = append(f, v)
		}
	}
	return f
}

// writeThresholds writes the Thresholds block, if there are thresholds.
func (s *Summary) writeThresholds(p func(string, ...any)) {
	if len(s.Thresholds) == 0 {
		return
	}
	p("")
	failed := len(Failed(s.Thresholds))
	if failed == 0 {
		p("Thresholds     all %d passed", len(s.Thresholds))
	} else {
		p("Thresholds     %d of %d failed", failed, len(s.Thresholds))
	}
	width := 0
	for _, v := range s.Thresholds {
		width = max(width, len([]rune(v.Expr)))
	}
	width = min(width, 40)
	for _, v := range s.Thresholds {
		mark := "pass"
		if !v.Pass {
			mark = "FAIL"
		}
		expr := v.Expr
		if len([]rune(expr)) > width {
			p("  %s  %s", mark, expr) // a long one gets a line of its own
			p("        %-*s  %s", width, "", v.Measured)
			continue
		}
		p("  %s  %-*s  %s", mark, width, expr, v.Measured)
	}
}

type jsonVerdict struct {
	Expr     string   `json:"expr"`
	Target   string   `json:"target"`
	Metric   string   `json:"metric"`
	Op       string   `json:"op"`
	Limit    float64  `json:"limit"`
	Value    *float64 `json:"value"` // null: nothing to measure
	Unit     string   `json:"unit"`
	Measured string   `json:"measured"`
	Pass     bool     `json:"pass"`
}

func (s *Summary) thresholdsJSON() []jsonVerdict {
	out := []jsonVerdict{}
	for _, v := range s.Thresholds {
		j := jsonVerdict{Expr: v.Expr, Target: v.Target, Metric: v.Metric, Op: v.Op, Limit: v.Limit,
			Unit: v.Unit, Measured: v.Measured, Pass: v.Pass}
		if !math.IsNaN(v.Value) && !math.IsInf(v.Value, 0) {
			val := v.Value
			j.Value = &val
		}
		out = append(out, j)
	}
	return out
}

// nameWidth is the width of the name column of the per-target table.
const nameWidth = 26

// writeTargets writes the per-target table, when there are two rows or
// more: one row is the run's totals again.
func (s *Summary) writeTargets(p func(string, ...any)) {
	if len(s.Targets) < 2 {
		return
	}
	p("")
	p("Targets        %d names", len(s.Targets))
	p("  %-*s %9s %7s %9s %9s %9s", nameWidth, "name", "requests", "errors", "p50 ms", "p99 ms", "max ms")
	for _, t := range s.Targets {
		l := t.Response()
		p("  %-*s %9d %6.2f%% %9.3f %9.3f %9.3f", nameWidth, clipName(t.Name, nameWidth), t.Requests,
			percent(t.Errors, t.Requests), ms(l.P50), ms(l.P99), ms(l.Max))
	}
	p("")
	p("Status codes and errors by target")
	for _, t := range s.Targets {
		var parts []string
		codes := make([]int, 0, len(t.Status))
		for code, n := range t.Status {
			if n != 0 {
				codes = append(codes, code)
			}
		}
		slices.Sort(codes)
		for _, code := range codes {
			name := strconv.Itoa(code)
			if code == 0 {
				name = "other"
			}
			parts = append(parts, fmt.Sprintf("%s: %d", name, t.Status[code]))
		}
		for k := ErrNone + 1; k < numErrorKinds; k++ {
			if n := t.ErrorKinds[k]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s: %d", k, n))
			}
		}
		if len(parts) == 0 {
			parts = []string{"none"}
		}
		// The parts fill lines of up to 80 columns, under the name column.
		line := fmt.Sprintf("  %-*s", nameWidth, clipName(t.Name, nameWidth))
		indent := strings.Repeat(" ", nameWidth+2)
		fresh := true
		for _, part := range parts {
			if !fresh && len([]rune(line))+2+len(part) > 80 {
				p("%s", line)
				line, fresh = indent, true
			}
			if fresh {
				line += " " + part
			} else {
				line += "  " + part
			}
			fresh = false
		}
		p("%s", line)
	}
}

// clipName shortens a name to n columns, keeping its end, where paths
// differ.
func clipName(name string, n int) string {
	r := []rune(name)
	if len(r) <= n {
		return name
	}
	return "…" + string(r[len(r)-n+1:])
}

type jsonTarget struct {
	Name         string        `json:"name"`
	Requests     int64         `json:"requests"`
	Errors       int64         `json:"errors"`
	ErrorsByKind orderedCounts `json:"errors_by_kind"`
	Bytes        int64         `json:"bytes"`
	Status       orderedCounts `json:"status"`
	Response     jsonLatency   `json:"response"`
}

func (s *Summary) targetsJSON() []jsonTarget {
	out := []jsonTarget{}
	for _, t := range s.Targets {
		out = append(out, jsonTarget{
			Name: t.Name, Requests: t.Requests, Errors: t.Errors,
			ErrorsByKind: kindCounts(&t.ErrorKinds), Bytes: t.Bytes,
			Status: statusCounts(t.Status), Response: latencyJSON(t.Response()),
		})
	}
	return out
}
