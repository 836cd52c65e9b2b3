package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/loadgen"
)

// findMaxFlags are bench's flags for the capacity search.
type findMaxFlags struct {
	on        bool
	p99       time.Duration
	errors    string
	precision float64
	flags     *pflag.FlagSet
}

func (f *findMaxFlags) register(fl *pflag.FlagSet) {
	f.flags = fl
	fl.BoolVar(&f.on, "find-max", false, "search for the highest rate that meets the SLO (--slo-p99, --slo-errors): from -q (1000), each rate held for -z (10s)")
	fl.DurationVar(&f.p99, "slo-p99", 0, "with --find-max: the p99 response time a rate must stay under")
	fl.StringVar(&f.errors, "slo-errors", "", "with --find-max: the share of failed or 5xx requests a rate must stay under, as 1% or 0.01")
	fl.Float64Var(&f.precision, "find-precision", 0.05, "with --find-max: stop once the rates that held and failed are this close (0.05: 5%)")
}

// search checks the flags and returns the SLO and the search; every
// error is a usage error.
func (f *findMaxFlags) search(b *benchFlags, nSet bool) (loadgen.SLO, loadgen.Search, error) {
	var slo loadgen.SLO
	var s loadgen.Search
	changed := func(names ...string) string {
		for _, n := range names {
			if f.flags.Changed(n) {
				return n
			}
		}
		return ""
	}
	if !f.on {
		if n := changed("slo-p99", "slo-errors", "find-precision"); n != "" {
			return slo, s, usagef("bench: --%s goes with --find-max", n)
		}
		return slo, s, nil
	}
	switch {
	case f.p99 < 0:
		return slo, s, usagef("bench: --slo-p99 must be positive, got %v", f.p99)
	case f.p99 == 0 && f.errors == "":
		return slo, s, usagef("bench: --find-max needs an SLO: --slo-p99, --slo-errors or both")
	case nSet:
		return slo, s, usagef("bench: --find-max holds each rate for -z, not a request count: drop -n")
	case b.pace.staged():
		return slo, s, usagef("bench: --find-max sets its own rates: drop --stage")
	case b.save != "" || b.series.hlog != "" || b.view.html != "":
		return slo, s, usagef("bench: --find-max reports its steps: --save, --hlog and --html are for one run (run the rate it finds with them)")
	case len(b.thresholds.exprs) > 0 || b.thresholds.junit != "" || b.thresholds.abort:
		return slo, s, usagef("bench: --find-max judges each step by its SLO: --threshold, --junit and --abort-on-fail are for one run (run the rate it finds with them)")
	case b.push.prometheus != "" || b.push.otlp != "":
		return slo, s, usagef("bench: --find-max does not stream its steps: --prometheus and --otlp are for one run")
	case b.view.tui:
		return slo, s, usagef("bench: --find-max has no live view: it prints each step as it ends (drop --tui)")
	case b.segment.startAt != "":
		// Every step would count its schedule from the same instant, the
		// second one already over when it starts.
		return slo, s, usagef("bench: --find-max runs its steps one after another: not with --start-at")
	case f.precision <= 0 || f.precision >= 1 || math.IsNaN(f.precision):
		return slo, s, usagef("bench: --find-precision must be between 0 and 1, got %v", f.precision)
	}
	slo.P99 = f.p99
	if f.errors != "" {
		v, err := parseShare(f.errors)
		if err != nil {
			return slo, s, usagef("bench: --slo-errors %q: %v", f.errors, err)
		}
		slo.ErrorRate = v
	}
	s.Start, s.Hold, s.Precision = b.rate, b.duration, f.precision
	return slo, s, nil
}

// parseShare parses "1%" or "0.01" as 0.01: a share from 0 to 1.
func parseShare(text string) (float64, error) {
	t, percent := strings.CutSuffix(strings.TrimSpace(text), "%")
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) {
		return 0, fmt.Errorf("want a share such as 1%% or 0.01")
	}
	if percent {
		v /= 100
	}
	if v <= 0 || v > 1 {
		return 0, fmt.Errorf("want a share above 0%% and at most 100%%")
	}
	return v, nil
}

