package report

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// summaryOf records samples into one recorder and returns its summary with
// some metadata set.
func summaryOf(samples []Sample, elapsed time.Duration) *Summary {
	r := NewRecorder()
	for _, s := range samples {
		r.Record(s)
	}
	s := Merge(r)
	s.Target = "http://127.0.0.1:5000/"
	s.Method = "GET"
	s.Connections = 50
	s.Elapsed = elapsed
	return s
}

func roundTrip(t *testing.T, s *Summary) *Summary {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Save(&buf); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := Load(&buf)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return got
}

// sameReport fails unless a and b render to the same text and JSON and
// hold equal histograms.
func sameReport(t *testing.T, a, b *Summary) {
	t.Helper()
	if !a.response.Equals(b.response) || !a.service.Equals(b.service) {
		t.Errorf("histograms differ")
	}
	for _, w := range []func(*Summary, io.Writer) error{(*Summary).WriteText, (*Summary).WriteJSON} {
		var ba, bb bytes.Buffer
		if err := w(a, &ba); err != nil {
			t.Fatal(err)
		}
		if err := w(b, &bb); err != nil {
			t.Fatal(err)
		}
		if ba.String() != bb.String() {
			t.Errorf("reports differ:\n%s\n----\n%s", ba.String(), bb.String())
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	s := summaryOf(randomSamples(7, 5000), 3*time.Second+time.Nanosecond)
	s.Rate = 2000
	s.Generator = Generator{
		TargetRate: 2000, AchievedRate: 1666.5, SendLagP99: 3 * time.Millisecond,
		SendLagMax: 40 * time.Millisecond, GCPause: 1234567, CPU: 987654321, Bound: true,
		LateGenerator: 17, LateWaiting: 29,
		Warnings: []string{"achieved rate is 83% of the target"},
	}
	got := roundTrip(t, s)
	if got.Target != s.Target || got.Method != s.Method || got.Connections != s.Connections ||
		got.Rate != s.Rate || got.Elapsed != s.Elapsed || got.Runs != 1 ||
		got.Requests != s.Requests || got.Errors != s.Errors || got.ErrorKinds != s.ErrorKinds ||
		got.Late != s.Late || got.Bytes != s.Bytes || len(got.Status) != len(s.Status) {
		t.Errorf("round trip changed the summary:\n got %+v\nwant %+v", got, s)
	}
	for code, n := range s.Status {
		if got.Status[code] != n {
			t.Errorf("status %d: %d, want %d", code, got.Status[code], n)
		}
	}
	if got.Generator.GCPause != s.Generator.GCPause || got.Generator.SendLagMax != s.Generator.SendLagMax ||
		got.Generator.CPU != s.Generator.CPU || !got.Generator.Bound || len(got.Generator.Warnings) != 1 ||
		got.Generator.LateGenerator != 17 || got.Generator.LateWaiting != 29 {
		t.Errorf("generator = %+v, want %+v", got.Generator, s.Generator)
	}
	sameReport(t, got, s)

	// Saving what was loaded gives the same bytes: nothing drifts over
	// repeated merges and saves.
	var first, second bytes.Buffer
	if err := s.Save(&first); err != nil {
		t.Fatal(err)
	}
	if err := got.Save(&second); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("save of a loaded summary differs from the original save")
	}
	if first.Len() > 64<<10 {
		t.Errorf("saved file is %d bytes for %d requests; want it small", first.Len(), s.Requests)
	}
}

// TestMergeProperty checks the promise: merging two saved runs
// gives exactly the counts and percentiles of one histogram holding both.
func TestMergeProperty(t *testing.T) {
	t.Parallel()
	samples := randomSamples(42, 20000)
	for _, split := range []int{0, 1, 7000, 19999, 20000} {
		a := roundTrip(t, summaryOf(samples[:split], 10*time.Second))
		b := roundTrip(t, summaryOf(samples[split:], 10*time.Second))
		all := summaryOf(samples, 10*time.Second)
		if err := a.Add(b); err != nil {
			t.Fatalf("Add: %v", err)
		}
		if a.Requests != all.Requests || a.Errors != all.Errors || a.ErrorKinds != all.ErrorKinds ||
			a.Late != all.Late || a.Bytes != all.Bytes {
			t.Errorf("split %d: counters differ:\n got %+v\nwant %+v", split, a, all)
		}
		for code, n := range all.Status {
			if a.Status[code] != n {
				t.Errorf("split %d: status %d: %d, want %d", split, code, a.Status[code], n)
			}
		}
		if a.Response() != all.Response() || a.Service() != all.Service() {
			t.Errorf("split %d: latency differs:\n got %+v\nwant %+v", split, a.Response(), all.Response())
		}
		for q := 0.0; q <= 100; q += 0.5 {
			if g, w := a.response.ValueAtPercentile(q), all.response.ValueAtPercentile(q); g != w {
				t.Errorf("split %d: p%v = %d, want %d", split, q, g, w)
			}
		}
		if !a.response.Equals(all.response) || !a.service.Equals(all.service) {
			t.Errorf("split %d: merged histograms differ from the single one", split)
		}
		if a.Runs != 2 {
			t.Errorf("split %d: Runs = %d, want 2", split, a.Runs)
		}
	}
}

func TestAddTiming(t *testing.T) {
	t.Parallel()
	ok := Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 200, Bytes: 10}
	many := func(n int) []Sample {
		s := make([]Sample, n)
		for i := range s {
			s[i] = ok
		}
		return s
	}
	a := summaryOf(many(1000), 10*time.Second) // 100/s, 1000 B/s
	b := summaryOf(many(1000), 5*time.Second)  // 200/s, 2000 B/s
	b.Target = "http://127.0.0.2:5000/"
	b.Generator = Generator{GCPause: time.Millisecond, SendLagMax: time.Second, Warnings: []string{"w"}, Bound: true, CPU: 15 * time.Millisecond,
		LateGenerator: 3, LateWaiting: 4}
	a.Generator = Generator{GCPause: 2 * time.Millisecond, SendLagMax: time.Millisecond, Warnings: []string{"w"}, CPU: 10 * time.Millisecond,
		LateGenerator: 10, LateWaiting: 20}
	c := summaryOf(many(500), 10*time.Second) // 50/s
	c.Generator.CPU = 5 * time.Millisecond

	var total Summary
	for _, s := range []*Summary{a, b, c} {
		if err := total.Add(roundTrip(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	if total.Runs != 3 || total.Elapsed != 10*time.Second || total.Requests != 2500 {
		t.Errorf("runs, elapsed, requests = %d, %v, %d; want 3, 10s, 2500", total.Runs, total.Elapsed, total.Requests)
	}
	if got := total.RequestsPerSecond(); got != 350 {
		t.Errorf("RequestsPerSecond = %v, want the sum of the runs' rates, 350", got)
	}
	if got := total.BytesPerSecond(); got != 3500 {
		t.Errorf("BytesPerSecond = %v, want 3500", got)
	}
	if total.Connections != 150 {
		t.Errorf("Connections = %d, want 150", total.Connections)
	}
	if total.Target != "http://127.0.0.1:5000/, http://127.0.0.2:5000/" || total.Method != "GET" {
		t.Errorf("target, method = %q, %q", total.Target, total.Method)
	}
	g := total.Generator
	if g.GCPause != 3*time.Millisecond || g.SendLagMax != time.Second || !g.Bound || len(g.Warnings) != 1 ||
		g.LateGenerator != 13 || g.LateWaiting != 24 {
		t.Errorf("generator = %+v", g)
	}
	if g.CPU != 30*time.Millisecond || total.CPUPerRequest() != 12*time.Microsecond {
		t.Errorf("CPU %v, %v per request; want 30ms, 12µs", g.CPU, total.CPUPerRequest())
	}
	// The merged summary survives a save too.
	again := roundTrip(t, &total)
	if again.RequestsPerSecond() != 350 || again.Runs != 3 {
		t.Errorf("after save: %v req/s over %d runs", again.RequestsPerSecond(), again.Runs)
	}
	// The inputs are untouched.
	if a.Requests != 1000 || a.Runs != 1 {
		t.Errorf("Add changed its argument")
	}
	// A run whose CPU time is unknown (saved by an older gather) makes
	// the merge's unknown rather than too low.
	unknown := summaryOf(many(10), time.Second)
	if err := total.Add(unknown); err != nil {
		t.Fatal(err)
	}
	if total.Generator.CPU != 0 || total.CPUPerRequest() != 0 {
		t.Errorf("CPU %v after adding a run without it, want 0 (unknown)", total.Generator.CPU)
	}
}

func TestAddRejects(t *testing.T) {
	t.Parallel()
	s := summaryOf(nil, time.Second)
	if err := s.Add(nil); err == nil {
		t.Error("Add(nil) succeeded")
	}
	if err := s.Add(&Summary{}); err == nil {
		t.Error("Add of a hand-made Summary succeeded")
	}
	if err := new(Summary).Save(io.Discard); err == nil {
		t.Error("Save of a hand-made Summary succeeded")
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	var good bytes.Buffer
	s := summaryOf(randomSamples(3, 100), time.Second)
	s.RunIDs = []string{"run-1"}
	if err := s.Save(&good); err != nil {
		t.Fatal(err)
	}
	valid := good.String()
	tests := []struct {
		name, input string
	}{
		{"empty", ""},
		{"not JSON", "requests: 12\n"},
		{"truncated", valid[:len(valid)/2]},
		{"a JSON report", `{"target": "x", "requests": 1}`},
		{"other format", strings.Replace(valid, saveFormat, "vegeta", 1)},
		{"newer version", strings.Replace(valid, `"version": 2`, `"version": 3`, 1)},
		{"version 0", strings.Replace(valid, `"version": 2`, `"version": 0`, 1)},
		{"unknown field", strings.Replace(valid, `"version": 2`, `"version": 2, "extra": 0`, 1)},
		{"version 1 with a version 2 field", strings.Replace(valid, `"version": 2`, `"version": 1, "dropped": 3`, 1)},
		{"wrong type", strings.Replace(valid, `"runs": 1`, `"runs": "one"`, 1)},
		{"negative", strings.Replace(valid, `"runs": 1`, `"runs": -1`, 1)},
		{"negative CPU", strings.Replace(valid, `"cpu_ns": 0`, `"cpu_ns": -1`, 1)},
		{"counts disagree", strings.Replace(valid, `"requests": 100`, `"requests": 101`, 1)},
		{"bad histogram", strings.Replace(valid, `"response_histogram": "HISTF`, `"response_histogram": "XISTF`, 1)},
		{"unknown error kind", strings.Replace(valid, `"errors_by_kind": {`, `"errors_by_kind": {"gremlins": 0,`, 1)},
		{"bad status", strings.Replace(valid, `"status": {`, `"status": {"abc": 0,`, 1)},
		{"more run ids than runs", strings.Replace(valid, `"run-1"`, `"run-1", "run-2"`, 1)},
		{"empty run id", strings.Replace(valid, `"run-1"`, `""`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.input == valid {
				t.Fatal("the test case did not change the valid input")
			}
			_, err := Load(strings.NewReader(tt.input))
			if !errors.Is(err, ErrFormat) {
				t.Errorf("Load = %v, want an ErrFormat error", err)
			}
		})
	}

	readFail := errors.New("disk on fire")
	_, err := Load(io.MultiReader(strings.NewReader(valid[:100]), iotest.ErrReader(readFail)))
	if !errors.Is(err, readFail) || errors.Is(err, ErrFormat) {
		t.Errorf("Load of a failing reader = %v, want the read error", err)
	}
}

func FuzzLoad(f *testing.F) {
	var good bytes.Buffer
	if err := summaryOf(randomSamples(3, 100), time.Second).Save(&good); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte(`{"format":"gather-bench-summary","version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Load(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever loads can be rendered and merged without panicking.
		_ = s.WriteText(io.Discard)
		_ = s.WriteJSON(io.Discard)
		_ = s.Add(s.clone())
	})
}
