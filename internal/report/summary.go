package report

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Summary is the merge of one or more recorders plus the run's metadata. It
// can be rendered as text or JSON, saved, loaded and merged with other runs.
//
// The metadata fields are filled by the load generator after [Merge]; the
// counters and histograms are filled by Merge, [Load] and [Summary.Add].
// The zero Summary is an empty accumulator for Add; it renders as an empty
// report but cannot be saved.
type Summary struct {
	// Target is the URL the run requested.
	Target string
	// Method is the HTTP method.
	Method string
	// Connections is the number of concurrent connections (workers).
	Connections int
	// Rate is the requested total rate in requests per second in the open
	// model, the mean rate of a profile; 0 means the closed model.
	Rate float64
	// Profile describes the load profile of a run with stages, as
	// "from 0, 30s:5000, 2m:5000, 30s:0" (a level, then duration:target for
	// each stage, "=" before a target for a step): of the rate in the open
	// model, of the connections in the closed model. "" for a constant
	// load; for merged runs, their profiles, distinct, joined by "; ".
	Profile string
	// Elapsed is the wall-clock duration of the run.
	Elapsed time.Duration
	// Runs is the number of runs merged into this summary: 1 for a single
	// run. See [Summary.Add] for how merged runs are timed.
	Runs int
	// RunIDs identifies the runs merged into this summary: [Merge] gives
	// each run a random id, and [Summary.Add] appends the other's, so that
	// a run given twice can be told from two runs (see [MergeCheck]).
	RunIDs []string
	// Parts says where, when and as which segment each of the runs ran:
	// Parts[i] is run RunIDs[i] (see [Part]).
	Parts []Part
	// MergeWarnings says, one line each, how the merged runs differed when
	// they were merged although a [MergeCheck] set them apart.
	MergeWarnings []string
	// Asked is what the run was asked to do, for the record.
	Asked Asked
	// Interrupted reports that the run was stopped (by Ctrl-C) before it
	// had done what was asked: the counts cover the requests that ended.
	Interrupted bool
	// Generator is the load generator's check on itself.
	Generator Generator
	// Start is when the run started, wall clock; for merged runs the
	// earliest start. Zero if unknown (files saved before version 2).
	Start time.Time
	// Series is the run as a time series (see [Series]); nil if the run
	// kept none, or was merged with one that kept none.
	Series *Series

	// Requests is the number of requests finished or failed.
	Requests int64
	// Errors is the number of failed requests; ErrorKinds splits it.
	Errors int64
	// ErrorKinds counts failed requests by kind, indexed by ErrorKind.
	ErrorKinds [numErrorKinds]int64
	// Late is the number of requests sent after their intended start
	// (open model only): coordinated omission, counted instead of hidden.
	Late int64
	// Dropped is the number of requests that were due (open model) but
	// never sent, because the run ended first: the duration passed or the
	// run was interrupted with requests still waiting for a connection.
	Dropped int64
	// Cut is the number of requests in flight when the run was stopped
	// (Ctrl-C, the live view's q, a failed --abort-on-fail check): sent,
	// and neither answered nor failed, so not among Requests.
	Cut int64
	// Bytes is the number of response body bytes read (see [Sample]).
	Bytes int64
	// Status counts responses by HTTP status code. Codes outside 100-599 are
	// counted under 0.
	Status map[int]int64
	// Targets splits the counts and response times by target name, in the
	// order of the targets file, when the load generator kept them (see
	// [Recorder.TrackTargets]); nil if it did not. At most MaxTargetRows.
	Targets []*TargetSummary
	// Thresholds are the verdicts of the thresholds the run was judged
	// by, filled by the caller (see the threshold package) for the text
	// and JSON reports; they are not saved, since a merge is judged anew.
	Thresholds []Verdict
	// Exports says what each stream of the run's metrics (bench
	// --prometheus, --otlp) delivered, filled by the caller for the text
	// and JSON reports; not saved.
	Exports []Export

	response   *hdrhistogram.Histogram
	service    *hdrhistogram.Histogram
	phases     phases // connections opened, phase timings
	errSamples errorSamples
	// rateSum and byteRateSum hold the summed per-run throughputs once two
	// runs are merged (Runs > 1); a single run computes them from Elapsed.
	rateSum     float64
	byteRateSum float64
}

