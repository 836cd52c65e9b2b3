package push

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	rwpb "buf.build/gen/go/prometheus/prometheus/protocolbuffers/go"
	"github.com/prometheus/client_golang/exp/api/remote"
)

// Prometheus remote write, version 1 (prometheus.WriteRequest, snappy
// framed), which every receiver takes: Prometheus itself from 2.25 (with
// --web.enable-remote-write-receiver), Mimir, Cortex, Thanos, VictoriaMetrics,
// Grafana Cloud. The message types are Prometheus's own remote.proto and
// types.proto, as Prometheus publishes them to the Buf Schema Registry,
// generated for google.golang.org/protobuf (the module
// buf.build/gen/go/prometheus/prometheus/protocolbuffers/go); the
// framing, headers and HTTP are client_golang's remote-write client.
// Prometheus's Go package of the same messages, prompb, is generated for
// gogo/protobuf (deprecated) and brings Prometheus's label and histogram
// model with it: 1.5 MB of binary and 0.45 MiB of resident memory that
// every gather command paid; the tests decode what is sent with prompb,
// so the two stay the same on the wire.

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
	base         []*rwpb.Label
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
	for _, l := range labels {
		p.base = append(p.base, &rwpb.Label{Name: l.name, Value: l.value})
	}
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
func (p *prometheusSink) post(ctx context.Context, req *rwpb.WriteRequest) (bytes, status int, err error) {
	p.rt.reset()
	_, err = p.api.Write(ctx, remote.WriteV1MessageType, req)
	return p.rt.bytes, p.rt.status, err
}

func countSamples(req *rwpb.WriteRequest) int {
	n := 0
	for _, ts := range req.Timeseries {
		n += len(ts.Samples) + len(ts.Histograms)
	}
	return n
}

// request returns the snapshots as one write request: one series per
// metric (or histogram bucket), its points in time order.
func (p *prometheusSink) request(snaps []*snapshot, native bool) *rwpb.WriteRequest {
	req := &rwpb.WriteRequest{}
	add := func(name string, extra label, values func(s *snapshot) float64, counter bool) {
		ts := &rwpb.TimeSeries{Labels: p.labels(name, extra)}
		for _, s := range snaps {
			if s.first && counter {
				ts.Samples = append(ts.Samples, &rwpb.Sample{Timestamp: s.begin.UnixMilli()})
			}
			ts.Samples = append(ts.Samples, &rwpb.Sample{Value: values(s), Timestamp: s.at.UnixMilli()})
		}
		req.Timeseries = append(req.Timeseries, ts)
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
			ts := &rwpb.TimeSeries{Labels: p.labels(h.name, label{})}
			for _, s := range snaps {
				if s.first {
					ts.Histograms = append(ts.Histograms, nativeHistogram(&latency{}, s.begin))
				}
				ts.Histograms = append(ts.Histograms, nativeHistogram(h.value(s), s.at))
			}
			req.Timeseries = append(req.Timeseries, ts)
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
func (p *prometheusSink) labels(name string, extra label) []*rwpb.Label {
	ls := append(make([]*rwpb.Label, 0, len(p.base)+2), p.base...)
	ls = append(ls, &rwpb.Label{Name: "__name__", Value: name})
	if extra.name != "" {
		ls = append(ls, &rwpb.Label{Name: extra.name, Value: extra.value})
	}
	slices.SortFunc(ls, func(a, b *rwpb.Label) int { return cmpString(a.Name, b.Name) })
	return ls
}

// nativeHistogram returns l as a native histogram at t.
func nativeHistogram(l *latency, t time.Time) *rwpb.Histogram {
	h := &rwpb.Histogram{
		Count:         &rwpb.Histogram_CountInt{CountInt: uint64(l.count)},
		Sum:           l.sum,
		Schema:        nativeSchema,
		ZeroThreshold: nativeZeroThreshold,
		ZeroCount:     &rwpb.Histogram_ZeroCountInt{ZeroCountInt: uint64(l.zero)},
		Timestamp:     t.UnixMilli(),
	}
	var prev int64
	for _, sp := range l.spans() {
		h.PositiveSpans = append(h.PositiveSpans, &rwpb.BucketSpan{Offset: sp.offset, Length: uint32(len(sp.counts))})
		for _, c := range sp.counts {
			h.PositiveDeltas = append(h.PositiveDeltas, c-prev)
			prev = c
		}
	}
	return h
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
