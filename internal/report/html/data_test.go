package html

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// near reports whether got is want within a relative tolerance.
func near(got num, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol*math.Abs(want)+1e-9
}

// rowNamed returns the values of the summary row labelled label in the
// section titled title.
func rowNamed(d *pageData, title, label string) []string {
	for _, sec := range d.Summary {
		if sec.Title != title {
			continue
		}
		for _, r := range sec.Rows {
			if r.Label == label {
				return r.Values
			}
		}
	}
	return nil
}

// TestKnownRunCharts checks every chart's data against the saved run of
// known contents (see knownRun).
func TestKnownRunCharts(t *testing.T) {
	t.Parallel()
	d := build(Page{Runs: []Run{{Name: "known.json", Summary: loadKnown(t)}}})
	if d.Segments || len(d.Runs) != 1 || !d.HasService {
		t.Fatalf("segments %v, %d runs, service %v", d.Segments, len(d.Runs), d.HasService)
	}
	r := d.Runs[0]
	tm := r.Time
	if tm == nil || tm.Step != 1 || len(tm.X) != 10 {
		t.Fatalf("time data %+v", tm)
	}
	for k := range 10 {
		want := float64(k + 1)
		covered := 1.0
		if k == 9 {
			want, covered = 9.999, 0.999
		}
		if !near(tm.X[k], want, 1e-9) {
			t.Errorf("x[%d] = %v, want %v", k, tm.X[k], want)
		}
		if !near(tm.Rate[k], float64(10*(k+1))/covered, 1e-5) {
			t.Errorf("rate[%d] = %v, want %v", k, tm.Rate[k], float64(10*(k+1))/covered)
		}
		// 99 requests are due in the last 999 ms (a 10 ms schedule).
		if wantDue := map[bool]float64{false: 100, true: 99 / 0.999}[k == 9]; !near(tm.Due[k], wantDue, 1e-5) {
			t.Errorf("due[%d] = %v, want %v", k, tm.Due[k], wantDue)
		}
		// Interval histograms are exact to 1%.
		lat := float64(k + 1)
		for name, p := range map[string][]num{"p50": tm.Response.P50, "p99": tm.Response.P99, "max": tm.Response.Max, "service p90": tm.Service.P90} {
			if !near(p[k], lat, 0.01) {
				t.Errorf("%s[%d] = %v ms, want %v", name, k, p[k], lat)
			}
		}
		wantErr, want5xx, want2xx := 0.0, 0.0, float64(10*(k+1))/covered
		if k == 5 {
			wantErr, want5xx, want2xx = 5, 3, 52
		}
		if !near(tm.Errors["timeout"][k], wantErr, 1e-9) || !near(tm.Status["5xx"][k], want5xx, 1e-9) || !near(tm.Status["2xx"][k], want2xx, 1e-5) {
			t.Errorf("interval %d: timeouts %v/s, 5xx %v/s, 2xx %v/s; want %v, %v, %v", k,
				tm.Errors["timeout"][k], tm.Status["5xx"][k], tm.Status["2xx"][k], wantErr, want5xx, want2xx)
		}
		// The targets split each interval evenly.
		if a, b := tm.TargetRate[0][k], tm.TargetRate[1][k]; !near(a+b, float64(tm.Rate[k]), 1e-5) || !near(a, float64(b), 1e-9) {
			t.Errorf("interval %d: targets at %v and %v req/s, the run %v", k, a, b, tm.Rate[k])
		}
	}
	if len(tm.Errors) != 1 || len(tm.Status) != 2 {
		t.Errorf("error kinds %v, status classes %v: want only timeout, 2xx and 5xx", keys(tm.Errors), keys(tm.Status))
	}
	if e := tm.TargetErrors; !near(e[0][5]+e[1][5], 5, 1e-9) || !near(e[0][4]+e[1][4], 0, 0) {
		t.Errorf("target errors in intervals 4 and 5: %v %v", e[0][4:6], e[1][4:6])
	}

	// The spectrum runs from the fastest response to the slowest, and the
	// histogram holds every response.
	if n := len(d.Nines); n != 201 || d.Nines[0] != 0 || d.Nines[n-1] != 5 {
		t.Errorf("nines: %d from %v to %v", n, d.Nines[0], d.Nines[n-1])
	}
	if sr := r.SpectrumResponse; !near(sr[0], 1, 0.001) || !near(sr[len(sr)-1], 10, 0.001) || !near(sr[40], 10, 0.001) {
		t.Errorf("spectrum at 0%%, 90%%, 99.999%%: %v %v %v ms, want 1, 10, 10", sr[0], sr[40], sr[len(sr)-1])
	}
	var total int64
	for _, n := range r.Histogram {
		total += n
	}
	if total != 545 || len(r.Histogram) != histogramBuckets || len(d.Bounds) != histogramBuckets+1 {
		t.Errorf("histogram of %d buckets holds %d responses, want %d holding 545", len(r.Histogram), total, histogramBuckets)
	}

	// The summary, in the text report's words.
	for _, c := range []struct{ title, label, want string }{
		{"Run", "Requests", "550"},
		{"Run", "Errors", "5 (0.91%)"},
		{"Run", "Non-2xx answers", "3 (0.55%)"},
		{"Run", "Model", "open: 100.0 req/s over 10 connections"},
		{"Status codes", "500", "3"},
		{"Errors by kind", "timeout", "5 (e.g. request timed out after 20ms)"},
		{"Generator", "Target rate", "100.0 req/s"},
	} {
		if got := rowNamed(d, c.title, c.label); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s / %s: %q, want %q", c.title, c.label, got, c.want)
		}
	}
	if !strings.Contains(r.Text, "Requests       550") {
		t.Errorf("text report:\n%s", r.Text)
	}

	// One block of targets: both in the table and the charts.
	if len(d.Targets) != 1 {
		t.Fatalf("%d target blocks", len(d.Targets))
	}
	b := d.Targets[0]
	if len(b.Rows) != 2 || b.Rows[0][0] != "GET /" || b.Rows[0][1] != "275" || len(b.Charted) != 2 || len(b.Spectra) != 2 || b.More != 0 {
		t.Errorf("targets block %+v", b)
	}
}

