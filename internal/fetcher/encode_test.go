package fetcher

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"
)

// encodeJSON is what the Writer wrote before appendRecord: encoding/json
// without HTML escaping, so that URLs keep their '&'.
func encodeJSON(t testing.TB, r *Record) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var trickyStrings = []string{
	"", "plain", `quote " and backslash \`, "<b>&amp;</b>", "tab\tnew\nline\rcr",
	"\b\f\x00\x01\x1f\x7f", "é ü 日本 🙂", "\u2028\u2029", "bad \xff utf-8 \xe2\x82", "\xed\xa0\x80 surrogate",
	"http://x/?a=1&b=2#frag", strings.Repeat("x", 300),
}

// appendRecord writes what encoding/json writes, byte for byte.
func TestAppendRecordMatchesJSON(t *testing.T) {
	t.Parallel()
	floats := []float64{0, 1, 0.001, 51.744, 1234567.891, 1e-7, 123e-9, 1e21, 5e22, 1.5e300, -2.5, math.SmallestNonzeroFloat64}
	for i, s := range trickyStrings {
		body := s
		r := Record{Line: i, URL: s, FinalURL: s, Status: 200 + i, Bytes: int64(i) << 40, ContentType: s,
			DurationMS: floats[i%len(floats)], Attempts: i, Error: s, Message: s, File: s, BodyTruncated: i%2 == 0}
		if i%3 != 0 {
			r.Body = &body
		}
		if got, want := string(appendRecord(nil, &r)), encodeJSON(t, &r); got != want {
			t.Errorf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
	for _, f := range floats {
		r := Record{DurationMS: f}
		if got, want := string(appendRecord(nil, &r)), encodeJSON(t, &r); got != want {
			t.Errorf("duration %v:\n got %s\nwant %s", f, got, want)
		}
	}
	empty := ""
	for _, r := range []Record{{}, {Body: &empty}} {
		if got, want := string(appendRecord(nil, &r)), encodeJSON(t, &r); got != want {
			t.Errorf("record %+v:\n got %s\nwant %s", r, got, want)
		}
	}
}

func FuzzAppendRecord(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, 51.744, int64(6))
	}
	f.Fuzz(func(t *testing.T, s string, d float64, n int64) {
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return // encoding/json refuses them; no record holds one
		}
		r := Record{URL: s, Message: s, Body: &s, DurationMS: d, Bytes: n}
		if got, want := string(appendRecord(nil, &r)), encodeJSON(t, &r); got != want {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// Writing a record costs no allocation: it is encoded into the buffer.
func TestWriterAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	w := NewWriter(io.Discard, 0)
	defer w.Close()
	body := "hello"
	r := &Record{Line: 1, URL: "http://127.0.0.1:8080/?i=1", FinalURL: "http://127.0.0.1:8080/?i=1", Status: 200,
		Bytes: 6, ContentType: "text/plain; charset=utf-8", DurationMS: 0.512, Attempts: 1, Body: &body}
	if n := testing.AllocsPerRun(1000, func() { w.Write(r) }); n != 0 {
		t.Errorf("%v allocations per record, want 0", n)
	}
}

func BenchmarkWriter(b *testing.B) {
	w := NewWriter(io.Discard, 0)
	defer w.Close()
	r := &Record{Line: 1, URL: "http://127.0.0.1:8080/?i=1", FinalURL: "http://127.0.0.1:8080/?i=1", Status: 200,
		Bytes: 6, ContentType: "text/plain; charset=utf-8", DurationMS: 0.512, Attempts: 1}
	b.ReportAllocs()
	for b.Loop() {
		w.Write(r)
	}
}
