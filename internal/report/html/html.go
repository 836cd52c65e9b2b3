// Package html writes gather's report as one self-contained HTML page: the
// summary of one or more runs and charts of them (latency, throughput,
// errors and status classes over time; the percentile spectrum; the
// latency histogram; per-target tables and charts), drawn in the browser
// by uPlot, which the page carries inline with everything else, so that
// it opens offline from disk and makes no request to any address.
//
// Several runs are drawn on the same charts, one colour each. Runs that
// overlap in time are taken as segments of one run (several machines
// driving one test): they are drawn on one clock, with their merge. Runs
// that do not are compared: each is drawn from its own start.
//
// A page holds about 100 bytes per point of a run's series, plus uPlot's
// 50 KiB: about 120 KiB for a 10-minute run at 1 s intervals. A series of
// more than [Page.MaxPoints] intervals is drawn in fewer, longer points,
// regrouped exactly from the series (see [report.Series.Coarsened]), so
// that an hour's run stays about as small as 20 minutes'.
package html

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// A Run is one run shown on a page.
type Run struct {
	// Name is what the page calls the run: the file it was read from.
	Name string
	// Summary is the run.
	Summary *report.Summary
}

// Page is what a report page shows.
type Page struct {
	// Title heads the page; "" makes one from the runs' targets.
	Title string
	// Runs are the runs, in the order of their colours.
	Runs []Run
	// Merged, if set, is the merge of the runs, shown when they are
	// segments of one run (see the package documentation).
	Merged *report.Summary
	// Generator names what made the page, e.g. "gather devel 4cfe7a7".
	Generator string
	// Generated is when the page was made; zero means now.
	Generated time.Time
	// MaxPoints bounds the points of each chart over time, about; 0
	// means DefaultMaxPoints.
	MaxPoints int
}

// UPlotVersion is the version of the uPlot library embedded in the page
// (see uplot/README.md for how to update it).
const UPlotVersion = "1.6.32"

// DefaultMaxPoints is the default of [Page.MaxPoints]: about a point per
// pixel of a wide chart.
const DefaultMaxPoints = 1200

// maxChartedTargets bounds the targets a chart draws, the busiest: a
// chart of a hundred lines says nothing. The table lists them all.
const maxChartedTargets = 12

//go:embed page.html
var pageTemplate string

//go:embed page.css
var pageCSS string

//go:embed page.js
var pageJS string

//go:embed uplot/uPlot.iife.min.js
var uplotJS string

//go:embed uplot/uPlot.min.css
var uplotCSS string

// tmpl is parsed on first use, not at start: every gather command would
// pay for it (see docs/fetch.md, where the memory goes).
var tmpl = sync.OnceValue(func() *template.Template { return template.Must(template.New("page").Parse(pageTemplate)) })

