package report

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMergeGivesEachRunAnID(t *testing.T) {
	t.Parallel()
	a, b := Merge(), Merge()
	if len(a.RunIDs) != 1 || len(b.RunIDs) != 1 || a.RunIDs[0] == b.RunIDs[0] {
		t.Fatalf("run ids %v and %v, want one distinct id each", a.RunIDs, b.RunIDs)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(a.RunIDs[0]) {
		t.Errorf("run id %q, want 16 hexadecimal digits", a.RunIDs[0])
	}
	if err := a.Add(b); err != nil {
		t.Fatal(err)
	}
	if want := []string{a.RunIDs[0], b.RunIDs[0]}; !slices.Equal(a.RunIDs, want) {
		t.Errorf("merged run ids %v, want %v", a.RunIDs, want)
	}
	got := roundTrip(t, a)
	if !slices.Equal(got.RunIDs, a.RunIDs) {
		t.Errorf("saved and loaded run ids %v, want %v", got.RunIDs, a.RunIDs)
	}
}

// A file saved before runs had ids gets an id from its content, so the
// same file given twice is still one run, and two different runs are two.
func TestLoadGivesOldFilesAnID(t *testing.T) {
	t.Parallel()
	old := func(s *Summary) string {
		var buf bytes.Buffer
		if err := s.Save(&buf); err != nil {
			t.Fatal(err)
		}
		// Remove the run_ids field, as version 1 files before it were.
		return regexp.MustCompile(`(?s)\s*"run_ids": \[.*?\],`).ReplaceAllString(regexp.MustCompile(`(?s),\s*"parts": \[.*?\]`).ReplaceAllString(buf.String(), ""), "")
	}
	a := old(summaryOf(randomSamples(1, 100), time.Second))
	b := old(summaryOf(randomSamples(2, 100), time.Second))
	if strings.Contains(a, "run_ids") {
		t.Fatal("the test did not remove run_ids")
	}
	load := func(text string) *Summary {
		s, err := Load(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a1, a2, b1 := load(a), load(a), load(b)
	if len(a1.RunIDs) != 1 || !slices.Equal(a1.RunIDs, a2.RunIDs) {
		t.Errorf("one old file loaded twice: run ids %v and %v, want one and the same", a1.RunIDs, a2.RunIDs)
	}
	if slices.Equal(a1.RunIDs, b1.RunIDs) {
		t.Errorf("two old files of different runs have the same id %v", a1.RunIDs)
	}
}

func TestMergeCheck(t *testing.T) {
	t.Parallel()
	run := func(target, method string, rate float64) *Summary {
		s := summaryOf(randomSamples(1, 10), time.Second)
		s.Target, s.Method, s.Rate = target, method, rate
		return s
	}
	a := run("http://h/", "GET", 0)
	tests := []struct {
		name string
		s    *Summary
		want []string
	}{
		{"same test, other machine", run("http://h/", "GET", 0), nil},
		{"more connections", func() *Summary { s := run("http://h/", "GET", 0); s.Connections = 7; return s }(), nil},
		{"target", run("http://other/", "GET", 0), []string{"a and b: targets differ (http://h/ and http://other/)"}},
		{"method", run("http://h/", "PUT", 0), []string{"a and b: methods differ (GET and PUT)"}},
		{"model", run("http://h/", "GET", 100), []string{"a and b: models differ (closed and open)"}},
		{"all three", run("http://x/", "PUT", 5), []string{
			"a and b: targets differ (http://h/ and http://x/)",
			"a and b: methods differ (GET and PUT)",
			"a and b: models differ (closed and open)",
		}},
		{"same run", a, []string{"a and b: both hold run " + a.RunIDs[0]}},
	}
	for _, tt := range tests {
		var c MergeCheck
		if got := c.Check("a", a); got != nil {
			t.Fatalf("first run: %v, want nil", got)
		}
		if got := c.Check("b", tt.s); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Check = %q, want %q", tt.name, got, tt.want)
		}
	}

	// A merge holds its parts: the check names the first file holding a
	// run, and an open run is compared with the first run, not with the merge.
	var c MergeCheck
	b := run("http://h/", "GET", 0)
	ab := a.clone()
	if err := ab.Add(b); err != nil {
		t.Fatal(err)
	}
	c.Check("a", a)
	c.Check("c", run("http://h/", "GET", 0))
	if got, want := c.Check("ab", ab), []string{"a and ab: both hold run " + a.RunIDs[0]}; !slices.Equal(got, want) {
		t.Errorf("merge after a part: %q, want %q", got, want)
	}
	if got, want := c.Check("b", b), []string{"ab and b: both hold run " + b.RunIDs[0]}; !slices.Equal(got, want) {
		t.Errorf("part after a merge: %q, want %q", got, want)
	}
}
