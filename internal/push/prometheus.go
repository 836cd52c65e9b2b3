package push

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/exp/api/remote"
)

// Prometheus remote write, version 1 (prometheus.WriteRequest, snappy
// framed), which every receiver takes: Prometheus itself from 2.25 (with
// --web.enable-remote-write-receiver), Mimir, Cortex, Thanos, VictoriaMetrics,
// Grafana Cloud. The messages are Prometheus's remote.proto and
// types.proto, written with protowire (wire.go); the framing, headers and
// HTTP are client_golang's remote-write client. Prometheus's Go package of
// the same messages, prompb, is generated for gogo/protobuf (deprecated)
// and brings Prometheus's label and histogram model with it: 1.5 MB of
// binary and 0.45 MiB of resident memory that every gather command paid;
// the same messages generated for google.golang.org/protobuf, from the
// Buf Schema Registry, cost the descriptors and runtime wire.go says. The
// tests decode what is sent with prompb, so the two stay the same on the
// wire.

// HistogramMode says how a [Prometheus] sink sends latency.
type HistogramMode int

const (
	// HistogramsAuto sends native histograms, and classic buckets from
	// the first write on which the receiver refused native histograms
	// but took classic ones.
	HistogramsAuto HistogramMode = iota
	// HistogramsNative sends native histograms only.
	HistogramsNative
	// HistogramsClassic sends classic buckets only.
	HistogramsClassic
)

// HistogramModes are the names [ParseHistogramMode] takes.
var HistogramModes = []string{"auto", "native", "classic"}

// ParseHistogramMode returns the mode called s: "auto", "native" or
// "classic".
func ParseHistogramMode(s string) (HistogramMode, error) {
	if i := slices.Index(HistogramModes, s); i >= 0 {
		return HistogramMode(i), nil
	}
	return 0, fmt.Errorf("histogram mode %q: want auto, native or classic", s)
}

// prometheusSink sends snapshots as remote-write requests.
type prometheusSink struct {
	rawURL string
	api    *remote.API
	rt     *recordingTransport
	mode   HistogramMode
	// native says whether the next request carries native histograms;
	// sure, whether a receiver took a request of that kind.
	native, sure bool
	note         string
	raw          []byte // the encoded request, reused
	base         []label
	targets      []string
}

// Prometheus returns a sink that sends the run to a remote-write
// endpoint: the full URL that takes the requests, such as
// http://127.0.0.1:9090/api/v1/write for Prometheus.
func Prometheus(rawURL string, mode HistogramMode) (Sink, error) {
	rt, err := newRecordingTransport(rawURL)
	if err != nil {
		return nil, err
	}
	// The outlet retries, with its buffer; the client's own retry (one
	// at least, which it cannot go without) is kept short.
	api, err := remote.NewAPI(rawURL, remote.WithAPIPath(""), remote.WithAPIHTTPClient(&http.Client{Transport: rt}),
		remote.WithAPIBackoff(remote.BackoffConfig{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond, MaxRetries: 1}),
		remote.WithAPINoRetryOnRateLimit())
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %v", rawURL, err)
	}
	return &prometheusSink{rawURL: rawURL, api: api, rt: rt, mode: mode, native: mode != HistogramsClassic}, nil
}

func (p *prometheusSink) name() string { return "prometheus" }
func (p *prometheusSink) url() string  { return p.rawURL }

func (p *prometheusSink) start(labels []label, _ string, targets []string) {
	p.targets = targets
	p.base = append(p.base, labels...)
}

func (p *prometheusSink) close() { p.rt.next.CloseIdleConnections() }

func (p *prometheusSink) histograms() (string, string) {
	if p.native {
		return "native", p.note
	}
	return "classic", p.note
}

func (p *prometheusSink) samples(s *snapshot) int {
	return countSamples(p.request([]*snapshot{s}, p.native))
}

