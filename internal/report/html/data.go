package html

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// The page's data: what each chart draws, computed here so that it can be
// tested without a browser, and handed to the page's script as one JSON
// object. Times are seconds, latencies milliseconds.

// pageData is the JSON object the page's script reads.
type pageData struct {
	Title     string `json:"title"`
	Generator string `json:"generator"`
	Generated string `json:"generated"`
	// Segments says that the runs overlap in time: segments of one run
	// (several machines), drawn on one clock and with their merge.
	Segments bool `json:"segments"`
	// Runs are the runs, then their merge when Segments.
	Runs []runData `json:"runs"`
	// Summary is the summary table: one value per run.
	Summary []section `json:"summary"`
	// Nines are the x values of every spectrum: -log10(1 - p/100).
	Nines []num `json:"nines"`
	// Bounds are the edges of every latency histogram's buckets (ms).
	Bounds []num `json:"bounds"`
	// Targets holds one block per view with several targets.
	Targets []targetBlock `json:"targets"`
	// HasService says whether any run's service time differs from its
	// response time (the open model), so that the page draws both.
	HasService bool `json:"hasService"`
}

// runData is one run's series of charts.
type runData struct {
	Name   string `json:"name"`
	Merged bool   `json:"merged"`
	Text   string `json:"text"` // the text report
	// Time is nil for a run that kept no series (saved before version 2).
	Time *timeData `json:"time"`
	// Spectrum: response and service time at each of pageData.Nines.
	SpectrumResponse []num `json:"spectrumResponse"`
	SpectrumService  []num `json:"spectrumService"`
	// Histogram: responses in each bucket of pageData.Bounds.
	Histogram []int64 `json:"histogram"`
}

// timeData are one run's charts over time: one value per point, a point
// per interval of the series (or per group of intervals, for a long run;
// see Step).
type timeData struct {
	// Step is the length of a point, in seconds: the series' interval,
	// or a multiple of it when the run had more intervals than the page
	// draws points.
	Step float64 `json:"step"`
	// X is the end of each point, in seconds since the page's clock
	// starts (the run's start, or the earliest run's for segments).
	X []num `json:"x"`
	// Rate is the requests that ended per second; Due the requests the
	// schedule made due per second (open model; nil in the closed one).
	Rate []num `json:"rate"`
	Due  []num `json:"due"`
	// Errors per second by kind, and responses per second by status
	// class, keyed by name; only the kinds and classes the run had.
	Errors map[string][]num `json:"errors"`
	Status map[string][]num `json:"status"`
	// Response and service time percentiles of each point; null for a
	// point without responses.
	Response percentiles `json:"response"`
	Service  percentiles `json:"service"`
	// Targets: per-target requests, errors and non-2xx answers per
	// second, indexed as the run's targetBlock rows; nil without targets.
	TargetRate   [][]num `json:"targetRate,omitempty"`
	TargetErrors [][]num `json:"targetErrors,omitempty"`
}

type percentiles struct {
	P50 []num `json:"p50"`
	P90 []num `json:"p90"`
	P99 []num `json:"p99"`
	Max []num `json:"max"`
}

// section is one table of the summary: a title and rows of one value per
// run.
type section struct {
	Title string `json:"title"`
	Rows  []row  `json:"rows"`
}

type row struct {
	Label  string   `json:"label"`
	Values []string `json:"values"`
	// Fail marks a row to show as failed (a threshold).
	Fail bool `json:"fail,omitempty"`
}

