package push

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	colmetricspb "go.opentelemetry.io/proto/slim/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/slim/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/slim/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/slim/otlp/resource/v1"
)

// OTLP metrics over HTTP (protobuf, gzip), as the OTLP/HTTP specification
// says: the same snapshots as remote write, as cumulative sums, gauges
// and exponential histograms (scale 6, the buckets of the native
// histograms, so the same error).
//
// The messages are OpenTelemetry's own generated types, from its "slim"
// module (go.opentelemetry.io/proto/slim/otlp: the OTLP messages and
// nothing else, under a protobuf namespace of their own, wire-identical to
// the canonical ones), encoded by google.golang.org/protobuf; this file
// only posts them. It used the OpenTelemetry SDK's otlpmetrichttp
// exporter until that exporter's gRPC imports (open-telemetry-go#2579,
// open: its config and the collector's generated service pull in gRPC and
// grpc-gateway) were found to cost every gather command, fetch too, 2.2
// MiB of resident memory from its start and 4.2 MB of binary (see
// docs/prometheus.md), for the export of a struct. The SDK's instruments and reader were never used: the series
// has already aggregated every interval, and recording the requests a
// second time is what this package exists not to do.

// otlpSink sends snapshots as OTLP/HTTP export requests.
type otlpSink struct {
	rawURL string
	client *http.Client
	rt     *recordingTransport
	res    *resourcepb.Resource
	scope  *commonpb.InstrumentationScope
	attrs  []*commonpb.KeyValue
	// targets are the per-target series' attributes.
	targets [][]*commonpb.KeyValue
	zbuf    bytes.Buffer // the gzipped request, reused
	zw      *gzip.Writer
}

// OTLP returns a sink that sends the run to an OTLP/HTTP metrics
// endpoint: the full URL, such as http://127.0.0.1:4318/v1/metrics for
// an OpenTelemetry collector.
func OTLP(rawURL string) (Sink, error) {
	rt, err := newRecordingTransport(rawURL)
	if err != nil {
		return nil, err
	}
	if _, err := http.NewRequest(http.MethodPost, rawURL, nil); err != nil {
		return nil, fmt.Errorf("bad URL %q: %v", rawURL, err)
	}
	// The outlet retries, with its buffer, and bounds each write.
	return &otlpSink{rawURL: rawURL, client: &http.Client{Transport: rt}, rt: rt, zw: gzip.NewWriter(nil),
		scope: &commonpb.InstrumentationScope{Name: "github.com/gather-dev/gather/internal/push"}}, nil
}

func (o *otlpSink) name() string                 { return "otlp" }
func (o *otlpSink) url() string                  { return o.rawURL }
func (o *otlpSink) histograms() (string, string) { return "exponential", "" }

func (o *otlpSink) start(labels []label, runID string, targets []string) {
	for _, l := range labels {
		o.attrs = append(o.attrs, stringAttr(l.name, l.value))
	}
	for _, name := range targets {
		o.targets = append(o.targets, withAttr(o.attrs, "target", name))
	}
	o.res = &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		stringAttr("service.instance.id", runID), stringAttr("service.name", "gather")}}
}

func (o *otlpSink) close() { o.rt.next.CloseIdleConnections() }

func (o *otlpSink) samples(s *snapshot) int {
	n := len(histograms)
	for _, m := range metrics {
		if m.perTarget != nil {
			n += len(o.targets)
		} else {
			n++
		}
	}
	return n
}

// maxAnswer bounds what is read of a receiver's answer: a status and a
// message.
const maxAnswer = 64 << 10

func (o *otlpSink) write(ctx context.Context, snaps []*snapshot) (samples, bytes int, err error) {
	raw, err := proto.Marshal(o.request(snaps))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: encoding: %v", errPermanent, err)
	}
	o.zbuf.Reset()
	o.zw.Reset(&o.zbuf)
	o.zw.Write(raw)
	o.zw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.rawURL, &o.zbuf)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	o.rt.reset()
	resp, err := o.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, 0, err
	}
	protobuf := resp.Header.Get("Content-Type") == "application/x-protobuf"
	if resp.StatusCode/100 == 2 {
		// A partial success: the receiver took the request but refused
		// some of its points, for a reason sending them again does not
		// mend.
		var ok colmetricspb.ExportMetricsServiceResponse
		if protobuf && len(answer) > 0 && proto.Unmarshal(answer, &ok) == nil {
			if p := ok.GetPartialSuccess(); p.GetRejectedDataPoints() != 0 || p.GetErrorMessage() != "" {
				return 0, 0, fmt.Errorf("%w: %d data points rejected: %s", errPermanent, p.GetRejectedDataPoints(), p.GetErrorMessage())
			}
		}
		return len(snaps) * o.samples(nil), o.rt.bytes, nil
	}
	// The answer is a google.rpc.Status, or text from a proxy.
	msg := strings.TrimSpace(string(answer))
	var st statuspb.Status
	if protobuf && proto.Unmarshal(answer, &st) == nil {
		msg = st.GetMessage()
	}
	err = fmt.Errorf("%s: %s", resp.Status, msg)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		// What OTLP/HTTP says a client retries.
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("%w: %w", errPermanent, err)
}

