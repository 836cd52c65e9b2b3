package html

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

var update = flag.Bool("update", false, "rewrite testdata/known.json")

// knownStart is the start of the known run: on a whole second, so its
// intervals are whole too.
var knownStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// knownRun records a run of known contents, as loadgen would: the open
// model at 100 req/s due over two targets, 10 intervals of 1 s (the run
// ends 1 ms before the 11th). Interval k holds 10·(k+1) requests, each
// answered 200 in k+1 ms, alternately to "GET /" and "login", except in
// interval 5, where 5 of them time out and 3 are answered 500.
func knownRun(start time.Time) *report.Summary {
	names := []string{"GET /", "login"}
	rec := report.NewRecorder()
	rec.TrackTargets(names)
	iv := report.NewIntervals(start, time.Second, rec)
	iv.CountDue(func(from, to time.Time) int64 { return int64(to.Sub(from) / (10 * time.Millisecond)) })
	end := start.Add(10*time.Second - time.Millisecond)
	for k := range 10 {
		n := 10 * (k + 1)
		for j := range n {
			at := start.Add(time.Duration(k)*time.Second + time.Duration(j)*(990*time.Millisecond)/time.Duration(n))
			iv.Cut(at)
			lat := time.Duration(k+1) * time.Millisecond
			s := report.Sample{Response: lat, Service: lat, Status: 200, Bytes: 6, End: at, Target: j % 2}
			switch {
			case k == 5 && j < 5:
				s = report.Sample{Err: report.ErrTimeout, Error: errTimeout, End: at, Target: j % 2}
			case k == 5 && j < 8:
				s.Status = 500
			}
			rec.Record(s)
		}
	}
	sum := report.Merge(rec)
	sum.Target, sum.Method, sum.Connections, sum.Rate = "http://127.0.0.1:5000/", "GET", 10, 100
	sum.Start, sum.Elapsed = start, end.Sub(start)
	sum.Generator.TargetRate, sum.Generator.AchievedRate = 100, 55
	sum.Series = iv.Finish(end, 0)
	return sum
}

type timeoutError struct{}

func (timeoutError) Error() string { return "request timed out after 20ms" }

var errTimeout = timeoutError{}

// loadKnown reads testdata/known.json, the saved knownRun (rewritten
// with -update).
func loadKnown(t testing.TB) *report.Summary {
	t.Helper()
	const name = "testdata/known.json"
	if *update {
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := knownRun(knownStart).Save(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := report.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