// targetBlock is the per-target part of one view (a run, or the merge of
// segments): its table and, for the busiest targets, its charts.
type targetBlock struct {
	Run     int        `json:"run"` // index in pageData.Runs
	Name    string     `json:"name"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
	Charted []string   `json:"charted"` // names of the charted targets, busiest first
	Spectra [][]num    `json:"spectra"` // response time at each of Nines, per charted target
	More    int        `json:"more"`    // targets in the table but not in the charts
}

// num is a number of the page's data: NaN is written as null (no value),
// and the rest in at most 6 significant digits, which is finer than the
// histograms' 3 and keeps a long run's page small.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// none is the value of a point that has none.
var none = num(math.NaN())

func msNum(d time.Duration) num { return num(float64(d) / float64(time.Millisecond)) }

// marshal returns d as the JSON the page reads.
func (d *pageData) marshal() ([]byte, error) {
	b, err := json.Marshal(d) // escapes <, > and &, so it cannot end the script element
	if err != nil {
		return nil, fmt.Errorf("html: %w", err)
	}
	return b, nil
}

// statusClassNames name the status classes as report.StatusClass numbers
// them.
var statusClassNames = [report.NumStatusClasses]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// timeSeries returns the charts over time of s, whose series is drawn on a
// clock that starts at zero, from start to end; nil if s kept no series.
// Points are step long (see pointStep); charted names the targets whose
// counters are drawn.
func timeSeries(s *report.Summary, zero, start, end time.Time, step time.Duration, charted []string) *timeData {
	series := s.Series
	if series == nil || series.Len() == 0 {
		return nil
	}
	if c, err := series.Coarsened(step); err == nil {
		series = c
	}
	length := series.Interval()
	n := series.Len()
	t := &timeData{
		Step:   length.Seconds(),
		X:      make([]num, 0, n),
		Rate:   make([]num, 0, n),
		Errors: map[string][]num{},
		Status: map[string][]num{},
	}
	if s.Open() {
		t.Due = make([]num, 0, n)
	}
	// rows maps the charted targets to the series' indexes of them.
	var rows []int
	if len(charted) > 0 && series.TargetNames() != nil {
		for _, name := range charted {
			rows = append(rows, slices.Index(series.TargetNames(), name))
		}
		t.TargetRate = make([][]num, len(charted))
		t.TargetErrors = make([][]num, len(charted))
	}
	totals := series.Totals()
	for i := 0; i < n; i++ {
		iv := series.At(i).Within(start, end)
		// The rate of a partial interval (the first and last of a run) is
		// over the part the run went on for.
		covered := iv.Covered().Seconds()
		perSecond := func(c int64) num { return num(float64(c) / covered) }
		to := iv.End()
		if to.After(end) {
			to = end
		}
		t.X = append(t.X, num(to.Sub(zero).Seconds()))
		t.Rate = append(t.Rate, perSecond(iv.Requests))
		if t.Due != nil {
			t.Due = append(t.Due, perSecond(iv.Due))
		}
		for k := 1; k < report.NumErrorKinds; k++ {
			if totals.ErrorKinds[k] > 0 {
				name := report.ErrorKind(k).String()
				t.Errors[name] = append(t.Errors[name], perSecond(iv.ErrorKinds[k]))
			}
		}
		for c, name := range statusClassNames {
			if totals.Status[c] > 0 {
				t.Status[name] = append(t.Status[name], perSecond(iv.Status[c]))
			}
		}
		appendPercentiles(&t.Response, iv.Response())
		appendPercentiles(&t.Service, iv.Service())
		for r, j := range rows {
			var c report.TargetCounts
			if j >= 0 && j < len(iv.Targets) {
				c = iv.Targets[j]
			}
			t.TargetRate[r] = append(t.TargetRate[r], perSecond(c.Requests))
			t.TargetErrors[r] = append(t.TargetErrors[r], perSecond(c.Errors))
		}
	}
	return t
}

func appendPercentiles(p *percentiles, l report.Latency) {
	if l.Count == 0 {
		p.P50, p.P90, p.P99, p.Max = append(p.P50, none), append(p.P90, none), append(p.P99, none), append(p.Max, none)
		return
	}
	p.P50 = append(p.P50, msNum(l.P50))
	p.P90 = append(p.P90, msNum(l.P90))
	p.P99 = append(p.P99, msNum(l.P99))
	p.Max = append(p.Max, msNum(l.Max))
}

// pointStep returns the length of the points of the page's charts over
// time: the longest interval of the series, regrouped into a multiple of
// it when a series would have more than maxPoints points. Since interval
// boundaries are absolute, series regrouped to one step line up.
func pointStep(runs []*report.Summary, maxPoints int) time.Duration {
	var step time.Duration
	for _, s := range runs {
		if s.Series == nil || s.Series.Len() == 0 {
			continue
		}
		length := s.Series.Interval()
		k := int64(1)
		if n := s.Series.Len(); n > maxPoints {
			// The intervals' span, not their count: a merge may have gaps.
			first, last := s.Series.At(0).Start, s.Series.At(n-1).End()
			span := int64(last.Sub(first) / length)
			k = (span + int64(maxPoints) - 1) / int64(maxPoints)
		}
		step = max(step, time.Duration(k)*length)
	}
	for _, s := range runs {
		// A step that some series' interval does not divide is rounded up
		// to one that it does, when there is one.
		if s.Series != nil && s.Series.Len() > 0 && step%s.Series.Interval() != 0 {
			step = (step/s.Series.Interval() + 1) * s.Series.Interval()
		}
	}
	return step
}

// spectrumNines are the x values of a percentile spectrum: 0 to 5 nines
// (0% to 99.999%) in steps of 1/40 of a nine, 201 points.
func spectrumNines() (nines []num, percentiles []float64) {
	for i := 0; i <= 200; i++ {
		x := float64(i) / 40
		nines = append(nines, num(x))
		percentiles = append(percentiles, 100*(1-math.Pow(10, -x)))
	}
	return nines, percentiles
}

func msNums(ds []time.Duration, count int64) []num {
	out := make([]num, len(ds))
	for i, d := range ds {
		out[i] = msNum(d)
		if count == 0 {
			out[i] = none
		}
	}
	return out
}

// histogramBuckets is the number of buckets of the latency histogram.
const histogramBuckets = 40

// histogramBounds returns the bucket edges shared by the runs' latency
// histograms, from the fastest response of any run to the slowest:
// equal ratios when they span more than a factor of 20, equal widths
// otherwise.
func histogramBounds(runs []*report.Summary) []time.Duration {
	lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
	for _, s := range runs {
		if l := s.Response(); l.Count > 0 {
			lo, hi = min(lo, l.Min), max(hi, l.Max)
		}
	}
	if hi == 0 {
		return nil
	}
	lo = max(lo, time.Microsecond)
	if hi <= lo {
		hi = lo + time.Microsecond
	}
	bounds := make([]time.Duration, histogramBuckets+1)
	logSpaced := float64(hi)/float64(lo) > 20
	for i := range bounds {
		f := float64(i) / histogramBuckets
		if logSpaced {
			bounds[i] = time.Duration(float64(lo) * math.Pow(float64(hi)/float64(lo), f))
		} else {
			bounds[i] = lo + time.Duration(f*float64(hi-lo))
		}
	}
	bounds[0], bounds[histogramBuckets] = lo, hi
	return bounds
}
