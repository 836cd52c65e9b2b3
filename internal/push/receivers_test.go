package push

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/gather-dev/gather/internal/loadgen"
	"github.com/gather-dev/gather/internal/report"
)

// The tests of this file run real (short) loads against an in-process
// server, streaming to in-process receivers over loopback.

const runLength = 700 * time.Millisecond

// benchTarget returns the URL of a server for the runs to load.
func benchTarget(t *testing.T) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + "/")
	return u
}

// streamedRun runs a load of runLength at 1000 requests/s (paced, so
// that the tests running beside it get the CPU too) in intervals of
// 100 ms, streamed to sink, and returns its summary, what the sink
// delivered and how long Close took. It fails the test if the stream
// ever held up the run: an OnInterval call that took longer than
// maxHook, far more than folding an interval takes (some tens of µs)
// and less than the receivers of these tests make a write wait.
func streamedRun(t *testing.T, timeout time.Duration, sink Sink) (*report.Summary, report.Export, time.Duration) {
	t.Helper()
	s := newTestStream(t, Config{Timeout: timeout, CPU: loadgen.CPUTime}, sink)
	var slowest time.Duration
	plan := &loadgen.Plan{URL: benchTarget(t), Connections: 2, Duration: runLength, Rate: 1000,
		Interval: 100 * time.Millisecond, OnInterval: func(iv report.Interval) {
			start := time.Now()
			s.Interval(iv)
			slowest = max(slowest, time.Since(start))
		}}
	sum, err := loadgen.Run(t.Context(), plan)
	start := time.Now()
	exports := s.Close()
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if slowest > maxHook {
		t.Errorf("an OnInterval call took %v: the stream held up the run", slowest)
	}
	return sum, exports[0], took
}

// maxHook bounds an OnInterval call; see streamedRun.
const maxHook = 500 * time.Millisecond

// checkRun checks that the run did its work whatever the receiver did:
// every request the schedule made due was sent (or counted as dropped
// at the end), none failed, and the stream saw every interval.
func checkRun(t *testing.T, sum *report.Summary, e report.Export) {
	t.Helper()
	tot := sum.Series.Totals()
	if due := int64(1000 * runLength.Seconds()); sum.Errors != 0 || sum.Requests+sum.Dropped != due {
		t.Errorf("the run made %d requests (%d errors, %d dropped) of %d due", sum.Requests, sum.Errors, sum.Dropped, due)
	}
	if tot.Requests != sum.Requests {
		t.Errorf("series totals %d requests, run %d", tot.Requests, sum.Requests)
	}
	if e.Intervals != int64(sum.Series.Len()) {
		t.Errorf("the stream got %d intervals, the series has %d", e.Intervals, sum.Series.Len())
	}
}

// nativeSamples returns the samples n snapshots make in native form.
func nativeSamples(n int64) int64 {
	counters := int64(len(histograms))
	metrics := allMetrics()
	for _, m := range metrics {
		if m.counter {
			counters++
		}
	}
	return n*int64(len(metrics)+len(histograms)) + counters
}

// A receiver that hangs, one that answers 500, and one that is not
// there: the run goes as it would have, and every sample is counted as
// not delivered.
func TestReceiverFailures(t *testing.T) {
	t.Parallel()
	absent := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr + "/api/v1/write"
	}
	serve := func(h http.HandlerFunc) func(t *testing.T) string {
		return func(t *testing.T) string {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			return srv.URL + "/api/v1/write"
		}
	}
	for _, tc := range []struct {
		name     string
		receiver func(t *testing.T) string
		lastErr  string
	}{
		{"hangs", serve(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // then the server sees the client leave
			<-r.Context().Done()
		}), "no answer within 1s"},
		{"answers 500", serve(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "storage is down", http.StatusInternalServerError)
		}), "500 Internal Server Error: storage is down"},
		{"is not there", absent, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink, err := Prometheus(tc.receiver(t), HistogramsAuto)
			if err != nil {
				t.Fatal(err)
			}
			sum, e, took := streamedRun(t, time.Second, sink)
			checkRun(t, sum, e)
			if took > 3*time.Second {
				t.Errorf("Close took %v, want about the 1 s timeout", took)
			}
			if e.Samples != 0 || e.Writes != 0 || e.Failed == 0 {
				t.Errorf("export %+v: want no write delivered, some failed", e)
			}
			if e.DroppedIntervals != e.Intervals || e.Dropped != nativeSamples(e.Intervals) {
				t.Errorf("dropped %d samples of %d intervals, want %d of %d", e.Dropped, e.DroppedIntervals,
					nativeSamples(e.Intervals), e.Intervals)
			}
			if !strings.Contains(e.LastError, tc.lastErr) {
				t.Errorf("last error %q, want %q", e.LastError, tc.lastErr)
			}
		})
	}
}