// runFindMax runs the capacity search and writes its steps as they end,
// then the verdict. No rate that held is exit status 1; Ctrl-C, 130.
func runFindMax(cmd *cobra.Command, f *benchFlags, plan *loadgen.Plan) error {
	slo, search, err := f.findMax.search(f, cmd.Flags().Changed("requests"))
	if err != nil {
		return err
	}
	if search.Hold == 0 {
		search.Hold = 10 * time.Second
	}
	if search.Start == 0 {
		search.Start = 1000
	}
	plan.Duration, plan.Requests = 0, 0
	ctx := cmd.Context()
	out := &checkedWriter{w: cmd.OutOrStdout()}
	text := f.output != "json"
	first := true
	c, err := loadgen.FindMax(ctx, plan, slo, search, func(st loadgen.Step) {
		if !text {
			return
		}
		if first {
			first = false
			// The first step's run knows the target, whatever gave it.
			fmt.Fprintf(out, "Find max       %s %s\n", st.Summary.Method, st.Summary.Target)
			fmt.Fprintf(out, "SLO            %s\n", sloText(slo))
			fmt.Fprintf(out, "Steps          %v each over %s, from %.1f req/s\n\n", search.Hold, connectionsText(plan.Connections), search.Start)
			fmt.Fprintf(out, "%12s %12s %10s %10s %8s %8s %8s  %s\n", "rate/s", "sent/s", "p50 ms", "p99 ms", "errors", "late", "dropped", "held")
		}
		writeStep(out, st)
	})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if text {
		fmt.Fprintln(out)
		if c.Max > 0 {
			fmt.Fprintf(out, "Highest rate that held: %.1f req/s\n", c.Max)
		} else {
			fmt.Fprintln(out, "No rate held.")
		}
		fmt.Fprintf(out, "Search ended: %s\n", c.Why)
	} else {
		// An encoding error (a NaN in a figure) is not out's: keep it.
		if err := writeCapacityJSON(out, c); err != nil && out.Err() == nil {
			return fmt.Errorf("bench: encoding the report: %w", err)
		}
	}
	if out.Err() != nil {
		return fmt.Errorf("bench: writing the report: %w", out.Err())
	}
	if status := interruptStatus(ctx); status != 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "gather: bench interrupted: the report covers the steps that finished")
		return status
	}
	if c.Max == 0 {
		return exitStatus(1)
	}
	return nil
}

func sloText(slo loadgen.SLO) string {
	var parts []string
	if slo.P99 > 0 {
		parts = append(parts, fmt.Sprintf("p99 <= %.3f ms", float64(slo.P99)/float64(time.Millisecond)))
	}
	if slo.ErrorRate > 0 {
		parts = append(parts, fmt.Sprintf("errors <= %.2f%%", 100*slo.ErrorRate))
	}
	return strings.Join(parts, ", ")
}

// stepFigures are what a step's row shows.
type stepFigures struct {
	sent, p50, p99, errors float64
	late, dropped          int64
}

func figures(st loadgen.Step) stepFigures {
	s := st.Summary
	r := s.Response()
	f := stepFigures{sent: s.Generator.AchievedRate, late: s.Late, dropped: s.Dropped,
		p50: float64(r.P50) / float64(time.Millisecond), p99: float64(r.P99) / float64(time.Millisecond)}
	if s.Requests > 0 {
		var server int64
		for code, n := range s.Status {
			if code >= 500 {
				server += n
			}
		}
		f.errors = float64(s.Errors+server) / float64(s.Requests)
	}
	return f
}

func writeStep(w io.Writer, st loadgen.Step) {
	f := figures(st)
	held := "yes"
	if !st.Held {
		held = "no: " + st.Why
	}
	fmt.Fprintf(w, "%12.1f %12.1f %10.3f %10.3f %7.2f%% %8d %8d  %s\n", st.Rate, f.sent, f.p50, f.p99, 100*f.errors, f.late, f.dropped, held)
}

// writeCapacityJSON writes the search as one JSON object:
//
//	{"slo": {"p99_ms": 50, "error_rate": 0.01},
//	 "steps": [{"rate_per_s": 1000, "sent_per_s": 1000.0, "p50_ms": 0.2,
//	   "p99_ms": 0.5, "error_rate": 0, "late": 0, "dropped": 0,
//	   "held": true, "why": ""}, ...],
//	 "max_rate_per_s": 4000, "why": "..."}
//
// with 0 for an SLO bound not set and max_rate_per_s 0 if no rate held.
func writeCapacityJSON(w io.Writer, c *loadgen.Capacity) error {
	type step struct {
		Rate      float64 `json:"rate_per_s"`
		Sent      float64 `json:"sent_per_s"`
		P50MS     float64 `json:"p50_ms"`
		P99MS     float64 `json:"p99_ms"`
		ErrorRate float64 `json:"error_rate"`
		Late      int64   `json:"late"`
		Dropped   int64   `json:"dropped"`
		Held      bool    `json:"held"`
		Why       string  `json:"why"`
	}
	v := struct {
		SLO struct {
			P99MS     float64 `json:"p99_ms"`
			ErrorRate float64 `json:"error_rate"`
		} `json:"slo"`
		Steps []step  `json:"steps"`
		Max   float64 `json:"max_rate_per_s"`
		Why   string  `json:"why"`
	}{Steps: []step{}, Max: c.Max, Why: c.Why}
	v.SLO.P99MS = float64(c.SLO.P99) / float64(time.Millisecond)
	v.SLO.ErrorRate = c.SLO.ErrorRate
	for _, st := range c.Steps {
		f := figures(st)
		v.Steps = append(v.Steps, step{Rate: st.Rate, Sent: f.sent, P50MS: f.p50, P99MS: f.p99,
			ErrorRate: f.errors, Late: f.late, Dropped: f.dropped, Held: st.Held, Why: st.Why})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func connectionsText(n int) string {
	if n == 1 {
		return "1 connection"
	}
	return strconv.Itoa(n) + " connections"
}