// Write writes the page to w.
func Write(w io.Writer, p Page) error {
	if len(p.Runs) == 0 {
		return fmt.Errorf("html: a page of no runs")
	}
	d := build(p)
	data, err := d.marshal()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	err = tmpl().Execute(&buf, map[string]any{
		"Title": d.Title,
		"CSS":   template.CSS(uplotCSS + "\n" + pageCSS),
		// The data is JSON from encoding/json, which escapes <, > and &:
		// nothing in it (a target name, say) can close the script element.
		"Data":  template.JS(data),
		"UPlot": template.JS(uplotJS),
		"JS":    template.JS(pageJS),
	})
	if err != nil {
		return fmt.Errorf("html: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// segments reports whether the runs overlap in time: one moment at which
// all of them were going.
func segments(runs []*report.Summary) bool {
	if len(runs) < 2 {
		return false
	}
	var latestStart, earliestEnd time.Time
	for i, s := range runs {
		if s.Start.IsZero() {
			return false
		}
		end := s.Start.Add(s.Elapsed)
		if i == 0 || s.Start.After(latestStart) {
			latestStart = s.Start
		}
		if i == 0 || end.Before(earliestEnd) {
			earliestEnd = end
		}
	}
	return latestStart.Before(earliestEnd)
}

// build computes the page's data.
func build(p Page) *pageData {
	var sums []*report.Summary
	for _, r := range p.Runs {
		sums = append(sums, r.Summary)
	}
	d := &pageData{Title: p.Title, Generator: p.Generator, Segments: segments(sums), Targets: []targetBlock{}}
	if d.Title == "" {
		d.Title = title(sums)
	}
	gen := p.Generated
	if gen.IsZero() {
		gen = time.Now()
	}
	d.Generated = gen.UTC().Format("2006-01-02 15:04:05 UTC")
	names := make([]string, len(p.Runs))
	for i, r := range p.Runs {
		names[i] = cmp.Or(r.Name, fmt.Sprintf("run %d", i+1))
	}
	if d.Segments && p.Merged != nil {
		sums = append(sums, p.Merged)
		names = append(names, fmt.Sprintf("merged (%d runs)", len(p.Runs)))
	}
	maxPoints := cmp.Or(p.MaxPoints, DefaultMaxPoints)
	step := pointStep(sums, maxPoints)
	for _, s := range sums {
		d.HasService = d.HasService || s.Open() || s.Response() != s.Service()
	}

	// The clock: from the earliest start for segments, each run's own
	// otherwise. The merge ends when the last segment does.
	var zero, lastEnd time.Time
	for i, s := range sums[:len(p.Runs)] {
		if i == 0 || s.Start.Before(zero) {
			zero = s.Start
		}
		if end := s.Start.Add(s.Elapsed); end.After(lastEnd) {
			lastEnd = end
		}
	}
	nines, ps := spectrumNines()
	d.Nines = nines
	bounds := histogramBounds(sums)
	for _, b := range bounds {
		d.Bounds = append(d.Bounds, msNum(b))
	}
	for i, s := range sums {
		merged := i == len(p.Runs)
		r := runData{Name: names[i], Merged: merged}
		var text strings.Builder
		s.WriteText(&text)
		r.Text = text.String()
		start, end := s.Start, s.Start.Add(s.Elapsed)
		runZero := start
		if d.Segments {
			runZero = zero
		}
		if merged {
			start, end = zero, lastEnd
		}
		var charted []string
		if block, ok := targetsOf(s, i, r.Name, ps); ok && (!d.Segments || merged || p.Merged == nil) {
			charted = block.Charted
			d.Targets = append(d.Targets, block)
		}
		if !s.Start.IsZero() {
			r.Time = timeSeries(s, runZero, start, end, step, charted)
		}
		resp := s.Response()
		r.SpectrumResponse = msNums(s.ResponsePercentiles(ps), resp.Count)
		r.SpectrumService = msNums(s.ServicePercentiles(ps), resp.Count)
		r.Histogram = s.ResponseCounts(bounds)
		d.Runs = append(d.Runs, r)
	}
	d.Summary = summarize(sums, d.HasService)
	return d
}

// title names the page after the runs' targets.
func title(runs []*report.Summary) string {
	var targets []string
	for _, s := range runs {
		t := strings.TrimSpace(s.Method + " " + s.Target)
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	if len(targets) > 2 {
		targets = append(targets[:2], "...")
	}
	return "gather: " + strings.Join(targets, ", ")
}

// targetsOf returns the per-target block of run i, if it had several
// targets: all of them in the table, the busiest in the charts.
func targetsOf(s *report.Summary, i int, name string, ps []float64) (targetBlock, bool) {
	if len(s.Targets) < 2 {
		return targetBlock{}, false
	}
	b := targetBlock{Run: i, Name: name,
		Columns: []string{"target", "requests", "req/s", "errors", "non-2xx", "p50 ms", "p90 ms", "p99 ms", "max ms"}}
	for _, t := range s.Targets {
		var non2xx int64
		for code, n := range t.Status {
			if code < 200 || code > 299 {
				non2xx += n
			}
		}
		l := t.Response()
		row := []string{t.Name, fmt.Sprint(t.Requests), rate(t.Requests, s.Elapsed), countShare(t.Errors, t.Requests),
			countShare(non2xx, t.Requests)}
		if l.Count == 0 {
			row = append(row, "-", "-", "-", "-")
		} else {
			row = append(row, msText(l.P50), msText(l.P90), msText(l.P99), msText(l.Max))
		}
		b.Rows = append(b.Rows, row)
	}
	busiest := slices.Clone(s.Targets)
	slices.SortStableFunc(busiest, func(a, b *report.TargetSummary) int { return cmp.Compare(b.Requests, a.Requests) })
	for _, t := range busiest[:min(len(busiest), maxChartedTargets)] {
		b.Charted = append(b.Charted, t.Name)
		b.Spectra = append(b.Spectra, msNums(t.ResponsePercentiles(ps), t.Response().Count))
	}
	b.More = len(s.Targets) - len(b.Charted)
	return b, true
}