// request returns the snapshots as one export: a metric per name, a data
// point per snapshot and attribute set. Cumulative points start at the
// run's first interval.
func (o *otlpSink) request(snaps []*snapshot) *colmetricspb.ExportMetricsServiceRequest {
	begin := nanos(snaps[0].begin)
	var ms []*metricspb.Metric
	index := map[string]*metricspb.Metric{}
	for _, m := range metrics {
		om, ok := index[m.otel]
		if !ok {
			om = &metricspb.Metric{Name: m.otel, Unit: m.unit}
			if m.counter {
				om.Data = &metricspb.Metric_Sum{Sum: &metricspb.Sum{
					AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, IsMonotonic: true}}
			} else {
				om.Data = &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{}}
			}
			index[m.otel] = om
			ms = append(ms, om)
		}
		var points []*metricspb.NumberDataPoint
		if m.perTarget != nil {
			for k, attrs := range o.targets {
				for _, s := range snaps {
					points = append(points, &metricspb.NumberDataPoint{Attributes: attrs, StartTimeUnixNano: begin,
						TimeUnixNano: nanos(s.at), Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: m.targetValue(s, k)}})
				}
			}
		} else {
			attrs := o.attrs
			if m.attr.name != "" {
				attrs = withAttr(attrs, m.attr.name, m.attr.value)
			}
			for _, s := range snaps {
				start := begin
				if !m.counter {
					start = nanos(s.at.Add(-s.length)) // a gauge's value is the interval's
				}
				points = append(points, &metricspb.NumberDataPoint{Attributes: attrs, StartTimeUnixNano: start,
					TimeUnixNano: nanos(s.at), Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: m.value(s)}})
			}
		}
		switch d := om.Data.(type) {
		case *metricspb.Metric_Sum:
			d.Sum.DataPoints = append(d.Sum.DataPoints, points...)
		case *metricspb.Metric_Gauge:
			d.Gauge.DataPoints = append(d.Gauge.DataPoints, points...)
		}
	}
	for _, h := range histograms {
		data := &metricspb.ExponentialHistogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE}
		for _, s := range snaps {
			data.DataPoints = append(data.DataPoints, exponentialPoint(h.value(s), o.attrs, snaps[0].begin, s.at))
		}
		ms = append(ms, &metricspb.Metric{Name: h.otel, Unit: "s",
			Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: data}})
	}
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource:     o.res,
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: o.scope, Metrics: ms}},
	}}}
}

// exponentialPoint returns l as an OTLP exponential histogram point. OTLP
// bucket i holds (base^i, base^(i+1)]: native bucket i+1.
func exponentialPoint(l *latency, attrs []*commonpb.KeyValue, start, at time.Time) *metricspb.ExponentialHistogramDataPoint {
	sum := l.sum
	p := &metricspb.ExponentialHistogramDataPoint{
		Attributes: attrs, StartTimeUnixNano: nanos(start), TimeUnixNano: nanos(at),
		Count: uint64(l.count), Sum: &sum, Scale: nativeSchema,
		ZeroCount: uint64(l.zero), ZeroThreshold: nativeZeroThreshold,
		Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{},
	}
	if len(l.native) > 0 {
		p.Positive.Offset = l.first - 1
		p.Positive.BucketCounts = make([]uint64, len(l.native))
		for i, c := range l.native {
			p.Positive.BucketCounts[i] = uint64(c)
		}
	}
	return p
}

func stringAttr(key, value string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: value}}}
}

// withAttr returns attrs, sorted by key, with one more attribute, in a
// new slice: the attribute sets of series are shared between points.
func withAttr(attrs []*commonpb.KeyValue, key, value string) []*commonpb.KeyValue {
	out := append(slices.Clip(attrs), stringAttr(key, value))
	slices.SortStableFunc(out, func(a, b *commonpb.KeyValue) int { return cmpString(a.Key, b.Key) })
	return out
}

// nanos is t as OTLP's time: nanoseconds since the Unix epoch.
func nanos(t time.Time) uint64 { return uint64(max(0, t.UnixNano())) }
