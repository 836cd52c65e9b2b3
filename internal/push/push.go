// Package push streams a run to monitoring systems while it goes: at the
// end of every interval of the run's series (see [report.Series]), its
// counters and latency histograms go to a Prometheus remote-write
// endpoint ([Prometheus]) or an OpenTelemetry collector ([OTLP]),
// labelled with the run's id, its segment and the user's tags.
//
// It reads nothing but the series: a [Stream]'s Interval is the run's
// [loadgen.Plan.OnInterval] hook, called once per interval off the hot
// path, so streaming costs the requests nothing. Values are cumulative
// over the run (counters and histograms alike), so a point lost on the
// way loses a moment of the graph, never a count: the last point that
// arrives carries the run's totals.
//
// A receiver that is slow, down or refusing never slows or stops the
// run. Each sink has its own goroutine and a bounded buffer of intervals:
// Interval only folds the interval into the totals and queues it (some
// tens of µs), a full buffer drops its oldest interval, and a failed
// write is retried, after a pause, while the buffer holds it. [Stream.Close]
// gives the last intervals one more try within the timeout and says what
// each sink delivered and dropped.
package push

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// DefaultBuffer is the number of intervals a sink holds for a receiver
// that does not take them: five minutes of 1 s intervals, some KiB each.
const DefaultBuffer = 300

// DefaultTimeout bounds each write, and the wait for the last intervals
// when the run ends.
const DefaultTimeout = 5 * time.Second

// maxBatch is the most intervals one write carries, when a receiver
// that was slow or away has a backlog to take.
const maxBatch = 60

// Config is what every sink of a [Stream] labels and bounds its metrics
// with.
type Config struct {
	// RunID is the run's id (label "run"): see [report.NewRunID].
	RunID string
	// Segment, if set, is the share of a distributed run that this
	// generator ran (label "segment"), so that a dashboard sums them.
	Segment string
	// Targets names the run's targets (label "target" of the per-target
	// series), in the order of [report.Series.TargetNames]: the first
	// [report.MaxTargetRows] names of a targets file, or the one URL.
	Targets []string
	// Tags are extra labels, name and value, each name checked by
	// [CheckTag].
	Tags [][2]string
	// Buffer is the number of intervals each sink holds while its
	// receiver does not take them; 0 means DefaultBuffer.
	Buffer int
	// Timeout bounds each write and, in Close, the wait for the last
	// intervals; 0 means DefaultTimeout.
	Timeout time.Duration
	// CPU, if set, returns the process's CPU time (user plus system); it
	// is read as each interval is folded, for the generator's own CPU.
	CPU func() time.Duration
}

