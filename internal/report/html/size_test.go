package html

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gather-dev/gather/internal/report"
)

// longRun records a run of the open model over d at 1 s intervals, as
// loadgen would: perSecond requests each second with spread latencies
// (a millisecond or so, a few slower), 1% of them 5xx and 0.1% timeouts,
// a due rate of perSecond.
func longRun(start time.Time, d time.Duration, perSecond int, seed uint64) *report.Summary {
	rng := rand.New(rand.NewPCG(seed, 7))
	rec := report.NewRecorder()
	iv := report.NewIntervals(start, time.Second, rec)
	step := time.Second / time.Duration(perSecond)
	iv.CountDue(func(from, to time.Time) int64 { return int64(to.Sub(from) / step) })
	end := start.Add(d)
	for at := start; at.Before(end); at = at.Add(step) {
		iv.Cut(at)
		lat := time.Duration(rng.ExpFloat64()*float64(800*time.Microsecond)) + 200*time.Microsecond
		if rng.IntN(100) == 0 {
			lat *= 20
		}
		s := report.Sample{Response: lat + time.Duration(rng.IntN(100))*time.Microsecond, Service: lat, Status: 200, Bytes: 13, End: at}
		switch r := rng.IntN(1000); {
		case r == 0:
			s = report.Sample{Err: report.ErrTimeout, End: at}
		case r < 10:
			s.Status = 503
		}
		rec.Record(s)
	}
	sum := report.Merge(rec)
	sum.Target, sum.Method, sum.Connections, sum.Rate = "http://127.0.0.1:8080/", "GET", 50, float64(perSecond)
	sum.Start, sum.Elapsed = start, d
	sum.Generator.TargetRate, sum.Generator.AchievedRate = float64(perSecond), float64(perSecond)
	sum.Series = iv.Finish(end, 0)
	return sum
}

// sizedPages are the pages whose size the note quotes: a 10-minute run,
// 3 runs of 10 minutes compared (an hour apart) or merged as segments
// (started together), and an hour's run, drawn in DefaultMaxPoints points.
func sizedPages() map[string]Page {
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	ten := 10 * time.Minute
	a, b, c := longRun(t0, ten, 200, 1), longRun(t0.Add(time.Hour), ten, 200, 2), longRun(t0.Add(2*time.Hour), ten, 200, 3)
	sa, sb, sc := longRun(t0, ten, 200, 4), longRun(t0.Add(200*time.Millisecond), ten, 200, 5), longRun(t0.Add(time.Second), ten, 200, 6)
	merged := func(runs ...*report.Summary) *report.Summary {
		var m report.Summary
		for _, r := range runs {
			m.Add(r)
		}
		return &m
	}
	return map[string]Page{
		"10min":            {Runs: []Run{{Name: "a.json", Summary: a}}},
		"3x10min-compare":  {Runs: []Run{{Name: "a.json", Summary: a}, {Name: "b.json", Summary: b}, {Name: "c.json", Summary: c}}, Merged: merged(a, b, c)},
		"3x10min-segments": {Runs: []Run{{Name: "a.json", Summary: sa}, {Name: "b.json", Summary: sb}, {Name: "c.json", Summary: sc}}, Merged: merged(sa, sb, sc)},
		"1hour":            {Runs: []Run{{Name: "hour.json", Summary: longRun(t0, time.Hour, 50, 7)}}},
	}
}

// BenchmarkPageSize writes the pages of sizedPages: the time to make one,
// and its size in bytes.
func BenchmarkPageSize(b *testing.B) {
	pages := sizedPages()
	for _, name := range []string{"10min", "3x10min-compare", "3x10min-segments", "1hour"} {
		b.Run(name, func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := Write(&buf, pages[name]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
	}
}

// BenchmarkPageRender opens the pages of sizedPages in headless Chromium:
// the time from the start of the navigation to the last chart drawn, as
// the page measures it (performance.now()), per open.
func BenchmarkPageRender(b *testing.B) {
	bctx := browserFor(b, 10*time.Minute) // skips without Chromium, outside CI
	dir := b.TempDir()
	pages := sizedPages()
	for _, name := range []string{"10min", "3x10min-compare", "1hour"} {
		b.Run(name, func(b *testing.B) {
			var buf bytes.Buffer
			if err := Write(&buf, pages[name]); err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(dir, name+".html")
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				b.Fatal(err)
			}
			var total float64
			for b.Loop() {
				tab, cancel := chromedp.NewContext(bctx)
				err := chromedp.Do(tab, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
				var ms float64
				if err == nil {
					ms, err = chromedp.Run(tab, chromedp.Evaluate[float64](`window.gatherRenderMs`))
				}
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				total += ms
			}
			b.ReportMetric(total/float64(b.N), "ms/render")
		})
	}
}