// Generator is the load generator's check on itself: whether it, rather than
// the server, limited the run. The load generator fills it; report only
// renders and merges it.
type Generator struct {
	// Engine says how the requests were sent, e.g. "2 event loops, own
	// HTTP/1.1 client"; "" if unknown (a merged report).
	Engine string
	// TargetRate is the total rate asked for, in requests per second; 0 in
	// the closed model.
	TargetRate float64
	// AchievedRate is the rate at which requests were actually sent: in
	// the open model, requests over the schedule's span (its end, or the
	// last due time plus one interval), over the elapsed time if the run
	// was interrupted before that, and over the time to the last send plus
	// one interval if sending lagged past it. So a run on schedule, a ramp
	// as much as a constant rate, achieves its target exactly (to the one
	// request a schedule rounds up), whatever the server's last responses
	// take. In the closed model, requests over the elapsed time.
	AchievedRate float64
	// SendLagP99 and SendLagMax describe how late requests were sent
	// relative to their schedule.
	SendLagP99 time.Duration
	SendLagMax time.Duration
	// LateGenerator and LateWaiting split the open model's late requests
	// (Summary.Late) by cause: late with a connection free since before
	// its due time (the generator itself sent it late: its CPU, its
	// timers, the scheduler), and late waiting for a connection to come
	// free (every one was busy when it fell due). 0 in the closed model.
	LateGenerator, LateWaiting int64
	// UnreadWait and UnreadAnswers: how long the open model's answers
	// waited in the generator's sockets, from the kernel's receive time to
	// the loop's read, summed over the answers it read while it wanted
	// them at once (the event loops over http://; answers it left for its
	// next due time on purpose do not count), and how many. Time a
	// connection spent so is the generator's, not the server's, though
	// a request waiting for that connection counts in LateWaiting.
	UnreadWait    time.Duration
	UnreadAnswers int64
	// GCPause is the total stop-the-world GC pause during the run.
	GCPause time.Duration
	// CPU is the user plus system CPU time the generator's process used
	// during the run; 0 if unknown. See [Summary.CPUPerRequest].
	CPU time.Duration
	// Bound reports that the generator, not the server, was the bottleneck.
	Bound bool
	// Limit names what kept an open-model run off its schedule, when it
	// was: "generator", "connections" or "server"; "" if the run kept it
	// (or in the closed model). Merged runs keep the first one set.
	Limit string
	// Warnings explains each problem the generator found, one line each.
	Warnings []string
	// StoppedEarly reports that the engine ended the run before its plan
	// was done because no request would ever be answered, as the HTTP/2
	// engine does at a server without HTTP/2; Warnings says why. It is
	// for bench's exit status, and not saved.
	StoppedEarly bool
}

// Asked is what a run was asked to do: bench's -n and -z; its -q is
// [Summary.Rate]. A zero field was not asked for. Merged runs add their
// request counts and keep the longest duration.
type Asked struct {
	Requests int64
	Duration time.Duration
}

// Latency is a latency distribution's summary as the report prints it:
// percentiles, extremes and mean of Count responses, each exact to
// HdrHistogram's 3 significant digits.
type Latency struct {
	P50, P90, P95, P99, P999, Max, Min time.Duration
	Mean                               time.Duration
	Count                              int64
}

// newSummary returns an empty summary of one run.
func newSummary() *Summary {
	return &Summary{
		Runs:     1,
		Status:   make(map[int]int64),
		response: newHistogram(),
		service:  newHistogram(),
	}
}

