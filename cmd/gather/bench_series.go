package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/loadgen"
	"github.com/gather-dev/gather/internal/report"
)

// seriesFlags are bench's flags for the run's time series: its interval,
// and the HdrHistogram interval log.
type seriesFlags struct {
	interval time.Duration
	hlog     string
	flags    *pflag.FlagSet // to tell a default from a value given
}

// minInterval is the shortest --interval: below it, closing intervals
// would cost the generator more than a rounding error.
const minInterval = 100 * time.Millisecond

func (f *seriesFlags) register(fl *pflag.FlagSet) {
	f.flags = fl
	fl.DurationVar(&f.interval, "interval", time.Second, "length of the intervals of the run's time series (in -o json, --save, --hlog)")
	fl.StringVar(&f.hlog, "hlog", "", "also write the series as an HdrHistogram interval log to `FILE`")
}

// apply checks the flags against the plan and sets the plan's interval.
func (f *seriesFlags) apply(plan *loadgen.Plan) error {
	switch {
	case f.interval < minInterval:
		return usagef("bench: --interval must be at least %v, got %v", minInterval, f.interval)
	case plan.Length() > 0 && f.interval > plan.Length() && f.flags.Changed("interval"):
		return usagef("bench: --interval %v is longer than the run (%v)", f.interval, plan.Length())
	}
	plan.Interval = f.interval
	return nil
}

// open creates the interval log's file before the run, so that a path
// that cannot be written is a usage error before any request.
func (f *seriesFlags) open() (*os.File, error) {
	if f.hlog == "" {
		return nil, nil
	}
	file, err := os.Create(f.hlog)
	if err != nil {
		return nil, usagef("bench: --hlog: %v", err)
	}
	return file, nil
}

// write writes the run's interval log to file, if there is one, and
// closes it.
func writeIntervalLog(file *os.File, sum *report.Summary) error {
	if file == nil {
		return nil
	}
	if err := sum.WriteIntervalLog(file); err != nil {
		file.Close()
		return fmt.Errorf("bench: --hlog: %w", err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("bench: --hlog: %w", err)
	}
	return nil
}