// labelName is what Prometheus allows as a label name. It is compiled on
// first use, not at start, where every gather command would pay for it
// (see docs/fetch.md, where the memory goes).
var labelName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`) })

// ownLabels are the label names gather sets itself.
var ownLabels = []string{"run", "segment", "target", "status", "kind", "le", "quantile", "job", "instance"}

// CheckTag reports what is wrong with a tag's name, if anything: it must
// be a Prometheus label name (letters, digits and _, not first a digit),
// not start with "__", and not be one of the labels gather sets itself.
func CheckTag(name string) error {
	switch {
	case !labelName().MatchString(name):
		return fmt.Errorf("tag name %q: want letters, digits and _, not starting with a digit", name)
	case len(name) >= 2 && name[:2] == "__":
		return fmt.Errorf("tag name %q: names starting with __ are Prometheus's own", name)
	case slices.Contains(ownLabels, name):
		return fmt.Errorf("tag name %q: gather sets that label itself", name)
	}
	return nil
}

// label is one label (OTLP: attribute) that every series carries.
type label struct{ name, value string }

// A Sink is where a [Stream] sends the run: [Prometheus] or [OTLP].
type Sink interface {
	// name and url say what the sink is, for the report.
	name() string
	url() string
	// start gives the sink the labels of every series, sorted by name,
	// the run's id and its target names.
	start(labels []label, runID string, targets []string)
	// write sends the snapshots, in time order, as one request, and
	// returns the samples and bytes it sent. A permanent error (the
	// receiver answered that the request is wrong) is not worth retrying.
	write(ctx context.Context, snaps []*snapshot) (samples, bytes int, err error)
	// samples returns the number of samples a snapshot sends as.
	samples(s *snapshot) int
	// histograms says how latency goes: "native", "classic",
	// "exponential", and why, if the sink chose.
	histograms() (kind, note string)
	// close releases the sink's connections.
	close()
}

// errPermanent marks a write that retrying cannot mend.
var errPermanent = errors.New("permanent")

// A Stream sends a run's intervals to its sinks. Interval is called from
// one goroutine (the run's OnInterval), Close once after the last
// Interval.
type Stream struct {
	acc            accumulator
	outlets        []*outlet
	runID, segment string // the labels, for the report
}

// New returns a stream of the run to sinks, whose goroutines it starts;
// Close stops them.
func New(cfg Config, sinks ...Sink) (*Stream, error) {
	switch {
	case cfg.RunID == "":
		return nil, errors.New("push: no run id")
	case len(cfg.Targets) == 0:
		return nil, errors.New("push: no target names")
	}
	for _, t := range cfg.Tags {
		if err := CheckTag(t[0]); err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	labels := []label{{"run", cfg.RunID}}
	if cfg.Segment != "" {
		labels = append(labels, label{"segment", cfg.Segment})
	}
	for _, t := range cfg.Tags {
		labels = append(labels, label{t[0], t[1]})
	}
	slices.SortFunc(labels, func(a, b label) int { return cmpString(a.name, b.name) })
	for i := 1; i < len(labels); i++ {
		if labels[i].name == labels[i-1].name {
			return nil, fmt.Errorf("push: tag %q given twice", labels[i].name)
		}
	}
	s := &Stream{acc: accumulator{cpu: cfg.CPU}, runID: cfg.RunID, segment: cfg.Segment}
	if cfg.CPU != nil {
		s.acc.cpu0 = cfg.CPU()
	}
	for _, sk := range sinks {
		sk.start(labels, cfg.RunID, cfg.Targets)
		o := &outlet{sink: sk, bound: cfg.Buffer, timeout: cfg.Timeout,
			wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
		o.ctx, o.cancel = context.WithCancel(context.Background())
		s.outlets = append(s.outlets, o)
		go o.send()
	}
	return s, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Interval folds one closed interval of the run into its totals and
// queues the snapshot for every sink; it never waits for a receiver.
// Intervals must come in time order, as [loadgen.Plan.OnInterval] gives
// them.
func (s *Stream) Interval(iv report.Interval) {
	snap := s.acc.fold(iv)
	for _, o := range s.outlets {
		o.queue(snap)
	}
}

// Close sends what the sinks still hold, waiting at most the timeout for
// the receivers, drops the rest, stops the sinks' goroutines and returns
// what each delivered.
func (s *Stream) Close() []report.Export {
	for _, o := range s.outlets {
		close(o.stop)
		// From now on, a write in flight and the ones after it have
		// until the timeout.
		o.deadline = time.AfterFunc(o.timeout, o.cancel)
	}
	out := make([]report.Export, 0, len(s.outlets))
	for _, o := range s.outlets {
		<-o.done
		o.deadline.Stop()
		o.cancel()
		o.sink.close()
		o.mu.Lock()
		e := o.stats
		o.mu.Unlock()
		e.Sink, e.URL = o.sink.name(), o.sink.url()
		e.Run, e.Segment = s.runID, s.segment
		e.Histograms, e.Note = o.sink.histograms()
		out = append(out, e)
	}
	return out
}

// outlet is one sink's buffer and the goroutine that empties it.
type outlet struct {
	sink    Sink
	bound   int
	timeout time.Duration
	ctx     context.Context // cancelled once Close has waited long enough
	cancel  context.CancelFunc
	// deadline cancels ctx a timeout after Close.
	deadline *time.Timer

	wake chan struct{} // a snapshot was queued
	stop chan struct{} // Close was called
	done chan struct{} // send has returned

	mu      sync.Mutex
	waiting []*snapshot
	stats   report.Export
}

// queue adds a snapshot, dropping the oldest one past the bound.
func (o *outlet) queue(s *snapshot) {
	o.mu.Lock()
	o.stats.Intervals++
	o.waiting = append(o.waiting, s)
	o.trim()
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// trim drops the oldest snapshots past the bound; o.mu is held.
func (o *outlet) trim() {
	for len(o.waiting) > o.bound {
		o.dropLocked(o.waiting[:1])
		o.waiting = o.waiting[1:]
	}
}

func (o *outlet) dropLocked(snaps []*snapshot) {
	for _, s := range snaps {
		o.stats.Dropped += int64(o.sink.samples(s))
		o.stats.DroppedIntervals++
	}
}

// send writes the waiting snapshots until Close, then gives what is left
// one more try, within the timeout.
func (o *outlet) send() {
	defer close(o.done)
	stopping := false
	var pause time.Duration // before retrying a failed write
	for {
		o.mu.Lock()
		n := min(len(o.waiting), maxBatch)
		batch := slices.Clone(o.waiting[:n])
		o.waiting = o.waiting[n:]
		o.mu.Unlock()
		if n == 0 {
			if stopping {
				return
			}
			select {
			case <-o.wake:
			case <-o.stop:
				stopping = true
			}
			continue
		}
		if o.ctx.Err() != nil {
			// Close's timeout has passed: what still waits is lost.
			o.mu.Lock()
			o.dropLocked(batch)
			o.dropLocked(o.waiting)
			o.waiting = nil
			o.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithTimeout(o.ctx, o.timeout)
		samples, bytes, err := o.sink.write(ctx, batch)
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v", o.timeout)
		}
		cancel()
		o.mu.Lock()
		if err == nil {
			o.stats.Samples += int64(samples)
			o.stats.Bytes += int64(bytes)
			o.stats.Writes++
			o.mu.Unlock()
			pause = 0
			continue
		}
		o.stats.Failed++
		o.stats.LastError = strings.TrimSpace(err.Error()) // a receiver's answer may end in a newline
		switch {
		case errors.Is(err, errPermanent):
			// The receiver refused these for good: their points are lost,
			// but not the totals, which every later point carries.
			o.dropLocked(batch)
			o.mu.Unlock()
			continue
		case stopping:
			// One more try was all there was time for.
			o.dropLocked(batch)
			o.dropLocked(o.waiting)
			o.waiting = nil
			o.mu.Unlock()
			continue
		}
		o.waiting = append(batch, o.waiting...)
		o.trim()
		o.mu.Unlock()
		pause = min(max(2*pause, 250*time.Millisecond), 2*time.Second)
		select {
		case <-time.After(pause):
		case <-o.stop:
			stopping = true
		}
	}
}
