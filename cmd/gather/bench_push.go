package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/loadgen"
	"github.com/gather-dev/gather/internal/push"
	"github.com/gather-dev/gather/internal/report"
)

// pushFlags are bench's flags for streaming the run's metrics, at every
// --interval, to Prometheus remote write and OTLP.
type pushFlags struct {
	prometheus string
	histograms string
	otlp       string
	tags       []string
	buffer     int
	timeout    time.Duration
	flags      *pflag.FlagSet

	// Made by check, before the run.
	sinks []push.Sink
	cfg   push.Config
}

func (f *pushFlags) register(fl *pflag.FlagSet) {
	f.flags = fl
	fl.StringVar(&f.prometheus, "prometheus", "", "stream the run's metrics at every --interval to this Prometheus remote-write `URL` (e.g. http://127.0.0.1:9090/api/v1/write)")
	fl.StringVar(&f.histograms, "prometheus-histograms", "auto", "latency histograms for --prometheus: native, classic, or auto (native unless the receiver refuses them)")
	fl.StringVar(&f.otlp, "otlp", "", "stream the run's metrics at every --interval to this OTLP/HTTP metrics `URL` (e.g. http://127.0.0.1:4318/v1/metrics)")
	fl.StringArrayVar(&f.tags, "tag", nil, "label every streamed series with `name=value` (repeatable)")
	fl.IntVar(&f.buffer, "push-buffer", push.DefaultBuffer, "intervals each stream holds for a slow or absent receiver; past that the oldest are dropped")
	fl.DurationVar(&f.timeout, "push-timeout", push.DefaultTimeout, "bound on each write of a stream, and on the wait for the last ones after the run")
}

// check validates the flags and makes the sinks, before any request;
// every error is a usage error.
func (f *pushFlags) check() error {
	if f.prometheus == "" && f.otlp == "" {
		for _, name := range []string{"prometheus-histograms", "tag", "push-buffer", "push-timeout"} {
			if f.flags.Changed(name) {
				return usagef("bench: --%s needs --prometheus or --otlp", name)
			}
		}
		return nil
	}
	switch {
	case f.buffer < 1:
		return usagef("bench: --push-buffer must be at least 1, got %d", f.buffer)
	case f.timeout <= 0:
		return usagef("bench: --push-timeout must be positive, got %v", f.timeout)
	}
	mode, err := push.ParseHistogramMode(f.histograms)
	if err != nil {
		return usagef("bench: --prometheus-histograms: %v", err)
	}
	if f.flags.Changed("prometheus-histograms") && f.prometheus == "" {
		return usagef("bench: --prometheus-histograms needs --prometheus")
	}
	f.cfg = push.Config{Buffer: f.buffer, Timeout: f.timeout, CPU: loadgen.CPUTime}
	seen := map[string]bool{}
	for _, t := range f.tags {
		name, value, ok := strings.Cut(t, "=")
		switch {
		case !ok:
			return usagef("bench: bad --tag %q: want name=value", t)
		case value == "":
			return usagef("bench: bad --tag %q: empty value", t)
		case seen[name]:
			return usagef("bench: --tag %s given twice", name)
		}
		if err := push.CheckTag(name); err != nil {
			return usagef("bench: bad --tag: %v", err)
		}
		seen[name] = true
		f.cfg.Tags = append(f.cfg.Tags, [2]string{name, value})
	}
	f.sinks = nil
	if f.prometheus != "" {
		s, err := push.Prometheus(f.prometheus, mode)
		if err != nil {
			return usagef("bench: --prometheus: %v", err)
		}
		f.sinks = append(f.sinks, s)
	}
	if f.otlp != "" {
		s, err := push.OTLP(f.otlp)
		if err != nil {
			return usagef("bench: --otlp: %v", err)
		}
		f.sinks = append(f.sinks, s)
	}
	return nil
}

// start begins the streams, if any, and hooks them to the plan's
// intervals; finish, called with the run's summary (nil if the run could
// not start), waits for the last writes and puts what they delivered in
// the report.
func (f *pushFlags) start(plan *loadgen.Plan, stderr io.Writer) (finish func(*report.Summary), err error) {
	if len(f.sinks) == 0 {
		return func(*report.Summary) {}, nil
	}
	cfg := f.cfg
	// The run's own id, in its report, and the one its series carry: a
	// segment of a distributed run labels them with the distributed run's
	// id and its segment, so that a dashboard sums the segments.
	id := report.NewRunID()
	cfg.RunID = id
	if g := plan.Segment; g.Count > 0 {
		cfg.RunID = plan.RunID()
		cfg.Segment = fmt.Sprintf("%d/%d", g.Index, g.Count)
	}
	switch {
	case plan.Targets != nil && len(plan.Targets.Names()) > 1:
		// The names the series splits its per-target counters by.
		names := plan.Targets.Names()
		cfg.Targets = names[:min(len(names), report.MaxTargetRows)]
	case plan.Targets != nil:
		cfg.Targets = []string{plan.Targets.String()}
	case plan.URL != nil:
		cfg.Targets = []string{plan.URL.String()}
	default:
		cfg.Targets = []string{"(unnamed)"}
	}
	stream, err := push.New(cfg, f.sinks...)
	if err != nil {
		return nil, usagef("bench: %v", err)
	}
	prev := plan.OnInterval
	plan.OnInterval = func(iv report.Interval) {
		if prev != nil {
			prev(iv)
		}
		stream.Interval(iv)
	}
	return func(sum *report.Summary) {
		exports := stream.Close()
		if sum == nil {
			return
		}
		// The streams named the run before it ended.
		sum.RunIDs = []string{id}
		sum.Exports = exports
		for _, e := range exports {
			if e.Dropped > 0 {
				fmt.Fprintf(stderr, "gather: bench: --%s: %d samples not delivered (see the report)\n", e.Sink, e.Dropped)
			}
		}
	}, nil
}
