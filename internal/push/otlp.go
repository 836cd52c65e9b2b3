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

	"google.golang.org/protobuf/encoding/protowire"
)

// OTLP metrics over HTTP (protobuf, gzip), as the OTLP/HTTP specification
// says: the same snapshots as remote write, as cumulative sums, gauges
// and exponential histograms (scale 6, the buckets of the native
// histograms, so the same error).
//
// The messages are OTLP's (opentelemetry/proto's collector/metrics/v1,
// metrics/v1, common/v1 and resource/v1), written with protowire
// (wire.go); this file builds and posts them. It used the OpenTelemetry
// SDK's otlpmetrichttp exporter until that exporter's gRPC imports
// (open-telemetry-go#2579, open: its config and the collector's generated
// service pull in gRPC and grpc-gateway) were found to cost every gather
// command, fetch too, 2.2 MiB of resident memory from its start and 4.2 MB
// of binary (see docs/prometheus.md), for the export of a struct; then
// OpenTelemetry's generated "slim" message types, until their descriptors
// and protobuf's runtime, with remote write's, were found to cost 1.8 to
// 2.1 MiB more (wire.go). The SDK's instruments and reader were never used: the
// series has already aggregated every interval, and recording the
// requests a second time is what this package exists not to do.

// otlpSink sends snapshots as OTLP/HTTP export requests.
type otlpSink struct {
	rawURL string
	client *http.Client
	rt     *recordingTransport
	res    []label // the resource's attributes
	attrs  []label // every point's, sorted by name
	// targets are the per-target series' attributes.
	targets [][]label
	raw     []byte       // the encoded request, reused
	zbuf    bytes.Buffer // the gzipped request, reused
	zw      *gzip.Writer
}

// otlpScope is the instrumentation scope's name in every export.
const otlpScope = "github.com/gather-dev/gather/internal/push"

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
	return &otlpSink{rawURL: rawURL, client: &http.Client{Transport: rt}, rt: rt, zw: gzip.NewWriter(nil)}, nil
}

func (o *otlpSink) name() string                 { return "otlp" }
func (o *otlpSink) url() string                  { return o.rawURL }
func (o *otlpSink) histograms() (string, string) { return "exponential", "" }

func (o *otlpSink) start(labels []label, runID string, targets []string) {
	o.attrs = append(o.attrs, labels...)
	for _, name := range targets {
		o.targets = append(o.targets, withAttr(o.attrs, "target", name))
	}
	o.res = []label{{"service.instance.id", runID}, {"service.name", "gather"}}
}

func (o *otlpSink) close() { o.rt.next.CloseIdleConnections() }

func (o *otlpSink) samples(s *snapshot) int {
	metrics := allMetrics()
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
	o.raw = o.request(o.raw[:0], snaps)
	o.zbuf.Reset()
	o.zw.Reset(&o.zbuf)
	o.zw.Write(o.raw)
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
		if protobuf && len(answer) > 0 {
			if rejected, msg, ok := partialSuccess(answer); ok && (rejected != 0 || msg != "") {
				return 0, 0, fmt.Errorf("%w: %d data points rejected: %s", errPermanent, rejected, msg)
			}
		}
		return len(snaps) * o.samples(nil), o.rt.bytes, nil
	}
	// The answer is a google.rpc.Status, or text from a proxy.
	msg := strings.TrimSpace(string(answer))
	if protobuf {
		if m, ok := rpcStatusMessage(answer); ok {
			msg = m
		}
	}
	err = fmt.Errorf("%s: %s", resp.Status, msg)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		// What OTLP/HTTP says a client retries.
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("%w: %w", errPermanent, err)
}

// OTLP's field numbers, from opentelemetry/proto's .proto files, for the
// fields written here.
const (
	otlpResourceMetrics = 1 // ExportMetricsServiceRequest.resource_metrics

	otlpResource     = 1 // ResourceMetrics.resource
	otlpScopeMetrics = 2 // ResourceMetrics.scope_metrics

	otlpResourceAttributes = 1 // Resource.attributes

	otlpScopeField   = 1 // ScopeMetrics.scope
	otlpMetricsField = 2 // ScopeMetrics.metrics
	otlpScopeName    = 1 // InstrumentationScope.name

	otlpKey         = 1 // KeyValue.key
	otlpValue       = 2 // KeyValue.value
	otlpStringValue = 1 // AnyValue.string_value (a oneof member)

	otlpMetricName   = 1  // Metric.name
	otlpMetricUnit   = 3  // Metric.unit
	otlpGauge        = 5  // Metric.gauge (oneof data)
	otlpSum          = 7  // Metric.sum (oneof data)
	otlpExponential  = 10 // Metric.exponential_histogram (oneof data)
	otlpDataPoints   = 1  // Gauge, Sum and ExponentialHistogram.data_points
	otlpTemporality  = 2  // Sum and ExponentialHistogram.aggregation_temporality
	otlpIsMonotonic  = 3  // Sum.is_monotonic
	otlpCumulative   = 2  // AggregationTemporality CUMULATIVE
	otlpNumberAttrs  = 7  // NumberDataPoint.attributes
	otlpStartTime    = 2  // NumberDataPoint and ExponentialHistogramDataPoint.start_time_unix_nano (fixed64)
	otlpTime         = 3  // NumberDataPoint and ExponentialHistogramDataPoint.time_unix_nano (fixed64)
	otlpAsDouble     = 4  // NumberDataPoint.as_double (oneof value)
	otlpExpAttrs     = 1  // ExponentialHistogramDataPoint.attributes
	otlpExpCount     = 4  // fixed64
	otlpExpSum       = 5  // optional double
	otlpExpScale     = 6  // sint32
	otlpExpZeroCount = 7  // fixed64
	otlpExpPositive  = 8  // Buckets
	otlpExpZeroThres = 14 // double
	otlpBucketOffset = 1  // Buckets.offset (sint32)
	otlpBucketCounts = 2  // Buckets.bucket_counts (packed uint64)
)