func (p *prometheusSink) write(ctx context.Context, snaps []*snapshot) (samples, bytes int, err error) {
	req := p.request(snaps, p.native)
	bytes, status, err := p.post(ctx, req)
	if err != nil && p.native && p.mode == HistogramsAuto && !p.sure && refusesNative(status, err) {
		// The receiver may not take native histograms. If it takes the
		// same points as classic buckets, that is what it gets from now
		// on.
		classic := p.request(snaps, false)
		if b, _, cerr := p.post(ctx, classic); cerr == nil {
			p.native, p.sure = false, true
			p.note = "the receiver refused native histograms: " + strings.TrimSpace(err.Error())
			return countSamples(classic), b, nil
		}
	}
	if err != nil {
		if status >= 400 && status < 500 && status != http.StatusTooManyRequests {
			err = fmt.Errorf("%w: %w", errPermanent, err)
		}
		return 0, 0, err
	}
	p.sure = true
	return countSamples(req), bytes, nil
}

// refusesNative reports whether an answer to a request with native
// histograms may mean that the receiver does not take them: a 4xx other
// than 429, or a 5xx that mentions histograms, as Prometheus's 500
// "native histograms are disabled" (2.40 and later, without
// --enable-feature=native-histograms). A receiver that is only busy or
// away (429, 503, no answer) is not one.
func refusesNative(status int, err error) bool {
	switch {
	case status >= 400 && status < 500:
		return status != http.StatusTooManyRequests
	case status >= 500:
		return strings.Contains(strings.ToLower(err.Error()), "histogram")
	}
	return false
}

// post sends one request and returns the bytes of its body and the
// status of the last answer (0 if none came).
func (p *prometheusSink) post(ctx context.Context, req []series) (bytes, status int, err error) {
	p.rt.reset()
	p.raw = writeRequest(p.raw[:0], req)
	_, err = p.api.Write(ctx, remote.WriteV1MessageType, encoded(p.raw))
	return p.rt.bytes, p.rt.status, err
}

// encoded is a message already written, as the remote-write client takes
// one: with gogo/protobuf's Size and MarshalToSizedBuffer.
type encoded []byte

func (m encoded) Size() int { return len(m) }

func (m encoded) MarshalToSizedBuffer(b []byte) (int, error) {
	return copy(b[len(b)-len(m):], m), nil
}

func countSamples(req []series) int {
	n := 0
	for _, ts := range req {
		n += len(ts.samples) + len(ts.histograms)
	}
	return n
}

// A series is a remote-write TimeSeries: its labels, sorted by name, and
// its samples or native histograms in time order.
type series struct {
	labels     []label
	samples    []sample
	histograms []nativePoint
}

type sample struct {
	value float64
	ms    int64 // Unix milliseconds
}

// A nativePoint is a native histogram at a time.
type nativePoint struct {
	l  *latency
	ms int64
}

// Remote write's field numbers, from Prometheus's prompb/remote.proto and
// prompb/types.proto.
const (
	rwTimeseries = 1 // WriteRequest.timeseries

	rwLabels     = 1 // TimeSeries.labels
	rwSamples    = 2 // TimeSeries.samples
	rwHistograms = 4 // TimeSeries.histograms

	rwLabelName  = 1 // Label.name
	rwLabelValue = 2 // Label.value

	rwSampleValue     = 1 // Sample.value (double)
	rwSampleTimestamp = 2 // Sample.timestamp (int64)

	rwCountInt       = 1  // Histogram.count_int (oneof count)
	rwSum            = 3  // double
	rwSchema         = 4  // sint32
	rwZeroThreshold  = 5  // double
	rwZeroCountInt   = 6  // Histogram.zero_count_int (oneof zero_count)
	rwPositiveSpans  = 11 // BucketSpan
	rwPositiveDeltas = 12 // packed sint64
	rwTimestamp      = 15 // int64

	rwSpanOffset = 1 // BucketSpan.offset (sint32)
	rwSpanLength = 2 // BucketSpan.length (uint32)
)

