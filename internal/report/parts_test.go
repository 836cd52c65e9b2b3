package report

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// segmentRun returns segment i of n of the run "r", of a closed-model run
// split by hand: samples of its own, a start i ms after at.
func segmentRun(i, n int, at time.Time) *Summary {
	s := summaryOf(closedSamples(uint64(100+i), 100+i), time.Second)
	s.Parts[0] = Part{Host: fmt.Sprintf("gather-%d", i), Run: "r", Segment: i, Segments: n, Plan: "c=8 z=1s",
		Start: at.Add(time.Duration(i) * time.Millisecond), StartAt: at, Requests: s.Requests,
		Clock: Clock{Known: true, Synchronized: true, MaxError: 4 * time.Millisecond, EstError: time.Millisecond}}
	return s
}

// A saved run keeps its parts exactly, and a merge of saved merges keeps
// every part, in order, with its run id.
func TestPartsRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 8, 0, 0, 123456789, time.UTC)
	a, b, c := segmentRun(0, 3, at), segmentRun(1, 3, at), segmentRun(2, 3, at)
	ab := roundTrip(t, a)
	if err := ab.Add(roundTrip(t, b)); err != nil {
		t.Fatal(err)
	}
	all := roundTrip(t, ab)
	if err := all.Add(roundTrip(t, c)); err != nil {
		t.Fatal(err)
	}
	all = roundTrip(t, all)
	want := []Part{a.Parts[0], b.Parts[0], c.Parts[0]}
	for i := range want {
		want[i].Start, want[i].StartAt = want[i].Start.Local(), want[i].StartAt.Local()
	}
	if !reflect.DeepEqual(all.Parts, want) {
		t.Errorf("parts after merges and saves:\n%+v\nwant\n%+v", all.Parts, want)
	}
	if wantIDs := []string{a.RunIDs[0], b.RunIDs[0], c.RunIDs[0]}; !reflect.DeepEqual(all.RunIDs, wantIDs) {
		t.Errorf("run ids %v, want %v", all.RunIDs, wantIDs)
	}
	if skew, ok := all.StartSkew(); !ok || skew != 2*time.Millisecond {
		t.Errorf("start skew %v, %v; want 2ms", skew, ok)
	}
}

// A saved file whose parts do not fit its runs is refused.
func TestLoadRejectsBadParts(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := segmentRun(1, 3, time.Now()).Save(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	for _, tt := range []struct{ old, new, want string }{
		{`"segment": 1,`, `"segment": 3,`, "segment 3 of 3"},
		{`"run": "r",`, ``, "needs a run id"},
		{`      "requests": 101`, `      "requests": 102`, "parts' requests add up to 102"},
		{`"id": "`, `"id": "x`, "part 0 is run"},
	} {
		bad := strings.Replace(good, tt.old, tt.new, 1)
		if bad == good {
			t.Fatalf("%q is not in the saved run", tt.old)
		}
		_, err := Load(strings.NewReader(bad))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s -> %s: error %v, want one saying %q", tt.old, tt.new, err, tt.want)
		}
	}
}

