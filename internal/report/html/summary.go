package html

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// summarize returns the summary tables of the runs, one column each, in
// the text report's words and units.
func summarize(runs []*report.Summary, service bool) []section {
	col := func(f func(s *report.Summary) string) []string {
		out := make([]string, len(runs))
		for i, s := range runs {
			out[i] = f(s)
		}
		return out
	}
	some := func(f func(s *report.Summary) bool) bool { return slices.ContainsFunc(runs, f) }

	run := section{Title: "Run"}
	add := func(sec *section, label string, f func(s *report.Summary) string) {
		sec.Rows = append(sec.Rows, row{Label: label, Values: col(f)})
	}
	add(&run, "Target", func(s *report.Summary) string { return s.Method + " " + s.Target })
	add(&run, "Model", func(s *report.Summary) string {
		if s.Open() {
			return fmt.Sprintf("open: %.1f req/s over %s", s.Rate, plural(s.Connections, "connection"))
		}
		return "closed: " + plural(s.Connections, "connection")
	})
	if some(func(s *report.Summary) bool { return s.Runs > 1 }) {
		add(&run, "Runs", func(s *report.Summary) string { return fmt.Sprint(s.Runs) })
	}
	add(&run, "Start", func(s *report.Summary) string {
		if s.Start.IsZero() {
			return "unknown"
		}
		return s.Start.UTC().Format("2006-01-02 15:04:05.000 UTC")
	})
	add(&run, "Elapsed", func(s *report.Summary) string {
		if s.Elapsed < time.Second {
			return fmt.Sprintf("%.3f ms", ms(s.Elapsed))
		}
		return fmt.Sprintf("%.3f s", s.Elapsed.Seconds())
	})
	if some(func(s *report.Summary) bool { return s.Interrupted }) {
		add(&run, "Interrupted", func(s *report.Summary) string { return yesNo(s.Interrupted) })
	}
	add(&run, "Requests", func(s *report.Summary) string { return fmt.Sprint(s.Requests) })
	add(&run, "Requests/s", func(s *report.Summary) string { return fmt.Sprintf("%.1f", s.RequestsPerSecond()) })
	add(&run, "Transferred", func(s *report.Summary) string {
		return fmt.Sprintf("%s (%s/s)", report.FormatBytes(float64(s.Bytes)), report.FormatBytes(s.BytesPerSecond()))
	})
	add(&run, "Errors", func(s *report.Summary) string { return countShare(s.Errors, s.Requests) })
	add(&run, "Non-2xx answers", func(s *report.Summary) string { return countShare(s.Non2xx(), s.Requests) })
	if some((*report.Summary).Open) {
		add(&run, "Late", func(s *report.Summary) string { return countShare(s.Late, s.Requests) })
		add(&run, "Dropped", func(s *report.Summary) string { return fmt.Sprint(s.Dropped) })
	}
	sections := []section{run}

	latency := func(title string, of func(s *report.Summary) report.Latency) section {
		sec := section{Title: title}
		for _, p := range []struct {
			label string
			get   func(l report.Latency) time.Duration
		}{
			{"p50", func(l report.Latency) time.Duration { return l.P50 }},
			{"p90", func(l report.Latency) time.Duration { return l.P90 }},
			{"p95", func(l report.Latency) time.Duration { return l.P95 }},
			{"p99", func(l report.Latency) time.Duration { return l.P99 }},
			{"p99.9", func(l report.Latency) time.Duration { return l.P999 }},
			{"max", func(l report.Latency) time.Duration { return l.Max }},
			{"mean", func(l report.Latency) time.Duration { return l.Mean }},
		} {
			add(&sec, p.label, func(s *report.Summary) string {
				l := of(s)
				if l.Count == 0 {
					return "no data"
				}
				return msText(p.get(l))
			})
		}
		return sec
	}
	sections = append(sections, latency("Response time (ms)", (*report.Summary).Response))
	if service {
		sections = append(sections, latency("Service time (ms)", (*report.Summary).Service))
	}

	status := section{Title: "Status codes"}
	var codes []int
	for _, s := range runs {
		for code, n := range s.Status {
			if n > 0 && !slices.Contains(codes, code) {
				codes = append(codes, code)
			}
		}
	}
	slices.Sort(codes)
	for _, code := range codes {
		label := fmt.Sprint(code)
		if code == 0 {
			label = "other"
		}
		add(&status, label, func(s *report.Summary) string { return fmt.Sprint(s.Status[code]) })
	}
	if len(codes) > 0 {
		sections = append(sections, status)
	}

	errs := section{Title: "Errors by kind"}
	for k := 1; k < report.NumErrorKinds; k++ {
		if some(func(s *report.Summary) bool { return s.ErrorKinds[k] > 0 }) {
			add(&errs, report.ErrorKind(k).String(), func(s *report.Summary) string {
				n := s.ErrorKinds[k]
				if msgs := s.ErrorSamples(report.ErrorKind(k)); n > 0 && len(msgs) > 0 {
					return fmt.Sprintf("%d (e.g. %s)", n, msgs[0])
				}
				return fmt.Sprint(n)
			})
		}
	}
	if len(errs.Rows) > 0 {
		sections = append(sections, errs)
	}

	gen := section{Title: "Generator"}
	if some(func(s *report.Summary) bool { return s.Generator.Engine != "" }) {
		add(&gen, "Engine", func(s *report.Summary) string { return s.Generator.Engine })
	}
	add(&gen, "Target rate", func(s *report.Summary) string {
		if s.Generator.TargetRate > 0 {
			return fmt.Sprintf("%.1f req/s", s.Generator.TargetRate)
		}
		return "none (closed model)"
	})
	add(&gen, "Achieved rate", func(s *report.Summary) string { return fmt.Sprintf("%.1f req/s", s.Generator.AchievedRate) })
	add(&gen, "Send lag", func(s *report.Summary) string {
		if s.Generator.TargetRate > 0 {
			return fmt.Sprintf("p99 %s ms, max %s ms", msText(s.Generator.SendLagP99), msText(s.Generator.SendLagMax))
		}
		return "none (closed model)"
	})
	add(&gen, "GC pause total", func(s *report.Summary) string { return msText(s.Generator.GCPause) + " ms" })
	add(&gen, "CPU", func(s *report.Summary) string {
		if s.Generator.CPU <= 0 {
			return "unknown"
		}
		return fmt.Sprintf("%.3f s, %.2f µs per request", s.Generator.CPU.Seconds(),
			float64(s.CPUPerRequest())/float64(time.Microsecond))
	})
	if some(func(s *report.Summary) bool { return len(s.Generator.Warnings) > 0 || s.Generator.Bound }) {
		add(&gen, "Warnings", func(s *report.Summary) string {
			w := slices.Clone(s.Generator.Warnings)
			if s.Generator.Bound && len(w) == 0 {
				w = append(w, "the generator, not the server, was the bottleneck")
			}
			return strings.Join(w, "; ")
		})
	}
	if some(func(s *report.Summary) bool { return len(s.MergeWarnings) > 0 }) {
		add(&gen, "Merge warnings", func(s *report.Summary) string { return strings.Join(s.MergeWarnings, "; ") })
	}
	sections = append(sections, gen)

	// Thresholds: a row per expression, in the order first seen.
	th := section{Title: "Thresholds"}
	var exprs []string
	for _, s := range runs {
		for _, v := range s.Thresholds {
			if !slices.Contains(exprs, v.Expr) {
				exprs = append(exprs, v.Expr)
			}
		}
	}
	for _, e := range exprs {
		r := row{Label: e, Values: make([]string, len(runs))}
		for i, s := range runs {
			for _, v := range s.Thresholds {
				if v.Expr == e {
					mark := "pass"
					if !v.Pass {
						mark, r.Fail = "FAIL", true
					}
					r.Values[i] = mark + ": " + v.Measured
				}
			}
		}
		th.Rows = append(th.Rows, r)
	}
	if len(th.Rows) > 0 {
		sections = append(sections, th)
	}
	return sections
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func msText(d time.Duration) string { return fmt.Sprintf("%.3f", ms(d)) }

// countShare writes n and its share of all: "12 (1.20%)".
func countShare(n, all int64) string {
	if all == 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d (%.2f%%)", n, 100*float64(n)/float64(all))
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n)/d.Seconds())
}

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
