package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// cutRun is a run of 50 requests over 2 s that was stopped with cut
// requests in flight.
func cutRun(t *testing.T, seed uint64, cut int64) *Summary {
	t.Helper()
	r := NewRecorder()
	iv := NewIntervals(runStart, time.Second, r)
	for _, s := range withEnds(randomSamples(seed, 50), runStart, 2*time.Second) {
		iv.Cut(s.End)
		r.Record(s)
	}
	end := runStart.Add(2500 * time.Millisecond)
	sum := Merge(r)
	sum.Target, sum.Method, sum.Connections, sum.Elapsed = "http://127.0.0.1:5000/", "GET", 10, end.Sub(runStart)
	sum.Start, sum.Cut, sum.Interrupted = runStart, cut, true
	iv.CountCut(cut)
	sum.Series = iv.Finish(end, 0)
	return sum
}

// The requests cut in flight are counted in the summary and in the
// series' last interval, saved, merged, and shown in text and JSON; a run
// that cut none shows and saves nothing of it.
func TestCutSavedMergedAndShown(t *testing.T) {
	t.Parallel()
	a := roundTrip(t, cutRun(t, 1, 3))
	if err := a.Add(roundTrip(t, cutRun(t, 2, 4))); err != nil {
		t.Fatal(err)
	}
	last := a.Series.At(a.Series.Len() - 1)
	if a.Cut != 7 || a.Series.Totals().Cut != 7 || last.Cut != 7 {
		t.Errorf("cut %d, series total %d, last interval %d; want 7", a.Cut, a.Series.Totals().Cut, last.Cut)
	}
	var text, js bytes.Buffer
	if err := a.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if want := "Cut            7  (in flight when the run stopped)"; !strings.Contains(text.String(), want) {
		t.Errorf("text lacks %q:\n%s", want, text.String())
	}
	if !strings.Contains(js.String(), `"cut": 7`) {
		t.Errorf("JSON lacks the cut count:\n%.600s", js.String())
	}

	none := cutRun(t, 3, 0)
	var saved, noText bytes.Buffer
	if err := none.Save(&saved); err != nil {
		t.Fatal(err)
	}
	if err := none.WriteText(&noText); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(saved.String(), `"cut"`) || strings.Contains(noText.String(), "Cut ") {
		t.Errorf("a run that cut nothing shows or saves a cut count:\n%s", noText.String())
	}
}