// Merge returns the summary of one run, the given recorders', with Runs set
// to 1 and a new run id. Call
// it only after every worker has stopped recording: it reads the recorders
// without synchronization. Its cost grows with the number of recorders
// (tens of microseconds each for the histogram merge), not with the number
// of requests; recorders that recorded nothing cost nothing.
func Merge(recs ...*Recorder) *Summary {
	s := newSummary()
	s.RunIDs = []string{NewRunID()}
	s.Parts = make([]Part, 1)
	for _, r := range recs {
		if r == nil {
			continue
		}
		s.phases.add(&r.phases)
		if r.requests.Load() == 0 {
			continue
		}
		s.Requests += r.requests.Load()
		s.Errors += r.errors.Load()
		for k, n := range r.errKinds {
			s.ErrorKinds[k] += n
		}
		for code, n := range r.status {
			if n != 0 {
				s.Status[code] += n
			}
		}
		s.Late += r.late
		s.Bytes += r.bytes
		s.errSamples.merge(&r.errSamples)
		// Both histograms share one geometry and the recorder clamped every
		// value into it, so nothing can be dropped here. Walking a histogram
		// costs up to a few hundred microseconds, which adds up to seconds
		// over ten thousand recorders; replaying a few samples costs
		// nanoseconds.
		if r.answered <= firstSamples {
			for _, f := range r.first[:r.answered] {
				_ = s.response.RecordValue(f.response)
				_ = s.service.RecordValue(f.service)
			}
			continue
		}
		if r.targets == nil {
			s.response.Merge(r.response)
		} else {
			for i := range r.targets {
				if h := r.targets[i].response; h != nil {
					s.response.Merge(h)
				}
			}
		}
		s.service.Merge(r.service)
	}
	s.mergeTargets(recs)
	return s
}