// writeRequest appends req to b as a WriteRequest.
func writeRequest(b []byte, req []series) []byte {
	p := pbuf{b: b}
	for _, ts := range req {
		p.message(rwTimeseries, func() {
			for _, l := range ts.labels {
				p.message(rwLabels, func() {
					p.str(rwLabelName, l.name)
					p.str(rwLabelValue, l.value)
				})
			}
			for _, s := range ts.samples {
				p.message(rwSamples, func() {
					p.double(rwSampleValue, s.value)
					p.int64(rwSampleTimestamp, s.ms)
				})
			}
			for _, h := range ts.histograms {
				p.message(rwHistograms, func() { nativeHistogram(&p, h.l, h.ms) })
			}
		})
	}
	return p.b
}

// request returns the snapshots as one write request: one series per
// metric (or histogram bucket), its points in time order.
func (p *prometheusSink) request(snaps []*snapshot, native bool) []series {
	metrics := allMetrics()
	var req []series
	add := func(name string, extra label, values func(s *snapshot) float64, counter bool) {
		ts := series{labels: p.labels(name, extra)}
		for _, s := range snaps {
			if s.first && counter {
				ts.samples = append(ts.samples, sample{ms: s.begin.UnixMilli()})
			}
			ts.samples = append(ts.samples, sample{values(s), s.at.UnixMilli()})
		}
		req = append(req, ts)
	}
	for _, m := range metrics {
		if m.perTarget == nil {
			add(m.name, m.attr, m.value, m.counter)
			continue
		}
		for i, name := range p.targets {
			add(m.name, label{"target", name}, func(s *snapshot) float64 { return m.targetValue(s, i) }, m.counter)
		}
	}
	for _, h := range histograms {
		if native {
			ts := series{labels: p.labels(h.name, label{})}
			for _, s := range snaps {
				if s.first {
					ts.histograms = append(ts.histograms, nativePoint{&latency{}, s.begin.UnixMilli()})
				}
				ts.histograms = append(ts.histograms, nativePoint{h.value(s), s.at.UnixMilli()})
			}
			req = append(req, ts)
			continue
		}
		for b := range len(classicBounds) + 1 {
			le := "+Inf"
			if b < len(classicBounds) {
				le = classicLabels[b]
			}
			add(h.name+"_bucket", label{"le", le}, func(s *snapshot) float64 {
				return float64(h.value(s).cumulativeClassic(b))
			}, true)
		}
		add(h.name+"_sum", label{}, func(s *snapshot) float64 { return h.value(s).sum }, true)
		add(h.name+"_count", label{}, func(s *snapshot) float64 { return float64(h.value(s).count) }, true)
	}
	return req
}

// labels returns the labels of one series, sorted by name as remote
// write requires.
func (p *prometheusSink) labels(name string, extra label) []label {
	ls := append(make([]label, 0, len(p.base)+2), p.base...)
	ls = append(ls, label{"__name__", name})
	if extra.name != "" {
		ls = append(ls, extra)
	}
	slices.SortFunc(ls, func(a, b label) int { return cmpString(a.name, b.name) })
	return ls
}

// nativeHistogram writes l, at Unix milliseconds ms, as a Histogram.
func nativeHistogram(p *pbuf, l *latency, ms int64) {
	p.uvarintAlways(rwCountInt, uint64(l.count))
	p.double(rwSum, l.sum)
	p.sint(rwSchema, nativeSchema)
	p.double(rwZeroThreshold, nativeZeroThreshold)
	p.uvarintAlways(rwZeroCountInt, uint64(l.zero))
	spans := l.spans()
	for _, sp := range spans {
		p.message(rwPositiveSpans, func() {
			p.sint(rwSpanOffset, int64(sp.offset))
			p.uvarint(rwSpanLength, uint64(len(sp.counts)))
		})
	}
	var deltas []int64
	var prev int64
	for _, sp := range spans {
		for _, c := range sp.counts {
			deltas = append(deltas, c-prev)
			prev = c
		}
	}
	p.packedSint(rwPositiveDeltas, deltas)
	p.int64(rwTimestamp, ms)
}

// cumulativeClassic returns the count of classic buckets 0 to b, as the
// "le" series want it.
func (l *latency) cumulativeClassic(b int) int64 {
	var n int64
	for i := 0; i <= b && i < len(l.classic); i++ {
		n += l.classic[i]
	}
	return n
}
