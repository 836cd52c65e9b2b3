package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// targetRunOf records samples as runOf does, over two recorders that keep
// rows for names; sample i goes to target i mod len(names).
func targetRunOf(t *testing.T, start time.Time, names []string, samples []Sample) *Summary {
	t.Helper()
	recs := []*Recorder{NewRecorder(), NewRecorder()}
	// One recorder gets its names before the series, the other after.
	recs[0].TrackTargets(names)
	iv := NewIntervals(start, time.Second, recs...)
	recs[1].TrackTargets(names)
	end := start
	for i, s := range samples {
		s.Target = i % len(names)
		iv.Cut(s.End)
		recs[i%2].Record(s)
		if s.End.After(end) {
			end = s.End
		}
	}
	sum := Merge(recs...)
	sum.Target, sum.Method, sum.Connections, sum.Elapsed, sum.Start = "http://127.0.0.1:5000/", "GET", 10, end.Sub(start), start
	sum.Series = iv.Finish(end, 0)
	return sum
}

// perTarget returns the series' counters of the target called name, per
// interval.
func perTarget(s *Series, name string) []TargetCounts {
	i := slices.Index(s.TargetNames(), name)
	var out []TargetCounts
	for iv := range s.All() {
		if i < 0 {
			out = append(out, TargetCounts{})
			continue
		}
		out = append(out, iv.Targets[i])
	}
	return out
}

func TestSeriesTargets(t *testing.T) {
	t.Parallel()
	names := []string{"GET /", "login", "POST /items"}
	samples := withEnds(randomSamples(3, 9000), runStart, 5*time.Second)
	run := targetRunOf(t, runStart, names, samples)
	s := run.Series
	if !slices.Equal(s.TargetNames(), names) {
		t.Fatalf("series targets %q, want %q", s.TargetNames(), names)
	}
	// Each interval's per-target counts add up to its own, and each
	// target's add up to its row.
	rows := make([]TargetCounts, len(names))
	for iv := range s.All() {
		var sum TargetCounts
		for i, c := range iv.Targets {
			sum.add(c)
			rows[i].add(c)
		}
		if non2xx := iv.Requests - iv.Errors - iv.Status[2]; sum.Requests != iv.Requests || sum.Errors != iv.Errors || sum.Non2xx != non2xx {
			t.Errorf("interval %v: targets add up to %+v; the interval has %d requests, %d errors, %d non-2xx",
				iv.Start, sum, iv.Requests, iv.Errors, non2xx)
		}
	}
	for i, row := range run.Targets {
		want := TargetCounts{Requests: row.Requests, Errors: row.Errors}
		for code, n := range row.Status {
			if code < 200 || code > 299 {
				want.Non2xx += n
			}
		}
		if rows[i] != want {
			t.Errorf("%s: series holds %+v, its row %+v", row.Name, rows[i], want)
		}
	}

	// A round trip keeps them; a file whose counts do not add up is refused.
	back := roundTrip(t, run).Series
	for _, n := range names {
		if got, want := perTarget(back, n), perTarget(s, n); !slices.Equal(got, want) {
			t.Errorf("%s after a round trip: %v, want %v", n, got, want)
		}
	}
	var buf bytes.Buffer
	if err := run.Save(&buf); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	req := v["series"].([]any)[1].(map[string]any)["target_requests"].([]any)
	req[0] = req[0].(float64) + 1
	bad, _ := json.Marshal(v)
	if _, err := Load(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "per-target counts add up") {
		t.Errorf("Load of edited per-target counts: %v", err)
	}

	// Merged with a run over other names, counters move by name; merged
	// with one without names, the merge keeps none.
	other := targetRunOf(t, runStart, []string{"login", "logout"}, withEnds(randomSamples(4, 4000), runStart, 5*time.Second))
	m := roundTrip(t, run)
	if err := m.Add(roundTrip(t, other)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"GET /", "login", "POST /items", "logout"}; !slices.Equal(m.Series.TargetNames(), want) {
		t.Fatalf("merged names %q, want %q", m.Series.TargetNames(), want)
	}
	login, a, b := perTarget(m.Series, "login"), perTarget(s, "login"), perTarget(other.Series, "login")
	for i := range login {
		want := a[i]
		want.add(b[i])
		if login[i] != want {
			t.Errorf("merged login, interval %d: %+v, want %+v", i, login[i], want)
		}
	}
	if got := perTarget(m.Series, "logout"); !slices.Equal(got, perTarget(other.Series, "logout")) {
		t.Errorf("merged logout %v", got)
	}
	roundTrip(t, m) // the merge still adds up
	plain := runOf(t, runStart, time.Second, withEnds(randomSamples(5, 100), runStart, 5*time.Second), 0)
	if err := m.Add(plain); err != nil {
		t.Fatal(err)
	}
	if m.Series.TargetNames() != nil || m.Series.At(0).Targets != nil {
		t.Errorf("merge with a run without targets keeps %q", m.Series.TargetNames())
	}
}

