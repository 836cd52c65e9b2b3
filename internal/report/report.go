// Package report holds what a load-generator run measured: per-worker
// recorders that cost nothing to update on the hot path, their merge into a
// Summary, and the Summary's text, JSON and saved forms.
//
// Latencies are kept in HdrHistograms (1 µs to 1 hour, 3 significant
// digits), so every percentile is exact to within 0.1% of its value, and
// memory does not grow with the number of requests. Two saved runs merged
// with [Summary.Add] report the same counts and percentiles as one run that
// recorded every request of both.
package report

import (
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry shared by every recorder and saved file: values are
// microseconds. Durations below 1 µs are recorded as 0 and durations above
// one hour as one hour, so Record never fails.
const (
	lowestMicros  = 1
	highestMicros = int64(time.Hour / time.Microsecond)
	sigFigs       = 3
)

// ErrorKind classifies a failed request.
type ErrorKind uint8

// The kinds of failure a worker reports. ErrNone marks a request that got a
// complete HTTP response, whatever its status.
const (
	ErrNone     ErrorKind = iota
	ErrTimeout            // the per-request timeout expired
	ErrRefused            // the connection was refused
	ErrReset              // the peer reset or closed the connection mid-request
	ErrDNS                // the host name did not resolve
	ErrTLS                // the TLS handshake or certificate check failed
	ErrProtocol           // the response was malformed
	ErrOther              // anything else
	numErrorKinds
)

// NumErrorKinds is the length of the arrays indexed by ErrorKind
// ([Summary.ErrorKinds], [IntervalCounts.ErrorKinds]): ErrNone and the
// kinds of failure.
const NumErrorKinds = int(numErrorKinds)

var errorKindNames = [numErrorKinds]string{
	ErrNone:     "none",
	ErrTimeout:  "timeout",
	ErrRefused:  "refused",
	ErrReset:    "reset",
	ErrDNS:      "dns",
	ErrTLS:      "tls",
	ErrProtocol: "protocol",
	ErrOther:    "other",
}

// String returns the kind's name as it appears in reports: "timeout",
// "refused", "reset", "dns", "tls", "protocol", "other" (and "none").
func (k ErrorKind) String() string {
	if k < numErrorKinds {
		return errorKindNames[k]
	}
	return "other"
}

// Sample is one finished (or failed) request as a worker saw it.
type Sample struct {
	// Response is the end of the request minus its intended start. In the
	// open model the intended start comes from the schedule, so time spent
	// waiting for a free connection counts; in the closed model it equals
	// Service.
	Response time.Duration
	// Service is the end of the request minus the moment it was sent.
	Service time.Duration
	// Status is the HTTP status code; 0 if Err is not ErrNone.
	Status int
	// Bytes is the number of response body bytes read, as decoded from
	// the wire: no status line, headers, chunk framing or trailers.
	Bytes int64
	// Err classifies a failed request; ErrNone for any complete response.
	Err ErrorKind
	// Late reports, in the open model, that the request was sent after its
	// intended time because every connection was busy.
	Late bool
	// FirstByte is the time from the send to the first byte of the
	// response, for an answered request; 0 if the client did not measure it.
	FirstByte time.Duration
	// Error is the failure itself, if Err is not ErrNone: the report
	// shows a few messages of each kind (see [Summary.ErrorSamples]).
	Error error
	// End is when the request ended, on the run's clock (time.Now, with
	// its monotonic reading); it places the sample in its interval of the
	// series (see [Intervals]). Zero means the interval going on.
	End time.Time
	// Target is the index of the request's target among the names given
	// to [Recorder.TrackTargets]; ignored if there were none.
	Target int
}

// Recorder accumulates the samples of one worker. Only that worker may call
// Record; Requests and Errors may be called from any goroutine at any time.
//
// A Recorder preallocates two histograms and fixed counter arrays, about
// 380 KiB of address space (a few pages of it resident until the
// latencies spread out), so Record never allocates, locks or blocks.
type Recorder struct {
	requests atomic.Int64
	errors   atomic.Int64
	_        [48]byte // keep the hot atomics off other recorders' cache lines

	response *hdrhistogram.Histogram
	service  *hdrhistogram.Histogram
	status   [statusSlots]int64
	errKinds [numErrorKinds]int64
	late     int64
	bytes    int64
	// answered counts the samples in the histograms; the first few are
	// also kept raw, so that Merge need not walk the histograms of the
	// many recorders of a run with many connections and few requests each.
	answered int64
	first    [firstSamples]struct{ response, service int64 }
	phases   phases // connections opened, phase timings
	// errLooks counts, per kind, the failures whose message was read.
	errLooks   [numErrorKinds]int32
	errSamples errorSamples
	// series is the recorder's part of the run's series, if it has one.
	series *recorderSeries
	// targetNames and targets are the per-target rows; see TrackTargets.
	targetNames []string
	targets     []targetRecord
	watches     []watchState // see SetWatches
	_           [64]byte
}

// firstSamples is how many samples a Recorder keeps raw.
const firstSamples = 16

// statusSlots covers status codes 0-599; codes outside are counted in slot 0.
const statusSlots = 600

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{
		response: newHistogram(),
		service:  newHistogram(),
	}
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(lowestMicros, highestMicros, sigFigs)
}