// request appends to b the snapshots as one ExportMetricsServiceRequest:
// a metric per name, a data point per snapshot and attribute set.
// Cumulative points start at the run's first interval.
func (o *otlpSink) request(b []byte, snaps []*snapshot) []byte {
	metrics := allMetrics()
	p := pbuf{b: b}
	begin := nanos(snaps[0].begin)
	p.message(otlpResourceMetrics, func() {
		p.message(otlpResource, func() { p.attributes(otlpResourceAttributes, o.res) })
		p.message(otlpScopeMetrics, func() {
			p.message(otlpScopeField, func() { p.str(otlpScopeName, otlpScope) })
			for i, m := range metrics {
				if slices.ContainsFunc(metrics[:i], func(prev metric) bool { return prev.otel == m.otel }) {
					continue // its points went with the first metric of its name
				}
				p.message(otlpMetricsField, func() { o.numberMetric(&p, snaps, begin, m.otel) })
			}
			for _, h := range histograms {
				p.message(otlpMetricsField, func() {
					p.str(otlpMetricName, h.otel)
					p.str(otlpMetricUnit, "s")
					p.message(otlpExponential, func() {
						for _, s := range snaps {
							p.message(otlpDataPoints, func() { exponentialPoint(&p, h.value(s), o.attrs, snaps[0].begin, s.at) })
						}
						p.uvarint(otlpTemporality, otlpCumulative)
					})
				})
			}
		})
	})
	return p.b
}

// numberMetric writes the Metric of OTLP name otel: a cumulative sum or
// a gauge, with the points of every metric of that name.
func (o *otlpSink) numberMetric(p *pbuf, snaps []*snapshot, begin uint64, otel string) {
	metrics := allMetrics()
	first := metrics[slices.IndexFunc(metrics, func(m metric) bool { return m.otel == otel })]
	p.str(otlpMetricName, otel)
	p.str(otlpMetricUnit, first.unit)
	data := uint64(otlpGauge)
	if first.counter {
		data = otlpSum
	}
	p.message(protowire.Number(data), func() {
		point := func(attrs []label, start, at uint64, v float64) {
			p.message(otlpDataPoints, func() {
				p.fixed64(otlpStartTime, start)
				p.fixed64(otlpTime, at)
				p.attributes(otlpNumberAttrs, attrs)
				p.doubleAlways(otlpAsDouble, v) // after, as proto.Marshal puts a oneof
			})
		}
		for _, m := range metrics {
			if m.otel != otel {
				continue
			}
			if m.perTarget != nil {
				for k, attrs := range o.targets {
					for _, s := range snaps {
						point(attrs, begin, nanos(s.at), m.targetValue(s, k))
					}
				}
				continue
			}
			attrs := o.attrs
			if m.attr.name != "" {
				attrs = withAttr(attrs, m.attr.name, m.attr.value)
			}
			for _, s := range snaps {
				start := begin
				if !m.counter {
					start = nanos(s.at.Add(-s.length)) // a gauge's value is the interval's
				}
				point(attrs, start, nanos(s.at), m.value(s))
			}
		}
		if first.counter {
			p.uvarint(otlpTemporality, otlpCumulative)
			p.uvarint(otlpIsMonotonic, 1)
		}
	})
}

// exponentialPoint writes l as an OTLP ExponentialHistogramDataPoint.
// OTLP bucket i holds (base^i, base^(i+1)]: native bucket i+1.
func exponentialPoint(p *pbuf, l *latency, attrs []label, start, at time.Time) {
	p.attributes(otlpExpAttrs, attrs)
	p.fixed64(otlpStartTime, nanos(start))
	p.fixed64(otlpTime, nanos(at))
	p.fixed64(otlpExpCount, uint64(l.count))
	p.doubleAlways(otlpExpSum, l.sum)
	p.sint(otlpExpScale, nativeSchema)
	p.fixed64(otlpExpZeroCount, uint64(l.zero))
	p.message(otlpExpPositive, func() {
		if len(l.native) == 0 {
			return
		}
		p.sint(otlpBucketOffset, int64(l.first-1))
		counts := make([]uint64, len(l.native))
		for i, c := range l.native {
			counts[i] = uint64(c)
		}
		p.packedUvarint(otlpBucketCounts, counts)
	})
	p.double(otlpExpZeroThres, nativeZeroThreshold)
}

// attributes writes attrs as repeated KeyValue field num, each a string.
func (p *pbuf) attributes(num protowire.Number, attrs []label) {
	for _, a := range attrs {
		p.message(num, func() {
			p.str(otlpKey, a.name)
			p.message(otlpValue, func() { p.strAlways(otlpStringValue, a.value) })
		})
	}
}

// withAttr returns attrs, sorted by name, with one more attribute, in a
// new slice: the attribute sets of series are shared between points.
func withAttr(attrs []label, key, value string) []label {
	out := append(slices.Clip(attrs), label{key, value})
	slices.SortStableFunc(out, func(a, b label) int { return cmpString(a.name, b.name) })
	return out
}

// nanos is t as OTLP's time: nanoseconds since the Unix epoch.
func nanos(t time.Time) uint64 { return uint64(max(0, t.UnixNano())) }
