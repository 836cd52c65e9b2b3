package main

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/loadgen"
)

// paceFlags are bench's flags for load profiles and the event loops'
// timers.
type paceFlags struct {
	stages       []string
	loopTimer    string
	loopSpin     time.Duration
	loopSlack    string
	wakeOnAnswer bool
	flags        *pflag.FlagSet // to tell a default from a value given
}

func (f *paceFlags) register(fl *pflag.FlagSet) {
	f.flags = fl
	fl.StringArrayVar(&f.stages, "stage", nil, "a stage of a load profile, `DURATION:TARGET` (repeatable): ramp to TARGET over DURATION, or DURATION:=TARGET to step to it and hold; TARGET is a rate with -q (which starts it), else a number of connections")
	fl.StringVar(&f.loopTimer, "loop-timer", "timerfd", "how the event loops wake for due requests: timerfd, deadline or pwait2 (for comparisons)")
	fl.MarkHidden("loop-timer")
	fl.DurationVar(&f.loopSpin, "loop-spin", 20*time.Microsecond, "how long before a due time the event loops wake to spin (for comparisons)")
	fl.MarkHidden("loop-spin")
	fl.StringVar(&f.loopSlack, "loop-slack", "auto", "how early the event loops may send a request so that it shares a wake-up with the one due before it: auto (500µs at rates where it does), or a duration, 0 for none (for comparisons)")
	fl.MarkHidden("loop-slack")
	fl.BoolVar(&f.wakeOnAnswer, "loop-wake-on-answer", false, "in the open model, wake the event loops for each answer as it comes rather than read the answers due soon at the next wake-up (for comparisons)")
	fl.MarkHidden("loop-wake-on-answer")
}

// lateSlackFlag bounds --loop-slack: a request sent a millisecond after
// its due time counts as late, and one sent as early would change the
// load's shape by as much.
const lateSlackFlag = time.Millisecond

// staged reports whether the run has a load profile.
func (f *paceFlags) staged() bool { return len(f.stages) > 0 }

// apply checks the profile flags against the plan and sets its stages.
// With -q given (0 included), the stages shape the rate of the open model,
// starting from -q; without, they ramp the closed model's connections,
// starting from -c if it is given, else from 0.
func (f *paceFlags) apply(plan *loadgen.Plan, nSet bool) error {
	timer, ok := loadgen.ParseLoopTimer(f.loopTimer)
	if !ok {
		return usagef("bench: --loop-timer must be timerfd, deadline or pwait2, got %q", f.loopTimer)
	}
	if f.loopSpin < 0 {
		return usagef("bench: --loop-spin must not be negative, got %v", f.loopSpin)
	}
	plan.LoopTimer, plan.LoopSpin = timer, max(f.loopSpin, time.Nanosecond)
	plan.LoopWakeOnAnswer = f.wakeOnAnswer
	// -z 0 given is a run of no time, not "no bound": leaving -z out is.
	if f.flags.Changed("duration") && plan.Duration == 0 {
		return usagef("bench: -z must be positive, got 0s (leave it out to run -n requests)")
	}
	if f.loopSlack != "auto" {
		d, err := time.ParseDuration(f.loopSlack)
		if err != nil || d < 0 || d >= lateSlackFlag {
			return usagef("bench: --loop-slack must be auto or from 0 to under 1ms, got %q", f.loopSlack)
		}
		plan.LoopSlack = d
		if d == 0 {
			plan.LoopSlack = -1 // none
		}
	}
	if !f.staged() {
		return nil
	}
	open := f.flags.Changed("rate")
	var stages []loadgen.Stage
	for _, arg := range f.stages {
		st, err := parseStage(arg, open)
		if err != nil {
			return err
		}
		stages = append(stages, st)
	}
	switch {
	case nSet:
		return usagef("bench: --stage with -n: a profile runs for its stages' time, not a request count")
	case plan.Duration != 0:
		return usagef("bench: --stage with -z: the stages set the run's length (%v); drop -z", stagesLength(stages))
	}
	plan.Requests = 0
	if open {
		plan.RateStages = stages
	} else {
		plan.ConnectionStages = stages
		if !f.flags.Changed("connections") {
			plan.Connections = 0
		}
	}
	if err := plan.CheckProfile(); err != nil {
		return usagef("bench: %s", strings.TrimPrefix(err.Error(), "loadgen: "))
	}
	return nil
}

// parseStage parses one --stage: DURATION:TARGET or DURATION:=TARGET, a
// rate (open) or a whole number of connections.
func parseStage(arg string, open bool) (loadgen.Stage, error) {
	bad := func(why string) (loadgen.Stage, error) {
		return loadgen.Stage{}, usagef("bench: --stage %q: %s", arg, why)
	}
	durText, target, ok := strings.Cut(arg, ":")
	if !ok {
		return bad("want DURATION:TARGET (30s:5000; 30s:=5000 to step to 5000 and hold it)")
	}
	d, err := time.ParseDuration(strings.TrimSpace(durText))
	if err != nil {
		return bad("bad duration " + strconv.Quote(durText))
	}
	if d <= 0 {
		return bad("a stage must last (a step is DURATION:=TARGET)")
	}
	st := loadgen.Stage{Duration: d}
	target = strings.TrimSpace(target)
	if rest, ok := strings.CutPrefix(target, "="); ok {
		st.Step, target = true, strings.TrimSpace(rest)
	}
	v, err := strconv.ParseFloat(target, 64)
	switch {
	case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		return bad("bad target " + strconv.Quote(target))
	case v < 0:
		return bad("the target must not be negative")
	case !open && v != math.Trunc(v):
		return bad("a number of connections is a whole number (for a rate, give -q, 0 to start from nothing)")
	case !open && v > 1e7:
		return bad("too many connections")
	case open && v > loadgen.MaxRate:
		return bad("the rate is above the limit of " + strconv.FormatFloat(loadgen.MaxRate, 'g', -1, 64) + " req/s")
	}
	st.Target = v
	return st, nil
}

func stagesLength(stages []loadgen.Stage) time.Duration {
	var d time.Duration
	for _, st := range stages {
		d += st.Duration
	}
	return d
}
