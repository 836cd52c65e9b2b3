package report

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var testTargetNames = []string{"GET /", "login", "POST /items/{{.seq}}"}

// targetSummary records samples spread over the test targets, sample i
// going to target i mod 3, over two recorders as two workers would.
func targetSummary(seed uint64, n int, names []string) *Summary {
	recs := []*Recorder{NewRecorder(), NewRecorder()}
	for _, r := range recs {
		r.TrackTargets(names)
	}
	for i, s := range closedSamples(seed, n) {
		s.Target = i % len(names)
		if s.Target == 1 && s.Err == ErrNone {
			s.Response += 40 * time.Millisecond // login is slow
			s.Service = s.Response
		}
		recs[i%2].Record(s)
	}
	s := Merge(recs...)
	s.Target, s.Method, s.Connections, s.Elapsed = "http://127.0.0.1:5000/ (3 targets from t.txt)", "GET, POST", 10, time.Second
	return s
}

func TestTargetRows(t *testing.T) {
	t.Parallel()
	s := targetSummary(7, 3000, testTargetNames)
	if len(s.Targets) != 3 {
		t.Fatalf("%d rows", len(s.Targets))
	}
	var req, errs int64
	for i, row := range s.Targets {
		if row.Name != testTargetNames[i] {
			t.Errorf("row %d is %q", i, row.Name)
		}
		if row.Requests != 1000 {
			t.Errorf("%s: %d requests, want 1000", row.Name, row.Requests)
		}
		req += row.Requests
		errs += row.Errors
	}
	if req != s.Requests || errs != s.Errors {
		t.Errorf("rows hold %d requests and %d errors, the run %d and %d", req, errs, s.Requests, s.Errors)
	}
	login, home := s.TargetNamed("login").Response(), s.TargetNamed("GET /").Response()
	if login.P50-home.P50 < 35*time.Millisecond {
		t.Errorf("login p50 %v, / p50 %v: the rows do not keep their own latencies", login.P50, home.P50)
	}
	if got := s.TargetNamed("login").ResponseAt(50); got != login.P50 {
		t.Errorf("ResponseAt(50) %v, p50 %v", got, login.P50)
	}

	// The run's response times are its targets' merged: the same as a
	// recorder without rows makes of the same samples.
	plain := NewRecorder()
	for i, smp := range closedSamples(7, 3000) {
		if i%3 == 1 && smp.Err == ErrNone {
			smp.Response += 40 * time.Millisecond
		}
		plain.Record(smp)
	}
	if got, want := s.Response(), Merge(plain).Response(); got != want {
		t.Errorf("run response %+v, want %+v", got, want)
	}

	// One name: the totals are its row.
	one := targetSummary(7, 30, []string{"GET /"})
	if len(one.Targets) != 1 || one.Targets[0].Requests != 30 || one.Targets[0].Response() != one.Response() {
		t.Errorf("one target: %+v", one.Targets)
	}
	// A recorder that never had names gives no rows.
	if s := summaryOf(closedSamples(1, 10), time.Second); s.Targets != nil {
		t.Errorf("rows without names: %+v", s.Targets)
	}
}

func TestTargetRowsSaveAndMerge(t *testing.T) {
	t.Parallel()
	a, b := targetSummary(1, 900, testTargetNames), targetSummary(2, 600, []string{"login", "other name"})
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	la, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range a.Targets {
		lr := la.Targets[i]
		if lr.Name != row.Name || lr.Requests != row.Requests || lr.Response() != row.Response() || fmt.Sprint(lr.Status) != fmt.Sprint(row.Status) {
			t.Errorf("row %d after a round trip: %+v, want %+v", i, lr, row)
		}
	}
	var m Summary
	for _, s := range []*Summary{la, b} {
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.Targets) != 4 {
		t.Fatalf("merged rows: %d", len(m.Targets))
	}
	login := m.TargetNamed("login")
	if want := a.TargetNamed("login").Requests + b.TargetNamed("login").Requests; login.Requests != want {
		t.Errorf("merged login: %d requests, want %d", login.Requests, want)
	}
	if login.Response().Count != a.TargetNamed("login").Response().Count+b.TargetNamed("login").Response().Count {
		t.Error("merged login histogram does not hold both runs' responses")
	}

	// A run without rows leaves the merge without them, and says so.
	var partial Summary
	partial.Add(a)
	partial.Add(summaryOf(closedSamples(3, 10), time.Second))
	if partial.Targets != nil || !strings.Contains(strings.Join(partial.Generator.Warnings, "\n"), "per-target rows left out") {
		t.Errorf("partial merge: rows %v, warnings %q", partial.Targets, partial.Generator.Warnings)
	}
}