// Add merges other into s: counters add, histograms merge, so the result's
// counts and percentiles equal those of one histogram that recorded both
// runs. Adding to a zero Summary copies other. other is not modified.
//
// Merged runs are taken to have run at the same time against the same
// server (several machines driving one target), so: Elapsed becomes the
// longest run's; requests/s and bytes/s become the sums of the runs' own
// rates, so that a short run's throughput is not diluted by a longer run's
// duration (for runs of equal length this equals total/elapsed);
// Connections, Rate and the generator's target and achieved rates add up;
// send lags take the maximum, GC pauses and CPU times add (the CPU time
// is unknown if it is for any run), the generator counts as the
// bottleneck if it was in any run, and the merge counts as interrupted if
// any run was. The run ids and merge warnings of other are appended to
// s's. The series merge interval by interval (see [Series]); if only one
// run has a series, or their intervals do not divide one another, the
// result has none and a merge warning says so. Interval histograms of
// different ranges (never made by gather) leave s unchanged and return
// an error.
//
// Add merges whatever it is given; [MergeCheck] says whether runs
// belong in one report.
func (s *Summary) Add(other *Summary) error {
	if other == nil {
		return errors.New("report: Add of a nil Summary")
	}
	if other.response == nil || other.service == nil {
		return errors.New("report: Add of a Summary not made by Merge or Load")
	}
	if s.response == nil || s.Runs == 0 {
		*s = *other.clone()
		return nil
	}
	// The series first: if it cannot merge, s is left as it was.
	series, seriesWarning := s.Series, ""
	switch {
	case s.Series != nil && other.Series != nil && !s.Series.mergesWith(other.Series):
		// MergeCheck refuses such runs; merged with --force, they keep
		// their totals and lose the series.
		series = nil
		seriesWarning = fmt.Sprintf("series of %v and %v intervals cannot be merged: the merged run has none", s.Series.length, other.Series.length)
	case s.Series != nil && other.Series != nil:
		m, err := s.Series.merged(other.Series)
		if err != nil {
			return err
		}
		series = m
	case s.Series != nil || other.Series != nil:
		series = nil
		seriesWarning = "one of the merged runs has no series (saved by an older gather): the merged run has none"
	}
	s.Series = series
	if seriesWarning != "" && !slices.Contains(s.MergeWarnings, seriesWarning) {
		s.MergeWarnings = append(s.MergeWarnings, seriesWarning)
	}
	// Rates add up for runs that went at the same time (segments of one
	// run, machines sharing a test); for runs that did not, the sum is
	// no rate the server ever saw, so the report says so.
	if !s.Start.IsZero() && !other.Start.IsZero() &&
		(!other.Start.Before(s.Start.Add(s.Elapsed)) || !s.Start.Before(other.Start.Add(other.Elapsed))) {
		const w = "the merged runs did not run at the same time: their rates are summed as if they had"
		if !slices.Contains(s.MergeWarnings, w) {
			s.MergeWarnings = append(s.MergeWarnings, w)
		}
	}
	reqRate := s.RequestsPerSecond() + other.RequestsPerSecond()
	byteRate := s.BytesPerSecond() + other.BytesPerSecond()

	s.Target = joinDistinct(s.Target, other.Target)
	s.Method = joinDistinct(s.Method, other.Method)
	if other.Profile != "" && !slices.Contains(strings.Split(s.Profile, "; "), other.Profile) {
		s.Profile = strings.TrimPrefix(s.Profile+"; "+other.Profile, "; ")
	}
	s.Connections += other.Connections
	s.Rate += other.Rate
	s.Elapsed = max(s.Elapsed, other.Elapsed)
	if !other.Start.IsZero() && (s.Start.IsZero() || other.Start.Before(s.Start)) {
		s.Start = other.Start
	}
	s.Runs += max(other.Runs, 1)
	s.RunIDs = append(s.RunIDs, other.RunIDs...)
	s.Parts = append(s.Parts, other.Parts...)
	s.Asked.Requests += other.Asked.Requests
	s.Asked.Duration = max(s.Asked.Duration, other.Asked.Duration)
	s.Interrupted = s.Interrupted || other.Interrupted
	for _, w := range other.MergeWarnings {
		if !slices.Contains(s.MergeWarnings, w) {
			s.MergeWarnings = append(s.MergeWarnings, w)
		}
	}

	g, og := &s.Generator, &other.Generator
	g.TargetRate += og.TargetRate
	g.AchievedRate += og.AchievedRate
	g.SendLagP99 = max(g.SendLagP99, og.SendLagP99)
	g.SendLagMax = max(g.SendLagMax, og.SendLagMax)
	g.LateGenerator += og.LateGenerator
	g.LateWaiting += og.LateWaiting
	g.UnreadWait += og.UnreadWait
	g.UnreadAnswers += og.UnreadAnswers
	g.GCPause += og.GCPause
	if g.CPU > 0 && og.CPU > 0 {
		g.CPU += og.CPU
	} else {
		g.CPU = 0 // unknown for some of the requests: unknown for all
	}
	g.Engine = mergeEngines(g.Engine, og.Engine)
	g.Bound = g.Bound || og.Bound
	if g.Limit == "" {
		g.Limit = og.Limit
	}
	for _, w := range og.Warnings {
		if !slices.Contains(g.Warnings, w) {
			g.Warnings = append(g.Warnings, w)
		}
	}

	s.Requests += other.Requests
	s.Errors += other.Errors
	for k, n := range other.ErrorKinds {
		s.ErrorKinds[k] += n
	}
	s.Late += other.Late
	s.Dropped += other.Dropped
	s.Cut += other.Cut
	s.Bytes += other.Bytes
	s.errSamples.merge(&other.errSamples)
	if s.Status == nil {
		s.Status = make(map[int]int64)
	}
	for code, n := range other.Status {
		s.Status[code] += n
	}
	s.phases.add(&other.phases)
	s.addTargets(other)
	if s.response.Merge(other.response) != 0 || s.service.Merge(other.service) != 0 {
		return errors.New("report: histograms of different ranges cannot be merged exactly")
	}
	s.rateSum, s.byteRateSum = reqRate, byteRate
	return nil
}

// joinDistinct returns a, or "a, b" when b is not already among a's
// comma-separated items.
func joinDistinct(a, b string) string {
	switch {
	case b == "":
		return a
	case a == "":
		return b
	case slices.Contains(strings.Split(a, ", "), b):
		return a
	}
	return a + ", " + b
}

// mergeEngines returns the engine of merged runs: theirs if they agree,
// else "mixed: " and each distinct one, in the order met, separated by
// "; " (an engine's own description holds commas). A run that does not
// say (saved by an older gather) is left out.
func mergeEngines(a, b string) string {
	if a == b || b == "" {
		return a
	}
	if a == "" {
		return b
	}
	list := strings.Split(strings.TrimPrefix(a, "mixed: "), "; ")
	for _, e := range strings.Split(strings.TrimPrefix(b, "mixed: "), "; ") {
		if !slices.Contains(list, e) {
			list = append(list, e)
		}
	}
	if len(list) == 1 {
		return list[0]
	}
	return "mixed: " + strings.Join(list, "; ")
}

