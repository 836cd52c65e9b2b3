package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"
)

// codesOf returns what s counts, code to count.
func codesOf(s *StatusCodes) map[int]int64 {
	m := map[int]int64{}
	for code, n := range s.All() {
		m[code] = n
	}
	return m
}

// manyCodes returns samples answered with ten distinct codes, code i
// (in the order seen) 10·(i+1) times, all in the second after start,
// plus a code outside 100-599 and two errors.
var manyCodesSeen = []int{503, 200, 404, 201, 301, 500, 429, 302, 418, 100}

func manyCodes(start time.Time) []Sample {
	var out []Sample
	at := func() time.Time { return start.Add(time.Duration(len(out)) * time.Millisecond) }
	for i, code := range manyCodesSeen {
		for range 10 * (i + 1) {
			out = append(out, Sample{Response: time.Millisecond, Service: time.Millisecond, Status: code, End: at()})
		}
	}
	out = append(out, Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 700, End: at()})
	out = append(out, Sample{Err: ErrTimeout, End: at()}, Sample{Err: ErrReset, End: at()})
	return out
}

// An interval splits its eight most frequent codes, ascending; the
// answers with the others (and with codes outside 100-599) are other
// codes, while the classes stay exact.
func TestIntervalStatusCodes(t *testing.T) {
	t.Parallel()
	start := runStart.Truncate(time.Second)
	s := runOf(t, start, time.Second, manyCodes(start), 0)
	if s.Series.Len() != 1 {
		t.Fatalf("%d intervals", s.Series.Len())
	}
	iv := s.Series.At(0)
	want := map[int]int64{}
	for i, code := range manyCodesSeen[2:] {
		want[code] = int64(10 * (i + 3))
	}
	if got := codesOf(&iv.Codes); !maps.Equal(got, want) {
		t.Errorf("codes %v, want %v", got, want)
	}
	var order []int
	for code := range iv.Codes.All() {
		order = append(order, code)
	}
	if fmt.Sprint(order) != "[100 201 301 302 404 418 429 500]" {
		t.Errorf("codes in the order %v, want ascending", order)
	}
	// 503 ×10, 200 ×20 and 700 ×1 are not split.
	if n := iv.OtherCodes(); n != 31 {
		t.Errorf("other codes %d, want 31", n)
	}
	if iv.Codes.Count(418) != 90 || iv.Codes.Count(200) != 0 || iv.Codes.Len() != 8 || iv.Codes.Total() != 520 {
		t.Errorf("Count(418) %d, Count(200) %d, Len %d, Total %d", iv.Codes.Count(418), iv.Codes.Count(200), iv.Codes.Len(), iv.Codes.Total())
	}
	if iv.Status != [NumStatusClasses]int64{1, 100, 60, 130, 190, 70} {
		t.Errorf("classes %v", iv.Status)
	}
	// The run's own counts are exact for every code.
	if s.Status[503] != 10 || s.Status[200] != 20 {
		t.Errorf("run status %v", s.Status)
	}
}

// The recorders' codes add up exactly before the interval keeps its
// eight most frequent: ten codes, each on both recorders.
func TestIntervalStatusCodesAcrossRecorders(t *testing.T) {
	t.Parallel()
	start := runStart.Truncate(time.Second)
	recs := []*Recorder{NewRecorder(), NewRecorder()}
	iv := NewIntervals(start, time.Second, recs...)
	answer := func(r *Recorder, code, n int) {
		for range n {
			r.Record(Sample{Response: time.Millisecond, Service: time.Millisecond, Status: code, End: start.Add(time.Millisecond)})
		}
	}
	// Code i is answered 3 + i%5 times: 2 + i%5 by one recorder, once by
	// the other, so that no recorder alone has the interval's order.
	for i, code := range []int{200, 201, 202, 203, 204, 500, 501, 502, 503, 504} {
		answer(recs[i/5], code, 2+i%5)
		answer(recs[1-i/5], code, 1)
	}
	got := iv.Finish(start.Add(time.Second/2), 0).At(0)
	want := map[int]int64{201: 4, 202: 5, 203: 6, 204: 7, 501: 4, 502: 5, 503: 6, 504: 7}
	if c := codesOf(&got.Codes); !maps.Equal(c, want) || got.OtherCodes() != 6 {
		t.Errorf("codes %v, other %d; want %v, other 6 (200 and 500)", c, got.OtherCodes(), want)
	}
}

// codesWith returns the StatusCodes of an interval whose responses were
// pairs of code, count.
func codesWith(pairs ...int) StatusCodes {
	var counts [statusSlots]int64
	for i := 0; i < len(pairs); i += 2 {
		counts[pairs[i]] += int64(pairs[i+1])
	}
	return topCodes(&counts)
}

// Add sums the codes both count and, past eight, keeps the most
// frequent, in either order.
func TestStatusCodesAdd(t *testing.T) {
	t.Parallel()
	a := codesWith(200, 50, 404, 3, 500, 1)
	b := codesWith(200, 10, 503, 7, 0, 2)
	sum := a
	sum.Add(&b)
	if got, want := codesOf(&sum), map[int]int64{200: 60, 404: 3, 500: 1, 503: 7}; !maps.Equal(got, want) {
		t.Errorf("sum %v, want %v", got, want)
	}

	// Ten codes between two: the eight most frequent stay, the lower
	// code of two as frequent first.
	x := codesWith(200, 100, 201, 1, 202, 2, 203, 3, 204, 4, 205, 5)
	y := codesWith(200, 1, 301, 1, 302, 6, 303, 3, 304, 8)
	xy, yx := x, y
	xy.Add(&y)
	yx.Add(&x)
	want := map[int]int64{200: 101, 302: 6, 304: 8, 205: 5, 204: 4, 203: 3, 303: 3, 202: 2}
	if got := codesOf(&xy); !maps.Equal(got, want) {
		t.Errorf("x+y %v, want %v", got, want)
	}
	if xy != yx {
		t.Errorf("x+y %v, y+x %v", codesOf(&xy), codesOf(&yx))
	}

	// Of an interval's codes, the eight most frequent; codes below 100
	// (slot 0: outside 100-599) are never split.
	top := codesWith(0, 50, 101, 1, 102, 9, 103, 3, 104, 4, 105, 5, 106, 6, 107, 7, 108, 8, 109, 1)
	if got, want := codesOf(&top), map[int]int64{101: 1, 102: 9, 103: 3, 104: 4, 105: 5, 106: 6, 107: 7, 108: 8}; !maps.Equal(got, want) {
		t.Errorf("top codes %v, want %v", got, want)
	}
}