// TestTargetRowsCap: a merge never holds more than MaxTargetRows rows; the
// names past the cap are counted together, and nothing is lost.
func TestTargetRowsCap(t *testing.T) {
	t.Parallel()
	var m Summary
	var total int64
	for i := range 3 {
		names := make([]string, 60)
		for j := range names {
			names[j] = fmt.Sprintf("n%d", i*50+j) // overlapping runs of names
		}
		s := targetSummary(uint64(i), 600, names)
		total += s.Requests
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.Targets) != MaxTargetRows || m.Targets[MaxTargetRows-1].Name != OtherTarget {
		t.Fatalf("%d rows, last %q", len(m.Targets), m.Targets[len(m.Targets)-1].Name)
	}
	var sum int64
	for _, r := range m.Targets {
		sum += r.Requests
	}
	if sum != total || m.checkTargets() != nil {
		t.Errorf("rows hold %d of %d requests: %v", sum, total, m.checkTargets())
	}
}

func TestLoadRejectsBadTargetRows(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	targetSummary(1, 90, testTargetNames).Save(&buf)
	saved := buf.String()
	for _, tc := range []struct{ from, to, want string }{
		{`"requests": 30,`, `"requests": 31,`, "do not add up to its 31 requests"},
		{`"name": "login"`, `"name": "GET /"`, `two target rows named "GET /"`},
	} {
		edited := strings.Replace(saved, tc.from, tc.to, 1)
		if edited == saved {
			t.Fatalf("%q not in the saved run", tc.from)
		}
		if _, err := Load(strings.NewReader(edited)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: %v", tc.from, tc.to, err)
		}
	}
}

func TestWatches(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	r.TrackTargets(testTargetNames)
	r.SetWatches([]Watch{
		{Target: -1, Kind: WatchErrors},
		{Target: 1, Kind: WatchLatency, AtLeast: 10 * time.Millisecond},
		{Target: -1, Kind: WatchStatus, StatusLo: 500, StatusHi: 599},
		{Target: 0, Kind: WatchLate},
	})
	var want [4]WatchCount
	for i, s := range randomSamples(9, 5000) {
		s.Target = i % 3
		r.Record(s)
		answered := s.Err == ErrNone
		want[0].Of++
		if !answered {
			want[0].Matched++
		}
		if s.Target == 1 && answered {
			want[1].Of++
			if s.Response >= 10*time.Millisecond {
				want[1].Matched++
			}
		}
		want[2].Of++
		if answered && s.Status >= 500 {
			want[2].Matched++
		}
		if s.Target == 0 {
			want[3].Of++
			if s.Late {
				want[3].Matched++
			}
		}
	}
	got := make([]WatchCount, 4)
	r.AddWatchCounts(got)
	for i := range want {
		if got[i] != want[i] || want[i].Matched == 0 {
			t.Errorf("watch %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestVerdictBlock(t *testing.T) {
	t.Parallel()
	s := targetSummary(1, 300, testTargetNames)
	s.Thresholds = []Verdict{
		{Expr: "p99<250ms", Metric: "p99", Op: "<", Limit: 250, Value: 12.5, Unit: "ms", Measured: "12.500 ms", Pass: true},
		{Expr: "login:errors<1%", Target: "login", Metric: "errors", Op: "<", Limit: 1, Value: 3.2, Unit: "%", Measured: "3.20% (32 of 1000)"},
		{Expr: "mean<1ms", Metric: "mean", Op: "<", Limit: 1, Value: math.NaN(), Unit: "ms", Measured: "no responses"},
	}
	var text bytes.Buffer
	s.WriteText(&text)
	for _, want := range []string{
		"\nThresholds     2 of 3 failed\n",
		"\n  pass  p99<250ms        12.500 ms\n",
		"\n  FAIL  login:errors<1%  3.20% (32 of 1000)\n",
		"\n  FAIL  mean<1ms         no responses\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	s.WriteJSON(&js)
	for _, want := range []string{`"expr": "login:errors<1%"`, `"value": null`, `"value": 3.2`, `"pass": false`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	var saved bytes.Buffer
	s.Save(&saved)
	if strings.Contains(saved.String(), "p99<250ms") {
		t.Error("verdicts are saved; a merge must be judged anew")
	}
}