func keys(m map[string][]num) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// A long series is drawn in fewer points, each the exact merge of the
// intervals it covers.
func TestLongSeriesRegrouped(t *testing.T) {
	t.Parallel()
	s := loadKnown(t)
	d := build(Page{Runs: []Run{{Summary: s}}, MaxPoints: 4})
	tm := d.Runs[0].Time
	if tm.Step != 3 || len(tm.X) > 5 {
		t.Fatalf("%d points of %v s", len(tm.X), tm.Step)
	}
	var requests, slowest float64
	for i := range tm.X {
		from := knownStart
		if i > 0 {
			from = knownStart.Add(time.Duration(float64(tm.X[i-1]) * float64(time.Second)))
		}
		covered := knownStart.Add(time.Duration(float64(tm.X[i]) * float64(time.Second))).Sub(from).Seconds()
		requests += float64(tm.Rate[i]) * max(covered, 0.3)
		slowest = max(slowest, float64(tm.Response.Max[i]))
	}
	if math.Abs(requests-550) > 0.01 || math.Abs(slowest-10) > 0.1 {
		t.Errorf("regrouped points hold %v requests, slowest %v ms; want 550 and 10", requests, slowest)
	}
}

// Runs that overlap in time are segments, drawn on one clock with their
// merge; runs that do not are compared from their own starts.
func TestSegmentsAndComparisons(t *testing.T) {
	t.Parallel()
	a, b := loadKnown(t), knownRun(knownStart.Add(2*time.Second))
	var m report.Summary
	for _, s := range []*report.Summary{a, b} {
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	d := build(Page{Runs: []Run{{Name: "a", Summary: a}, {Name: "b", Summary: b}}, Merged: &m})
	if !d.Segments || len(d.Runs) != 3 || !d.Runs[2].Merged || d.Runs[2].Name != "merged (2 runs)" {
		t.Fatalf("segments %v, runs %d", d.Segments, len(d.Runs))
	}
	// b starts 2 s after a: on the shared clock its points end at 3..12 s.
	if x := d.Runs[1].Time.X; !near(x[0], 3, 1e-9) || !near(x[len(x)-1], 11.999, 1e-9) {
		t.Errorf("b's points end at %v .. %v s, want 3 .. 11.999", x[0], x[len(x)-1])
	}
	mt := d.Runs[2].Time
	if len(mt.X) != 12 || !near(mt.Rate[2], 30+10, 1e-9) {
		t.Errorf("merge: %d points, rate at 3 s %v; want 12 and 40", len(mt.X), mt.Rate[2])
	}
	// Only the merge gets a targets block; the summary has three columns.
	if len(d.Targets) != 1 || d.Targets[0].Run != 2 {
		t.Errorf("target blocks %+v", d.Targets)
	}
	if got := rowNamed(d, "Run", "Requests"); !slices.Equal(got, []string{"550", "550", "1100"}) {
		t.Errorf("requests row %q", got)
	}

	later := knownRun(knownStart.Add(time.Hour))
	c := build(Page{Runs: []Run{{Name: "before", Summary: a}, {Name: "after", Summary: later}}, Merged: &m})
	if c.Segments || len(c.Runs) != 2 || len(c.Targets) != 2 {
		t.Fatalf("comparison: segments %v, %d runs, %d target blocks", c.Segments, len(c.Runs), len(c.Targets))
	}
	if x := c.Runs[1].Time.X; !near(x[0], 1, 1e-9) {
		t.Errorf("the later run's first point at %v s, want 1 (its own clock)", x[0])
	}
}

// The page carries everything inline and nothing that could close its
// script elements early, whatever the target is called.
func TestWriteSelfContained(t *testing.T) {
	t.Parallel()
	s := loadKnown(t)
	s.Target = `http://127.0.0.1:5000/</script><script>alert(1)</script>`
	var buf bytes.Buffer
	if err := Write(&buf, Page{Runs: []Run{{Name: "x</script>", Summary: s}}, Generator: "gather test"}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "</script>"); n != 3 {
		t.Errorf("%d </script> in the page, want 3 (data, uPlot, page script)", n)
	}
	for _, banned := range []string{"<script src", "<link", "@import", "url(http", "fetch(", "XMLHttpRequest"} {
		if strings.Contains(page, banned) {
			t.Errorf("the page holds %q", banned)
		}
	}
	if !strings.Contains(uplotJS, "(v"+UPlotVersion+")") {
		t.Errorf("the embedded uPlot is not version %s (UPlotVersion)", UPlotVersion)
	}
	// The data element holds the page data as JSON.
	start := strings.Index(page, `<script id="gather-data" type="application/json">`)
	end := strings.Index(page[start:], "</script>")
	raw := page[start+len(`<script id="gather-data" type="application/json">`) : start+end]
	var d pageData
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("page data: %v", err)
	}
	if len(d.Runs) != 1 || d.Generator != "gather test" {
		t.Errorf("page data: %d runs, generator %q", len(d.Runs), d.Generator)
	}
	if err := Write(&buf, Page{}); err == nil {
		t.Error("a page of no runs: no error")
	}
}

// A run saved before version 2 has no series and no start: the page
// draws its distribution and summary, and no chart over time for it.
func TestRunWithoutSeries(t *testing.T) {
	t.Parallel()
	old := loadKnown(t)
	old.Series, old.Start = nil, time.Time{}
	d := build(Page{Runs: []Run{{Name: "old.json", Summary: old}, {Name: "new.json", Summary: loadKnown(t)}}})
	if d.Segments || d.Runs[0].Time != nil || d.Runs[1].Time == nil {
		t.Fatalf("segments %v; time data of the old run %v, of the new one %v", d.Segments, d.Runs[0].Time, d.Runs[1].Time)
	}
	if len(d.Runs[0].SpectrumResponse) != 201 || d.Runs[0].Histogram == nil {
		t.Errorf("the old run's spectrum has %d points, histogram %v", len(d.Runs[0].SpectrumResponse), d.Runs[0].Histogram)
	}
	if got := rowNamed(d, "Run", "Start"); len(got) != 2 || got[0] != "unknown" {
		t.Errorf("start row %q", got)
	}
	var buf bytes.Buffer
	if err := Write(&buf, Page{Runs: []Run{{Name: "old.json", Summary: old}}}); err != nil {
		t.Fatal(err)
	}
}