// recorder is a remote-write receiver that keeps what it is sent,
// answering 503 to the first fail requests and, if refuseNative, 400 to
// any request with native histograms.
type recorder struct {
	fail         atomic.Int64
	refuseNative bool
	mu           sync.Mutex
	series       map[string]*prompb.TimeSeries // by labels
	requests     int
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.fail.Add(-1) >= 0 {
		http.Error(w, "not yet", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	var req prompb.WriteRequest
	if err == nil {
		err = req.Unmarshal(raw)
	}
	if err != nil || r.Header.Get("Content-Encoding") != "snappy" || r.Header.Get("X-Prometheus-Remote-Write-Version") != "0.1.0" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	for _, ts := range req.Timeseries {
		if len(ts.Histograms) > 0 && rc.refuseNative {
			http.Error(w, "native histograms are disabled", http.StatusBadRequest)
			return
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if rc.series == nil {
		rc.series = map[string]*prompb.TimeSeries{}
	}
	for _, ts := range req.Timeseries {
		if !slices.IsSortedFunc(ts.Labels, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) }) {
			http.Error(w, "labels not sorted", http.StatusBadRequest)
			return
		}
		var key []string
		for _, l := range ts.Labels {
			key = append(key, l.Name+"="+l.Value)
		}
		k := strings.Join(key, ",")
		if rc.series[k] == nil {
			rc.series[k] = &prompb.TimeSeries{Labels: ts.Labels}
		}
		rc.series[k].Samples = append(rc.series[k].Samples, ts.Samples...)
		rc.series[k].Histograms = append(rc.series[k].Histograms, ts.Histograms...)
	}
}

// get returns the series named name with the label given, if any.
func (rc *recorder) get(name string, extra ...string) *prompb.TimeSeries {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, ts := range rc.series {
		labels := map[string]string{}
		for _, l := range ts.Labels {
			labels[l.Name] = l.Value
		}
		if labels["__name__"] == name && (len(extra) == 0 || labels[extra[0]] == extra[1]) {
			return ts
		}
	}
	return nil
}

// recordedRun is a streamedRun to rc.
func recordedRun(t *testing.T, rc *recorder) (*report.Summary, report.Export) {
	t.Helper()
	srv := httptest.NewServer(rc)
	defer srv.Close()
	sink, err := Prometheus(srv.URL+"/api/v1/write", HistogramsAuto)
	if err != nil {
		t.Fatal(err)
	}
	sum, e, _ := streamedRun(t, 10*time.Second, sink)
	checkRun(t, sum, e)
	return sum, e
}

// A receiver that refuses the first writes and then takes them: the
// intervals wait in the buffer and all arrive, each series with one point
// per interval and the zero point before, in time order, the last points
// the run's totals.
func TestReceiverRecovers(t *testing.T) {
	t.Parallel()
	rc := &recorder{}
	rc.fail.Store(3)
	sum, e := recordedRun(t, rc)
	if e.Dropped != 0 || e.Failed == 0 || e.Samples != nativeSamples(e.Intervals) || e.Histograms != "native" {
		t.Errorf("export %+v: want some failed writes, all %d samples delivered, native", e, nativeSamples(e.Intervals))
	}
	reqs := rc.get("gather_requests_total")
	if reqs == nil || len(reqs.Samples) != int(e.Intervals)+1 {
		t.Fatalf("gather_requests_total: %v, want %d points", reqs, e.Intervals+1)
	}
	for i := 1; i < len(reqs.Samples); i++ {
		if reqs.Samples[i].Timestamp <= reqs.Samples[i-1].Timestamp || reqs.Samples[i].Value < reqs.Samples[i-1].Value {
			t.Fatalf("gather_requests_total goes back at point %d: %v", i, reqs.Samples)
		}
	}
	if last := reqs.Samples[len(reqs.Samples)-1]; int64(last.Value) != sum.Requests || reqs.Samples[0].Value != 0 {
		t.Errorf("gather_requests_total from %v to %v, want 0 to %d", reqs.Samples[0].Value, last.Value, sum.Requests)
	}
	if ok := rc.get("gather_responses_total", "status", "2xx"); ok == nil || int64(ok.Samples[len(ok.Samples)-1].Value) != sum.Status[200] {
		t.Errorf("gather_responses_total{status=2xx} %v, want %d at the end", ok, sum.Status[200])
	}
	h := rc.get("gather_response_seconds")
	if h == nil || len(h.Histograms) != int(e.Intervals)+1 {
		t.Fatalf("gather_response_seconds: %v, want %d histograms", h, e.Intervals+1)
	}
	last := h.Histograms[len(h.Histograms)-1]
	if int64(last.GetCountInt()) != sum.Response().Count || last.Schema != nativeSchema {
		t.Errorf("last histogram counts %d at schema %d, want %d at %d", last.GetCountInt(), last.Schema, sum.Response().Count, nativeSchema)
	}
	if cpu := rc.get("gather_generator_cpu_seconds_total"); cpu == nil || cpu.Samples[len(cpu.Samples)-1].Value <= 0 {
		t.Errorf("gather_generator_cpu_seconds_total %v, want the CPU used", cpu)
	}
	for _, l := range reqs.Labels {
		if l.Name == "run" && l.Value != "r1" || l.Name == "target" {
			t.Errorf("gather_requests_total has label %s=%s", l.Name, l.Value)
		}
	}
	byTarget := rc.get("gather_requests_by_target_total", "target", "t")
	if byTarget == nil || int64(byTarget.Samples[len(byTarget.Samples)-1].Value) != sum.Requests {
		t.Errorf("gather_requests_by_target_total{target=t} %v, want %d at the end", byTarget, sum.Requests)
	}
}

// A receiver that refuses native histograms gets classic buckets from
// the first write on, and the report says why.
func TestReceiverWithoutNativeHistograms(t *testing.T) {
	t.Parallel()
	rc := &recorder{refuseNative: true}
	sum, e := recordedRun(t, rc)
	if e.Histograms != "classic" || !strings.Contains(e.Note, "native histograms are disabled") || e.Dropped != 0 {
		t.Errorf("export %+v, want classic buckets, none dropped, and why", e)
	}
	count := rc.get("gather_response_seconds_count")
	inf := rc.get("gather_response_seconds_bucket", "le", "+Inf")
	if count == nil || inf == nil || int64(count.Samples[len(count.Samples)-1].Value) != sum.Response().Count ||
		inf.Samples[len(inf.Samples)-1].Value != count.Samples[len(count.Samples)-1].Value {
		t.Errorf("classic _count %v and le=+Inf %v, want %d at the end", count, inf, sum.Response().Count)
	}
	if rc.get("gather_response_seconds") != nil {
		t.Error("native histograms arrived although refused")
	}
}

// checkQuantile checks a quantile estimated from the streamed buckets
// against gather's own percentile p of the run: within maxErr of the
// values at the ranks on either side, since in a sparse tail two
// neighbouring samples can be far apart and the two ways of counting
// ranks may pick either.
func checkQuantile(t *testing.T, what string, got float64, sum *report.Summary, p, maxErr float64) {
	t.Helper()
	step := 100 / float64(sum.Response().Count)
	lo := sum.ResponseAt(p-step).Seconds() * (1 - maxErr)
	hi := sum.ResponseAt(min(p+step, 100)).Seconds() * (1 + maxErr)
	if got < lo || got > hi {
		t.Errorf("%s is %g s; gather's p%v is %g s, want within %g to %g", what, got, p, sum.ResponseAt(p).Seconds(), lo, hi)
	}
}
