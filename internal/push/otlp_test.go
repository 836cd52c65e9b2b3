package push

import (
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"go.opentelemetry.io/otel/attribute"
	collector "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// OTLP's exponential bucket i holds (base^i, base^(i+1)]: a value lands
// in the bucket whose bounds hold it, one below the native index.
func TestExponentialPoint(t *testing.T) {
	t.Parallel()
	base := math.Exp2(math.Exp2(-nativeSchema))
	for _, us := range []int64{1, 7, 100, 1234, 99999, 5_000_000} {
		h := hdrhistogram.New(1, 3600e6, 2)
		h.RecordValue(us)
		var l latency
		l.add(h)
		p := exponentialPoint(&l, attribute.NewSet(), time.Time{}, time.Time{})
		v := float64(us) / 1e6
		i := float64(p.PositiveBucket.Offset)
		lo, hi := math.Pow(base, i), math.Pow(base, i+1)
		// The value placed is the midpoint of its interval histogram
		// bucket, within 0.5% of it.
		if len(p.PositiveBucket.Counts) != 1 || p.Count != 1 || !(lo < v*1.005 && v*0.995 <= hi) {
			t.Errorf("%d µs: bucket %v = (%g, %g], count %d", us, p.PositiveBucket, lo, hi, p.Count)
		}
	}
}

// otlpReceiver keeps the data points an OTLP/HTTP endpoint is sent.
type otlpReceiver struct {
	mu      sync.Mutex
	metrics map[string][]*metricspb.Metric
}

func (rc *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = z
	}
	raw, _ := io.ReadAll(body)
	var req collector.ExportMetricsServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.metrics == nil {
		rc.metrics = map[string][]*metricspb.Metric{}
	}
	for _, rm := range req.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				rc.metrics[m.Name] = append(rc.metrics[m.Name], m)
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collector.ExportMetricsServiceResponse{})
	w.Write(out)
}

// A run streamed to an OTLP endpoint: cumulative sums end at the run's
// totals, and the exponential histogram's p99 is within NativeError of
// gather's own.
func TestOTLP(t *testing.T) {
	t.Parallel()
	rc := &otlpReceiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	sink, err := OTLP(srv.URL + "/v1/metrics")
	if err != nil {
		t.Fatal(err)
	}
	sum, e, _ := streamedRun(t, 10*time.Second, sink)
	checkRun(t, sum, e)
	if e.Dropped != 0 || e.Writes == 0 || e.Bytes == 0 || e.Histograms != "exponential" {
		t.Errorf("export %+v", e)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	reqs := rc.metrics["gather.requests"]
	if len(reqs) == 0 {
		t.Fatal("no gather.requests")
	}
	pts := reqs[len(reqs)-1].GetSum().GetDataPoints()
	last := pts[len(pts)-1]
	if int64(last.GetAsDouble()) != sum.Requests || !reqs[0].GetSum().GetIsMonotonic() ||
		reqs[0].GetSum().GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Errorf("gather.requests ends at %v, want %d, cumulative and monotonic", last.GetAsDouble(), sum.Requests)
	}
	byTarget := rc.metrics["gather.requests_by_target"]
	if len(byTarget) == 0 {
		t.Fatal("no gather.requests_by_target")
	}
	tpts := byTarget[len(byTarget)-1].GetSum().GetDataPoints()
	attrs := map[string]string{}
	for _, kv := range tpts[len(tpts)-1].Attributes {
		attrs[kv.Key] = kv.Value.GetStringValue()
	}
	if attrs["run"] != "r1" || attrs["target"] != "t" || int64(tpts[len(tpts)-1].GetAsDouble()) != sum.Requests {
		t.Errorf("gather.requests_by_target ends at %v with attributes %v", tpts[len(tpts)-1].GetAsDouble(), attrs)
	}
	hs := rc.metrics["gather.response"]
	if len(hs) == 0 {
		t.Fatal("no gather.response")
	}
	hpts := hs[len(hs)-1].GetExponentialHistogram().GetDataPoints()
	h := hpts[len(hpts)-1]
	if int64(h.Count) != sum.Response().Count || h.Scale != nativeSchema || hs[0].Unit != "s" {
		t.Fatalf("gather.response: count %d at scale %d in %q, want %d at %d in s", h.Count, h.Scale, hs[0].Unit, sum.Response().Count, nativeSchema)
	}
	base := math.Exp2(math.Exp2(-float64(h.Scale)))
	p99 := interpolate(0.99, int64(h.Count), func(yield func(lo, hi float64, n int64) bool) {
		for i, c := range h.Positive.BucketCounts {
			k := float64(h.Positive.Offset + int32(i))
			if !yield(math.Pow(base, k), math.Pow(base, k+1), int64(c)) {
				return
			}
		}
	})
	checkQuantile(t, "p99 of the exponential histogram", p99, sum, 99, NativeError)
}