// The merge check wants every segment of a run once, split alike, and
// says which are missing or doubled.
func TestMergeCheckSegments(t *testing.T) {
	t.Parallel()
	at := time.Now()
	check := func(runs ...*Summary) (conflicts, missing []string) {
		var c MergeCheck
		for i, s := range runs {
			conflicts = append(conflicts, c.Check(fmt.Sprintf("s%d", i), s)...)
		}
		return conflicts, c.Missing()
	}
	whole := []*Summary{segmentRun(0, 3, at), segmentRun(1, 3, at), segmentRun(2, 3, at)}
	if c, m := check(whole...); c != nil || m != nil {
		t.Errorf("a whole run: conflicts %q, missing %q; want none", c, m)
	}
	if _, m := check(whole[0], whole[2]); len(m) != 1 || m[0] != "run r: segment 1/3 is missing (2 of 3 given)" {
		t.Errorf("segment 1 missing: %q", m)
	}
	if _, m := check(whole[1]); len(m) != 1 || m[0] != "run r: segments 0/3, 2/3 are missing (1 of 3 given)" {
		t.Errorf("two missing: %q", m)
	}
	again := segmentRun(1, 3, at) // the same segment run again: a new run id
	if c, _ := check(whole[0], whole[1], again, whole[2]); len(c) != 1 || c[0] != "s1 and s2: both hold segment 1/3 of run r (run again?)" {
		t.Errorf("a segment twice: %q", c)
	}
	if c, _ := check(whole[0], whole[1], whole[1], whole[2]); len(c) != 1 || !strings.Contains(c[0], "both hold run") {
		t.Errorf("one file twice: %q, want one conflict, about the run", c)
	}
	other := segmentRun(2, 4, at)
	if c, _ := check(whole[0], whole[1], other); len(c) != 1 || c[0] != "s0 and s2: run r is split in 3 segments and in 4" {
		t.Errorf("split differently: %q", c)
	}
	replanned := segmentRun(2, 3, at)
	replanned.Parts[0].Plan = "c=8 z=2s"
	if c, _ := check(whole[0], whole[1], replanned); len(c) != 1 || c[0] != "s0 and s2: segments of run r ran different plans (c=8 z=1s and c=8 z=2s)" {
		t.Errorf("different plans: %q", c)
	}
	// A merge of two segments holds both: merged with the third, whole.
	m := whole[0].clone()
	if err := m.Add(whole[1]); err != nil {
		t.Fatal(err)
	}
	if c, mm := check(m, whole[2]); c != nil || mm != nil {
		t.Errorf("a merge and the last segment: conflicts %q, missing %q; want none", c, mm)
	}
}

// The text report of one segment says which it is and how late it
// started; a merge's shows the skew.
func TestWriteTextSegment(t *testing.T) {
	t.Parallel()
	at := time.Now()
	var buf bytes.Buffer
	if err := segmentRun(2, 3, at).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if want := "Segment        2/3 of run r, started 2.000 ms after --start-at\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("report of segment 2/3 lacks %q:\n%s", want, buf.String())
	}
	m := segmentRun(0, 3, at)
	for i := 1; i < 3; i++ {
		if err := m.Add(segmentRun(i, 3, at)); err != nil {
			t.Fatal(err)
		}
	}
	buf.Reset()
	if err := m.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Start skew     2.000 ms  (3 segments of run r)\n",
		"  2/3     gather-2            +2.000 ms    2.000 ms       102       0          ?\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("merged report lacks %q:\n%s", want, buf.String())
		}
	}
}

// The table of merged runs stays in columns whatever its values: a start
// of "+0 µs" (µ is two bytes, which fmt's widths count) or one longer than
// the column ("+562.252 ms") pushed a row out of line.
func TestPartTableColumns(t *testing.T) {
	t.Parallel()
	at := time.Now()
	m := segmentRun(0, 3, at)
	for i, start := range []time.Duration{400 * time.Microsecond, 1234567 * time.Microsecond} {
		s := segmentRun(i+1, 3, at)
		s.Parts[0].Start = at.Add(start)
		s.Parts[0].CPU = time.Duration(i+1) * 123456 * time.Microsecond
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := m.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(buf.String(), "Merged runs")
	if !ok {
		t.Fatalf("no table of merged runs:\n%s", buf.String())
	}
	lines := strings.Split(table, "\n")[1:5] // the header and three rows
	header := []rune(lines[0])
	var ends []int // where each right-aligned column ends, in the header
	for _, name := range []string{"start", "late start", "requests", "late", "CPU/req"} {
		i := strings.Index(string(header), " "+name)
		if name == "late" {
			i = strings.LastIndex(string(header), " "+name)
		}
		ends = append(ends, utf8.RuneCountInString(string(header)[:i])+1+len(name))
	}
	for _, line := range lines[1:] {
		r := []rune(line)
		for _, end := range ends {
			if end > len(r) || r[end-1] == ' ' || (end < len(r) && r[end] != ' ') {
				t.Errorf("row out of line with the header at column %d:\n%s\n%s", end, lines[0], line)
				break
			}
		}
	}
	if !strings.Contains(table, "+1.234 s") && !strings.Contains(table, "+1234.567 ms") {
		t.Errorf("the late segment's start is not shown:\n%s", table)
	}
}