// Codes survive Save and Load, merge interval by interval in gather
// report, and show in -o json.
func TestStatusCodesSaveMergeJSON(t *testing.T) {
	t.Parallel()
	start := runStart.Truncate(time.Second)
	a := roundTrip(t, runOf(t, start, time.Second, manyCodes(start), 0))
	iv := a.Series.At(0)
	if got := codesOf(&iv.Codes); len(got) != 8 || got[418] != 90 || iv.OtherCodes() != 31 {
		t.Errorf("loaded codes %v, other %d", got, iv.OtherCodes())
	}
	// A second machine over the same second and the next, with codes of
	// its own.
	var samples []Sample
	for i, code := range []int{200, 404, 204} {
		for j := range 5 {
			samples = append(samples, Sample{Response: time.Millisecond, Service: time.Millisecond, Status: code,
				End: start.Add(time.Duration(i*700+j) * time.Millisecond)})
		}
	}
	b := roundTrip(t, runOf(t, start, time.Second, samples, 0))
	if err := a.Add(b); err != nil {
		t.Fatal(err)
	}
	if a.Series.Len() != 2 {
		t.Fatalf("merged series of %d intervals", a.Series.Len())
	}
	first, second := a.Series.At(0), a.Series.At(1)
	// 200 was not among the first run's eight: its 5 more are other codes.
	if first.Codes.Count(200) != 0 || first.Codes.Count(404) != 35 || first.Codes.Count(204) != 0 || first.OtherCodes() != 36 {
		t.Errorf("merged first interval: %v, other %d", codesOf(&first.Codes), first.OtherCodes())
	}
	if got := codesOf(&second.Codes); !maps.Equal(got, map[int]int64{204: 5}) || second.OtherCodes() != 0 {
		t.Errorf("merged second interval: %v, other %d", got, second.OtherCodes())
	}
	sameSeries(t, roundTrip(t, a).Series, a.Series)

	var buf bytes.Buffer
	if err := a.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Series []struct {
			StatusCodes      map[string]int64 `json:"status_codes"`
			StatusCodesOther *int64           `json:"status_codes_other"`
		} `json:"series"`
	}
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Series) != 2 || r.Series[0].StatusCodes["404"] != 35 || len(r.Series[0].StatusCodes) != 8 ||
		r.Series[0].StatusCodesOther == nil || *r.Series[0].StatusCodesOther != 36 {
		t.Fatalf("json series %+v", r.Series)
	}
	if r.Series[1].StatusCodes["204"] != 5 || r.Series[1].StatusCodesOther != nil {
		t.Errorf("json second interval %+v", r.Series[1])
	}
	// Ascending by code, as the view shows them.
	if got := strings.Join(strings.Fields(regexp.MustCompile(`"status_codes": \{[^}]*\}`).FindString(buf.String())), ""); !strings.HasPrefix(got, `"status_codes":{"100":100,"201":40,"301":50,"302":80,"404":35`) {
		t.Errorf("json codes in the order %s", got)
	}
}

// A run saved before codes were kept loads, its answers all other codes;
// a file with bad codes is refused.
func TestLoadStatusCodes(t *testing.T) {
	t.Parallel()
	start := runStart.Truncate(time.Second)
	var buf bytes.Buffer
	if err := runOf(t, start, time.Second, manyCodes(start), 0).Save(&buf); err != nil {
		t.Fatal(err)
	}
	valid := buf.String()
	codes := regexp.MustCompile(`(?s),\s*"status_codes": \{[^}]*\}`)
	if !codes.MatchString(valid) {
		t.Fatalf("no status_codes in the saved run:\n%s", valid)
	}
	old, err := Load(strings.NewReader(codes.ReplaceAllString(valid, "")))
	if err != nil {
		t.Fatalf("a run saved without codes: %v", err)
	}
	if iv := old.Series.At(0); iv.Codes.Len() != 0 || iv.OtherCodes() != iv.Requests-iv.Errors || iv.Status[2] != 60 {
		t.Errorf("old interval: %d codes, other %d, %d answers, classes %v", iv.Codes.Len(), iv.OtherCodes(), iv.Requests-iv.Errors, iv.Status)
	}

	replaceCodes := func(with string) string { return codes.ReplaceAllString(valid, `, "status_codes": {`+with+`}`) }
	for _, tt := range []struct{ name, codes, want string }{
		{"not a number", `"2xx": 1`, `status code "2xx"`},
		{"out of range", `"600": 1`, `status code "600"`},
		{"zero count", `"200": 0`, `status code "200": 0`},
		{"more than the class", `"200": 61`, "class 2xx add up to 61"},
		{"too many", `"101":1,"102":1,"103":1,"104":1,"105":1,"106":1,"107":1,"108":1,"109":1`, "9 status codes, more than 8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(strings.NewReader(replaceCodes(tt.codes)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: %v, want an error about %q", err, tt.want)
			}
		})
	}
}
