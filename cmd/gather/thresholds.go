package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/loadgen"
	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/threshold"
)

// thresholdFlags are the flags of bench and report that judge a run:
// --threshold, --junit, and bench's --abort-on-fail.
type thresholdFlags struct {
	cmd    string // "bench" or "report", for messages
	exprs  []string
	junit  string
	abort  bool
	parsed []threshold.Threshold
}

func (t *thresholdFlags) register(fl *pflag.FlagSet, cmd string) {
	t.cmd = cmd
	fl.StringArrayVar(&t.exprs, "threshold", nil, "fail (exit status 3) unless `EXPR` holds, e.g. p99<250ms, errors<1%, login:p95<100ms (repeatable)")
	fl.StringVar(&t.junit, "junit", "", "also write the thresholds' verdicts as JUnit XML to `FILE`")
	if cmd == "bench" {
		fl.BoolVar(&t.abort, "abort-on-fail", false, "stop the run as soon as a threshold has failed beyond doubt")
	}
}

// parse parses the thresholds and checks them against the run: its model
// and its target names. Every error is a usage error.
func (t *thresholdFlags) parse(open bool, names []string) error {
	ts, err := threshold.ParseAll(t.exprs)
	if err != nil {
		return usagef("%s: %v", t.cmd, err)
	}
	if err := threshold.Validate(ts, open, names); err != nil {
		return usagef("%s: %v", t.cmd, err)
	}
	switch {
	case t.junit != "" && len(ts) == 0:
		return usagef("%s: --junit needs a --threshold to report", t.cmd)
	case t.abort && len(ts) == 0:
		return usagef("%s: --abort-on-fail needs a --threshold", t.cmd)
	}
	t.parsed = ts
	return nil
}

// watch makes the plan judge the thresholds as it runs (--abort-on-fail).
func (t *thresholdFlags) watch(plan *loadgen.Plan, names []string) error {
	if !t.abort {
		return nil
	}
	w := threshold.NewWatcher(t.parsed, func(name string) int { return slices.Index(names, name) })
	if w.Watches() == nil {
		return usagef("bench: --abort-on-fail: none of the thresholds can be judged before the run ends (mean, min, rps and achieved are judged at the end)")
	}
	plan.Watches = w.Watches()
	plan.Check = func(counts []report.WatchCount, remaining int64) error {
		if th, why, doomed := w.Doomed(counts, remaining); doomed {
			return fmt.Errorf("--abort-on-fail: threshold %s failed beyond doubt: %s", th.Expr, why)
		}
		return nil
	}
	return nil
}

// prepareJUnit prepares the JUnit file (see [outputFile]) before the
// run, so that a name that cannot be written is a usage error before any
// request; stderr is for the note of a FIFO that waits for its reader.
func (t *thresholdFlags) prepareJUnit(stderr io.Writer) (*outputFile, error) {
	return prepareOutput(t.cmd+": --junit", t.junit, stderr)
}

// judge puts the verdicts in sum, for its report.
func (t *thresholdFlags) judge(sum *report.Summary) {
	if len(t.parsed) > 0 {
		sum.Thresholds = threshold.Evaluate(t.parsed, sum)
	}
}

// finish writes the JUnit file, if asked for, says on stderr which
// thresholds failed, and returns exit status 3 if any did.
func (t *thresholdFlags) finish(junit *outputFile, sum *report.Summary, started time.Time, stderr io.Writer) error {
	if err := t.writeJUnit(junit, sum, started); err != nil {
		return err
	}
	return t.verdict(sum, stderr)
}

// writeJUnit writes the JUnit file, if asked for.
func (t *thresholdFlags) writeJUnit(junit *outputFile, sum *report.Summary, started time.Time) error {
	return junit.write(func(w io.Writer) error {
		return threshold.WriteJUnit(w, threshold.JUnit{Suite: "gather " + t.cmd, Summary: sum, Started: started}, sum.Thresholds)
	})
}

// verdict says each threshold of sum that failed, and returns exit
// status 3 if one did.
func (t *thresholdFlags) verdict(sum *report.Summary, stderr io.Writer) error {
	failed := report.Failed(sum.Thresholds)
	if len(failed) == 0 {
		return nil
	}
	for _, v := range failed {
		fmt.Fprintf(stderr, "gather: %s: threshold %s failed: measured %s\n", t.cmd, v.Expr, v.Measured)
	}
	return exitStatus(3)
}