// clone returns a deep copy of s.
func (s *Summary) clone() *Summary {
	c := *s
	c.Generator.Warnings = slices.Clone(s.Generator.Warnings)
	c.errSamples = s.errSamples.clone()
	c.RunIDs = slices.Clone(s.RunIDs)
	c.Parts = slices.Clone(s.Parts)
	c.MergeWarnings = slices.Clone(s.MergeWarnings)
	c.Status = make(map[int]int64, len(s.Status))
	for code, n := range s.Status {
		c.Status[code] = n
	}
	c.Series = s.Series.clone()
	c.response = s.response.Clone()
	c.service = s.service.Clone()
	c.phases = s.phases.clone()
	c.Targets = nil
	if s.Targets != nil {
		c.Targets = make([]*TargetSummary, len(s.Targets))
		for i, t := range s.Targets {
			c.Targets[i] = t.clone()
		}
	}
	c.Thresholds = slices.Clone(s.Thresholds)
	c.Exports = slices.Clone(s.Exports)
	if c.Runs == 0 {
		c.Runs = 1
	}
	return &c
}

// Open reports whether the run used the open model (a fixed request rate).
func (s *Summary) Open() bool { return s.Rate > 0 }

// Response returns the response-time distribution (end minus intended
// start): what a user of the server would have seen. Failed requests are
// not part of it.
func (s *Summary) Response() Latency { return latencyOf(s.response) }

// Service returns the service-time distribution (end minus actual send).
// It equals Response in the closed model.
func (s *Summary) Service() Latency { return latencyOf(s.service) }

// UnreadMean returns the mean time an answer waited in the generator's
// sockets before the loop read it (see Generator.UnreadWait); 0 if none
// was counted.
func (g *Generator) UnreadMean() time.Duration {
	if g.UnreadAnswers == 0 {
		return 0
	}
	return g.UnreadWait / time.Duration(g.UnreadAnswers)
}

// quantiles are the percentiles every report shows, in Latency's order.
var quantiles = []float64{50, 90, 95, 99, 99.9}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	v := h.ValueAtPercentilesSlice(quantiles)
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
	return Latency{
		Count: h.TotalCount(),
		Min:   us(h.Min()),
		Mean:  time.Duration(h.Mean() * float64(time.Microsecond)),
		P50:   us(v[0]),
		P90:   us(v[1]),
		P95:   us(v[2]),
		P99:   us(v[3]),
		P999:  us(v[4]),
		Max:   us(h.Max()),
	}
}

// Non2xx returns the number of answers whose status is not 2xx (codes
// outside 100-599 included): they are answers, not errors, but seldom
// what a test wanted, so reports show them beside the errors.
func (s *Summary) Non2xx() int64 {
	var n int64
	for code, c := range s.Status {
		if code < 200 || code > 299 {
			n += c
		}
	}
	return n
}

// RequestsPerSecond returns the throughput: Requests/Elapsed for one run,
// the sum of the runs' own rates for merged runs (see [Summary.Add]). It is
// 0 when Elapsed is not positive.
func (s *Summary) RequestsPerSecond() float64 {
	if s.Runs > 1 {
		return s.rateSum
	}
	return perSecond(s.Requests, s.Elapsed)
}

// CPUPerRequest returns the generator's CPU time per request, the
// measure of its efficiency when the server is the bottleneck; 0 if the
// CPU time is unknown or there were no requests. Merged runs give the
// CPU time of all of them over all their requests.
func (s *Summary) CPUPerRequest() time.Duration {
	if s.Requests == 0 {
		return 0
	}
	return s.Generator.CPU / time.Duration(s.Requests)
}

// BytesPerSecond returns the response body bytes read per second, computed as
// [Summary.RequestsPerSecond] is.
func (s *Summary) BytesPerSecond() float64 {
	if s.Runs > 1 {
		return s.byteRateSum
	}
	return perSecond(s.Bytes, s.Elapsed)
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
