package push

import (
	"compress/gzip"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	collector "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gather-dev/gather/internal/report"
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
		var w pbuf
		exponentialPoint(&w, &l, nil, time.Time{}, time.Time{})
		var p metricspb.ExponentialHistogramDataPoint
		if err := proto.Unmarshal(w.b, &p); err != nil {
			t.Fatalf("%d µs: %v", us, err)
		}
		v := float64(us) / 1e6
		i := float64(p.Positive.Offset)
		lo, hi := math.Pow(base, i), math.Pow(base, i+1)
		// The value placed is the midpoint of its interval histogram
		// bucket, within 0.5% of it.
		if len(p.Positive.BucketCounts) != 1 || p.Count != 1 || !(lo < v*1.005 && v*0.995 <= hi) {
			t.Errorf("%d µs: bucket %v = (%g, %g], count %d", us, p.Positive, lo, hi, p.Count)
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

// The answers of an OTLP/HTTP receiver: success, a partial success, a
// refusal with a google.rpc.Status, and the statuses OTLP/HTTP says to
// retry; only those are not permanent.
func TestOTLPAnswers(t *testing.T) {
	t.Parallel()
	protobuf := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        []byte
		err         string // "" for success
		permanent   bool
	}{
		{"ok, empty", 200, "", nil, "", false},
		{"ok, no partial success", 200, "application/x-protobuf", protobuf(&collector.ExportMetricsServiceResponse{}), "", false},
		{"partial success", 200, "application/x-protobuf", protobuf(&collector.ExportMetricsServiceResponse{
			PartialSuccess: &collector.ExportMetricsPartialSuccess{RejectedDataPoints: 3, ErrorMessage: "too old"}}),
			"3 data points rejected: too old", true},
		{"refused, with a status", 400, "application/x-protobuf", protobuf(&statuspb.Status{Code: 3, Message: "bad metric name"}),
			"400 Bad Request: bad metric name", true},
		{"refused, text", 401, "text/plain", []byte("no token\n"), "401 Unauthorized: no token", true},
		{"busy", 429, "", nil, "429 Too Many Requests", false},
		{"unavailable", 503, "text/plain", []byte("restarting"), "503 Service Unavailable: restarting", false},
		{"server error", 500, "", nil, "500 Internal Server Error", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" ||
					r.Header.Get("Content-Encoding") != "gzip" {
					t.Errorf("%s with %v", r.Method, r.Header)
				}
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(tc.status)
				w.Write(tc.body)
			}))
			defer srv.Close()
			sink, err := OTLP(srv.URL + "/v1/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer sink.close()
			sink.start([]label{{"run", "r1"}}, "r1", []string{"t"})
			now := time.Unix(1000, 0)
			snap := &snapshot{at: now, begin: now.Add(-time.Second), length: time.Second, first: true,
				targets: make([]report.TargetCounts, 1)}
			samples, bytes, err := sink.write(t.Context(), []*snapshot{snap})
			switch {
			case tc.err == "" && (err != nil || samples != sink.samples(snap) || bytes == 0):
				t.Errorf("got %d samples, %d bytes, %v; want %d samples", samples, bytes, err, sink.samples(snap))
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, errPermanent) != tc.permanent):
				t.Errorf("got %v, want %q (permanent: %v)", err, tc.err, tc.permanent)
			}
		})
	}
}
