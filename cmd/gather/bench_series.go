package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/loadgen"
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