// Record adds one sample. It does not lock or block, and it costs about
// 20 ns (two histogram updates and two uncontended atomic adds), and about
// 15 ns more in a run with a series (two more histogram updates and the
// interval's phaser; see [Intervals]). It does not allocate either, except
// for the message of a failure (s.Error) for the first 64 failures of each
// kind, which is kept if it is one of the first few distinct ones.
// Latencies of failed requests (Err != ErrNone) are not recorded: they
// measure the failure (often the timeout), not the server's answer.
func (r *Recorder) Record(s Sample) {
	// requests is incremented before errors so that a concurrent reader
	// that loads Errors before Requests never sees more errors than
	// requests.
	r.requests.Add(1)
	if r.targets != nil {
		r.recordTarget(&s)
	}
	if r.watches != nil {
		r.watch(&s)
	}
	r.bytes += s.Bytes
	if s.Late {
		r.late++
	}
	if s.Err != ErrNone {
		k := s.Err
		if k >= numErrorKinds {
			k = ErrOther
		}
		r.errKinds[k]++
		r.errors.Add(1)
		if s.Error != nil && r.errLooks[k] < errorLooksPerKind {
			r.errLooks[k]++
			r.errSamples.add(k, s.Error.Error())
		}
		if r.series != nil {
			r.series.record(&s, k, 0, 0, 0)
		}
		return
	}
	code := s.Status
	if code < 100 || code >= statusSlots {
		code = 0
	}
	r.status[code]++
	// The values are clamped into the histogram's range, so these cannot
	// fail (and so cannot allocate an error).
	resp, serv := micros(s.Response), micros(s.Service)
	if r.targets == nil {
		// With target rows, each response time is recorded once, in its
		// target's histogram, and Merge adds them up into the run's:
		// exactly, as they share the geometry, and 100 instructions a
		// request sooner.
		_ = r.response.RecordValue(resp)
	}
	_ = r.service.RecordValue(serv)
	if s.FirstByte > 0 {
		recordInto(&r.phases.firstByte, s.FirstByte)
	}
	if r.answered < firstSamples {
		r.first[r.answered].response, r.first[r.answered].service = resp, serv
	}
	r.answered++
	if r.series != nil {
		r.series.record(&s, ErrNone, code, resp, serv)
	}
}

// micros converts d to whole microseconds clamped to the histogram range.
func micros(d time.Duration) int64 {
	v := int64(d / time.Microsecond)
	switch {
	case v < 0:
		return 0
	case v > highestMicros:
		return highestMicros
	}
	return v
}

// Requests returns the number of samples recorded so far, failed ones
// included. It is safe to call concurrently with Record.
func (r *Recorder) Requests() int64 { return r.requests.Load() }

// Errors returns the number of failed samples (Err != ErrNone) recorded so
// far; HTTP error statuses are responses, not errors. It is safe to call
// concurrently with Record.
func (r *Recorder) Errors() int64 { return r.errors.Load() }
