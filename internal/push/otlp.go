package push

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
)

// OTLP metrics over HTTP (protobuf), through the OpenTelemetry SDK's
// exporter: the same snapshots as remote write, as cumulative sums,
// gauges and exponential histograms (scale 6, the buckets of the native
// histograms, so the same error). The SDK's own instruments and reader
// are left out: the series has already aggregated every interval, and
// recording the requests a second time is what this package exists not
// to do.

// otlpSink sends snapshots through an OTLP/HTTP exporter.
type otlpSink struct {
	rawURL string
	exp    *otlpmetrichttp.Exporter
	rt     *recordingTransport
	res    *resource.Resource
	attrs  []attribute.KeyValue
	// targets are the per-target series' attribute sets.
	targets []attribute.Set
}

// OTLP returns a sink that sends the run to an OTLP/HTTP metrics
// endpoint: the full URL, such as http://127.0.0.1:4318/v1/metrics for
// an OpenTelemetry collector.
func OTLP(rawURL string) (Sink, error) {
	rt, err := newRecordingTransport(rawURL)
	if err != nil {
		return nil, err
	}
	exp, err := otlpmetrichttp.New(context.Background(),
		otlpmetrichttp.WithEndpointURL(rawURL),
		otlpmetrichttp.WithHTTPClient(&http.Client{Transport: rt}),
		otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression),
		// The outlet retries, with its buffer, and bounds each write.
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}),
		otlpmetrichttp.WithTimeout(time.Hour))
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %v", rawURL, err)
	}
	return &otlpSink{rawURL: rawURL, exp: exp, rt: rt}, nil
}

func (o *otlpSink) name() string                 { return "otlp" }
func (o *otlpSink) url() string                  { return o.rawURL }
func (o *otlpSink) histograms() (string, string) { return "exponential", "" }

func (o *otlpSink) start(labels []label, runID string, targets []string) {
	for _, l := range labels {
		o.attrs = append(o.attrs, attribute.String(l.name, l.value))
	}
	for _, name := range targets {
		attrs := append(o.attrs[:len(o.attrs):len(o.attrs)], attribute.String("target", name))
		o.targets = append(o.targets, attribute.NewSet(attrs...))
	}
	o.res = resource.NewSchemaless(attribute.String("service.name", "gather"),
		attribute.String("service.instance.id", runID))
}

func (o *otlpSink) close() {
	o.exp.Shutdown(context.Background())
	o.rt.next.CloseIdleConnections()
}

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

func (o *otlpSink) write(ctx context.Context, snaps []*snapshot) (samples, bytes int, err error) {
	rm := o.resourceMetrics(snaps)
	o.rt.reset()
	if err := o.exp.Export(ctx, rm); err != nil {
		return 0, 0, err
	}
	return len(snaps) * o.samples(nil), o.rt.bytes, nil
}

// resourceMetrics returns the snapshots as one export: a metric per name,
// a data point per snapshot and attribute set. Cumulative points start
// at the run's first interval.
func (o *otlpSink) resourceMetrics(snaps []*snapshot) *metricdata.ResourceMetrics {
	begin := snaps[0].begin
	var ms []metricdata.Metrics
	index := map[string]int{}
	for _, m := range metrics {
		i, ok := index[m.otel]
		if !ok {
			i = len(ms)
			index[m.otel] = i
			var data metricdata.Aggregation = metricdata.Gauge[float64]{}
			if m.counter {
				data = metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
			}
			ms = append(ms, metricdata.Metrics{Name: m.otel, Unit: m.unit, Data: data})
		}
		var points []metricdata.DataPoint[float64]
		if m.perTarget != nil {
			for k, set := range o.targets {
				for _, s := range snaps {
					points = append(points, metricdata.DataPoint[float64]{Attributes: set, StartTime: begin, Time: s.at,
						Value: m.targetValue(s, k)})
				}
			}
		} else {
			attrs := o.attrs
			if m.attr.name != "" {
				attrs = append(attrs[:len(attrs):len(attrs)], attribute.String(m.attr.name, m.attr.value))
			}
			set := attribute.NewSet(attrs...)
			for _, s := range snaps {
				start := begin
				if !m.counter {
					start = s.at.Add(-s.length) // a gauge's value is the interval's
				}
				points = append(points, metricdata.DataPoint[float64]{Attributes: set, StartTime: start, Time: s.at,
					Value: m.value(s)})
			}
		}
		switch d := ms[i].Data.(type) {
		case metricdata.Sum[float64]:
			d.DataPoints = append(d.DataPoints, points...)
			ms[i].Data = d
		case metricdata.Gauge[float64]:
			d.DataPoints = append(d.DataPoints, points...)
			ms[i].Data = d
		}
	}
	set := attribute.NewSet(o.attrs...)
	for _, h := range histograms {
		data := metricdata.ExponentialHistogram[float64]{Temporality: metricdata.CumulativeTemporality}
		for _, s := range snaps {
			data.DataPoints = append(data.DataPoints, exponentialPoint(h.value(s), set, begin, s.at))
		}
		ms = append(ms, metricdata.Metrics{Name: h.otel, Unit: "s", Data: data})
	}
	return &metricdata.ResourceMetrics{Resource: o.res, ScopeMetrics: []metricdata.ScopeMetrics{{
		Scope:   instrumentation.Scope{Name: "github.com/gather-dev/gather/internal/push"},
		Metrics: ms,
	}}}
}

// exponentialPoint returns l as an OTLP exponential histogram point. OTLP
// bucket i holds (base^i, base^(i+1)]: native bucket i+1.
func exponentialPoint(l *latency, set attribute.Set, start, at time.Time) metricdata.ExponentialHistogramDataPoint[float64] {
	p := metricdata.ExponentialHistogramDataPoint[float64]{
		Attributes: set, StartTime: start, Time: at,
		Count: uint64(l.count), Sum: l.sum, Scale: nativeSchema,
		ZeroCount: uint64(l.zero), ZeroThreshold: nativeZeroThreshold,
	}
	if len(l.native) > 0 {
		p.PositiveBucket.Offset = l.first - 1
		p.PositiveBucket.Counts = make([]uint64, len(l.native))
		for i, c := range l.native {
			p.PositiveBucket.Counts[i] = uint64(c)
		}
	}
	return p
}
