package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// A run that streamed its metrics says what each stream delivered, and
// warns of what it did not, in text and JSON; a run that did not stream
// says nothing of it.
func TestExports(t *testing.T) {
	t.Parallel()
	s := Merge()
	var plain bytes.Buffer
	if err := s.WriteText(&plain); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "Metrics streamed") {
		t.Error("a run without streams has a Metrics section")
	}
	s.Exports = []Export{
		{Sink: "prometheus", URL: "http://127.0.0.1:9090/api/v1/write", Run: "r1", Histograms: "native",
			Intervals: 11, Samples: 276, Bytes: 9120, Writes: 11},
		{Sink: "otlp", URL: "http://127.0.0.1:4318/v1/metrics", Run: "r1", Histograms: "exponential",
			Intervals: 11, Samples: 92, Bytes: 4000, Writes: 4, Failed: 2, Dropped: 46, DroppedIntervals: 2,
			LastError: "no answer within 5s"},
	}
	var text bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nMetrics streamed, labelled run=\"r1\"\n  prometheus  http://127.0.0.1:9090/api/v1/write\n              11 intervals, 276 samples in 11 writes (9.12 kB), native histograms\n",
		"\nWARNING: otlp: 46 samples of 2 intervals not delivered, 2 writes failed (last:\n         no answer within 5s)\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := s.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Exports []map[string]any `json:"exports"`
	}
	if err := json.Unmarshal(js.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Exports) != 2 || r.Exports[1]["dropped_samples"] != 46.0 || r.Exports[0]["histograms"] != "native" {
		t.Errorf("JSON exports %v", r.Exports)
	}
}