// Past MaxTargetRows names, a merge counts the rest as OtherTarget.
func TestSeriesTargetsCap(t *testing.T) {
	t.Parallel()
	var a, b []string
	for i := range MaxTargetRows - 1 {
		a = append(a, "a"+strings.Repeat("x", i))
	}
	b = append(b, a[0], "new one", "another")
	names, toA, toB := mergeTargetNames(a, b)
	if len(names) != MaxTargetRows || names[len(names)-1] != OtherTarget || toA != nil {
		t.Fatalf("merged %d names ending %q; toA %v", len(names), names[len(names)-1], toA)
	}
	if want := []int{0, MaxTargetRows - 1, MaxTargetRows - 1}; !slices.Equal(toB, want) {
		t.Errorf("b's names go to %v, want %v", toB, want)
	}
}

func TestRecordWithTargetSeriesDoesNotAllocate(t *testing.T) {
	r := NewRecorder()
	r.TrackTargets([]string{"a", "b"})
	iv := NewIntervals(time.Now(), time.Hour, r)
	s := Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 200, Target: 1, End: time.Now()}
	r.Record(s) // the row's first response allocates its histogram
	if n := testing.AllocsPerRun(1000, func() { r.Record(s) }); n != 0 {
		t.Errorf("Record with per-target series: %v allocations", n)
	}
	_ = iv
}

// Coarsened regroups exactly: a run kept at 1 s and regrouped at 3 s is
// the same run kept at 3 s.
func TestSeriesCoarsened(t *testing.T) {
	t.Parallel()
	samples := withEnds(randomSamples(9, 5000), runStart, 10*time.Second)
	fine := runOf(t, runStart, time.Second, samples, 0).Series
	coarse := runOf(t, runStart, 3*time.Second, samples, 0).Series
	got, err := fine.Coarsened(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sameSeries(t, got, coarse)
	if same, _ := fine.Coarsened(time.Second); same != fine {
		t.Error("Coarsened to its own interval copies")
	}
	if _, err := fine.Coarsened(1500 * time.Millisecond); err == nil {
		t.Error("Coarsened to 1.5 s of a 1 s series: no error")
	}
}

// -o json names the targets of the series and splits each interval by
// them; a run of one target has neither.
func TestSeriesTargetsJSON(t *testing.T) {
	t.Parallel()
	names := []string{"GET /", "login"}
	run := targetRunOf(t, runStart, names, withEnds(randomSamples(6, 3000), runStart, 3*time.Second))
	var buf bytes.Buffer
	if err := run.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var r struct {
		SeriesTargets []string `json:"series_targets"`
		Series        []struct {
			Targets []struct {
				Requests int64 `json:"requests"`
				Errors   int64 `json:"errors"`
				Non2xx   int64 `json:"non_2xx"`
			} `json:"targets"`
		} `json:"series"`
	}
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.SeriesTargets, names) || len(r.Series) != run.Series.Len() {
		t.Fatalf("series_targets %q, %d intervals", r.SeriesTargets, len(r.Series))
	}
	for i, iv := range r.Series {
		var got []TargetCounts
		for _, c := range iv.Targets {
			got = append(got, TargetCounts{c.Requests, c.Errors, c.Non2xx})
		}
		if want := run.Series.At(i).Targets; !slices.Equal(got, want) {
			t.Errorf("interval %d: targets %+v, want %+v", i, iv.Targets, want)
		}
	}
	buf.Reset()
	if err := runOf(t, runStart, time.Second, withEnds(randomSamples(7, 100), runStart, time.Second), 0).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `"targets": [{"requests"`) || strings.Contains(buf.String(), "series_targets") {
		t.Errorf("a run of one target has per-target series")
	}
}
