package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// An SLO is what a capacity search holds each rate to; a zero field sets
// no bound. At least one must be set.
type SLO struct {
	// P99 bounds the 99th percentile of the response time, from each
	// request's due time: the latency a user would have seen, waiting for
	// a busy server included.
	P99 time.Duration
	// ErrorRate bounds the share of requests that failed or were answered
	// with a 5xx status, from 0 to 1.
	ErrorRate float64
}

// A Search says how [FindMax] steps the rate.
type Search struct {
	// Start is the first rate tried; 0 means 1000 req/s.
	Start float64
	// Hold is how long each rate is held; 0 means 10 s.
	Hold time.Duration
	// Precision ends the search once the rates that held and failed are
	// within this fraction of each other; 0 means 0.05.
	Precision float64
	// MaxSteps bounds the number of rates tried; 0 means 20.
	MaxSteps int
}

// A Step is one rate of a capacity search and its outcome.
type Step struct {
	Rate    float64
	Summary *report.Summary
	// Held reports that the rate met the SLO and the run kept its
	// schedule; Why says how it failed otherwise, or why the search
	// stopped there.
	Held bool
	Why  string
}

// A Capacity is the outcome of [FindMax].
type Capacity struct {
	SLO   SLO
	Steps []Step
	// Max is the highest rate that held, 0 if none did; Why says why the
	// search ended where it did.
	Max float64
	Why string
}

// ErrNoSLO is the error of a capacity search without a bound.
var ErrNoSLO = errors.New("loadgen: a capacity search needs an SLO: a p99 bound, an error-rate bound, or both")

// FindMax searches for the highest rate of the open model at which the
// target meets slo: it runs p at search.Start for search.Hold, doubles the
// rate while each step holds, then bisects between the highest rate that
// held and the lowest that failed until they are within search.Precision
// of each other. A step fails when its p99 (from the due times, so late
// requests count) or its error rate exceeds the SLO, or when it sent under
// 99% of its rate or dropped over 0.1% of its requests; a step that the
// generator or too few connections kept from sending its rate ends the
// search, since a higher rate could not be judged either, and Why says
// so. onStep, if
// set, is called after each step. Each step is a run of its own: its
// connections are opened anew, a few milliseconds at its start.
//
// The error is non-nil only if the plan cannot run (see [Run]); ctx ending
// stops the search with the steps done so far.
func FindMax(ctx context.Context, p *Plan, slo SLO, search Search, onStep func(Step)) (*Capacity, error) {
	switch {
	case slo.P99 <= 0 && slo.ErrorRate <= 0:
		return nil, ErrNoSLO
	case slo.P99 < 0 || slo.ErrorRate < 0 || slo.ErrorRate > 1 || math.IsNaN(slo.ErrorRate):
		return nil, fmt.Errorf("loadgen: bad SLO %+v", slo)
	case p.RateStages != nil || p.ConnectionStages != nil || p.Requests != 0:
		return nil, errors.New("loadgen: a capacity search sets its own rates and lengths: no stages or request count")
	}
	if search.Start <= 0 {
		search.Start = 1000
	}
	if search.Hold <= 0 {
		search.Hold = 10 * time.Second
	}
	if search.Precision <= 0 {
		search.Precision = 0.05
	}
	if search.MaxSteps <= 0 {
		search.MaxSteps = 20
	}
	c := &Capacity{SLO: slo}
	var failed float64 // the lowest rate that failed; 0 if none yet
	rate := search.Start
	for len(c.Steps) < search.MaxSteps {
		step := *p
		step.Rate, step.Duration = rate, search.Hold
		s, err := Run(ctx, &step)
		if err != nil {
			return nil, err
		}
		st := judgeStep(rate, s, slo)
		if ctx.Err() != nil {
			st.Held, st.Why = false, "interrupted"
		}
		c.Steps = append(c.Steps, st)
		if onStep != nil {
			onStep(st)
		}
		if ctx.Err() != nil {
			c.Why = "interrupted"
			return c, nil
		}
		if st.Held {
			c.Max = rate
		} else {
			// Nothing answered and nothing timed out (refused, not
			// HTTP, a bad certificate): no lower rate will do better.
			if s.Requests > 0 && s.Response().Count == 0 && s.ErrorKinds[report.ErrTimeout] == 0 {
				c.Why = fmt.Sprintf("the search stopped at %.1f req/s: %s", rate, st.Why)
				return c, nil
			}
			if l := s.Generator.Limit; strings.Contains(st.Why, "limited by") && (l == "generator" || l == "connections") {
				c.Why = fmt.Sprintf("the search stopped at %.1f req/s: %s", rate, st.Why)
				return c, nil
			}
			failed = rate
		}
		switch {
		case failed == 0:
			rate *= 2
		case c.Max == 0:
			rate = failed / 2
			if rate < 1 {
				c.Why = "no rate held, down to 1 req/s"
				return c, nil
			}
		default:
			if (failed-c.Max)/c.Max <= search.Precision {
				c.Why = fmt.Sprintf("%.1f req/s held and %.1f req/s failed: within %.0f%% of each other",
					c.Max, failed, 100*search.Precision)
				return c, nil
			}
			rate = (c.Max + failed) / 2
		}
	}
	c.Why = fmt.Sprintf("stopped after %d steps", search.MaxSteps)
	return c, nil
}

// judgeStep says whether a step's run held: it met the SLO and kept its
// schedule.
func judgeStep(rate float64, s *report.Summary, slo SLO) Step {
	st := Step{Rate: rate, Summary: s, Held: true}
	var why []string
	p99 := s.Response().P99
	switch {
	case s.Response().Count == 0:
		// No p99 to judge: say why, not "p99 0 ms > the bound".
		why = append(why, "no request was answered"+failedKinds(s))
	case slo.P99 > 0 && p99 > slo.P99:
		why = append(why, fmt.Sprintf("p99 %.3f ms > %.3f ms", ms(p99), ms(slo.P99)))
	}
	if slo.ErrorRate > 0 {
		var server int64
		for code, n := range s.Status {
			if code >= 500 {
				server += n
			}
		}
		if s.Requests > 0 {
			if e := float64(s.Errors+server) / float64(s.Requests); e > slo.ErrorRate {
				why = append(why, fmt.Sprintf("errors %.2f%% > %.2f%%", 100*e, 100*slo.ErrorRate))
			}
		}
	}
	// Late requests are in the p99 already (it runs from the due times);
	// what the SLO cannot see is a rate not sent, or sent only in part.
	g := s.Generator
	due := float64(s.Requests + s.Dropped)
	if g.AchievedRate < 0.99*g.TargetRate || float64(s.Dropped) > 0.001*due {
		why = append(why, fmt.Sprintf("sent %.1f req/s of %.1f, %d dropped", g.AchievedRate, g.TargetRate, s.Dropped))
		if g.Limit != "" {
			why[len(why)-1] += ", limited by the " + g.Limit
		}
	}
	if len(why) > 0 {
		st.Held = false
		st.Why = why[0]
		for _, w := range why[1:] {
			st.Why += "; " + w
		}
	}
	return st
}

// failedKinds returns ": 998 failed, refused", naming the commonest kind
// of failure of s, or "" if none failed.
func failedKinds(s *report.Summary) string {
	if s.Errors == 0 {
		return ""
	}
	var top report.ErrorKind
	for k, n := range s.ErrorKinds {
		if n > s.ErrorKinds[top] {
			top = report.ErrorKind(k)
		}
	}
	return fmt.Sprintf(": %d failed, most %s", s.Errors, top)
}
