package push

import (
	"bytes"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	collector "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gather-dev/gather/internal/report"
)

// wireSnapshots returns snapshots of intervals with latencies and two
// targets: every kind of field the sinks write.
func wireSnapshots() []*snapshot {
	var acc accumulator
	var snaps []*snapshot
	for i, iv := range benchIntervals(4, 300) {
		iv.Targets = []report.TargetCounts{{Requests: int64(i + 1), Errors: 1}, {Requests: 2, Non2xx: int64(i)}}
		iv.Errors, iv.Status[2], iv.Status[5] = 1, iv.Requests-1, 1
		snaps = append(snaps, acc.fold(iv))
	}
	return snaps
}

// What the sinks write is what proto.Marshal writes for the same message
// in the generated types of other projects: decoded by them with unknown
// fields dropped and written again, it comes out byte for byte the same.
// A wrong field number would be dropped, a wrong wire type would not
// decode, a field left out or in the wrong place would move bytes.
func TestWireIsCanonical(t *testing.T) {
	t.Parallel()
	snaps := wireSnapshots()
	labels := []label{{"instance", "a"}, {"run", "r1"}}
	targets := []string{"login", "search"}

	o := &otlpSink{}
	o.start(labels, "r1", targets)
	raw := o.request(nil, snaps)
	var req collector.ExportMetricsServiceRequest
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &req); err != nil {
		t.Fatalf("OTLP: %v", err)
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(&req)
	if err != nil || !bytes.Equal(again, raw) {
		i := 0
		for i < min(len(raw), len(again)) && raw[i] == again[i] {
			i++
		}
		t.Errorf("OTLP: %d bytes written, %d after a round trip through the generated types (%v); first difference at %d: % x, % x", len(raw), len(again), err, i, raw[max(0, i-20):i+10], again[max(0, i-20):i+10])
	}
	if n := len(req.ResourceMetrics[0].ScopeMetrics[0].Metrics); n < len(histograms)+3 {
		t.Errorf("OTLP: %d metrics", n)
	}

	for _, native := range []bool{true, false} {
		p := &prometheusSink{}
		p.start(labels, "r1", targets)
		series := p.request(snaps, native)
		raw := writeRequest(nil, series)
		var wr prompb.WriteRequest
		if err := wr.Unmarshal(raw); err != nil {
			t.Fatalf("remote write (native %v): %v", native, err)
		}
		again, err := wr.Marshal()
		if err != nil || !bytes.Equal(again, raw) {
			t.Errorf("remote write (native %v): %d bytes written, %d after a round trip through prompb (%v)", native, len(raw), len(again), err)
		}
		if len(wr.Timeseries) != len(series) || countSamples(series) == 0 {
			t.Errorf("remote write (native %v): %d series decoded of %d", native, len(wr.Timeseries), len(series))
		}
		hists := 0
		for _, ts := range wr.Timeseries {
			hists += len(ts.Histograms)
		}
		if native != (hists > 0) {
			t.Errorf("remote write (native %v): %d native histograms", native, hists)
		}
	}
}

// Answers that are not the message asked for are told apart.
func TestWireAnswers(t *testing.T) {
	t.Parallel()
	status, _ := proto.Marshal(&collector.ExportMetricsServiceResponse{
		PartialSuccess: &collector.ExportMetricsPartialSuccess{RejectedDataPoints: 7, ErrorMessage: "late"}})
	if n, msg, ok := partialSuccess(status); n != 7 || msg != "late" || !ok {
		t.Errorf("partial success: %d %q %v", n, msg, ok)
	}
	for _, bad := range [][]byte{{0x0a, 0x05, 0x08}, {0xff}, []byte("not found\n")} {
		if _, _, ok := partialSuccess(bad); ok {
			t.Errorf("%q read as a partial success", bad)
		}
		if _, ok := rpcStatusMessage(bad); ok {
			t.Errorf("%q read as a google.rpc.Status", bad)
		}
	}
}
