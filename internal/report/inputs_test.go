package report

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// savedRun returns a run of n requests to target, as Save writes it.
func savedRun(t *testing.T, target string, n int) []byte {
	t.Helper()
	samples := make([]Sample, n)
	for i := range samples {
		samples[i] = Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 200}
	}
	s := runOf(t, runStart, time.Second, withEnds(samples, runStart, time.Second), 0)
	s.Target = target
	var b bytes.Buffer
	if err := s.Save(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// oddRangeRun is a saved run of the target savedRun uses whose
// histograms track another range than gather's.
func oddRangeRun(t *testing.T) []byte {
	t.Helper()
	samples := []Sample{{Response: time.Millisecond, Service: time.Millisecond, Status: 200}}
	s := runOf(t, runStart, time.Second, withEnds(samples, runStart, time.Second), 0)
	s.Target = "http://a/"
	s.response, s.service = hdrhistogram.New(1, 1000, 2), hdrhistogram.New(1, 1000, 2)
	var b bytes.Buffer
	if err := s.Save(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A folder's files are read in name order, a file of several runs is
// named by line, stdin as "stdin"; what is only worth a note
// (a file without a run in a folder, lines that are not runs) is noted.
func TestMergeInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	os.Mkdir(runs, 0o755)
	a := savedRun(t, "http://a/", 3)
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(runs, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1.json", a)
	write("2.json", nil) // a machine that died before it saved
	var line bytes.Buffer
	for range 2 {
		s, err := Load(bytes.NewReader(a))
		if err != nil {
			t.Fatal(err)
		}
		s.SaveLine(&line)
	}
	write("3.log", append([]byte("pod-0 starting\n"), line.Bytes()...))
	// A link is read as the file it names; a folder in the folder, or
	// anything else not a file, is noted (both were passed over without
	// a word).
	other := filepath.Join(dir, "elsewhere.json")
	if err := os.WriteFile(other, a, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(runs, "4.json")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(runs, "5.old"), 0o755)
	var notes []string
	total, named, err := MergeInputs([]string{runs, "-"}, bytes.NewReader(a), true, func(s string) { notes = append(notes, s) })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range named {
		names = append(names, strings.TrimPrefix(r.Name, runs+string(filepath.Separator)))
	}
	if want := []string{"1.json", "3.log:2", "3.log:3", "4.json", "stdin"}; !slices.Equal(names, want) {
		t.Errorf("runs %q, want %q", names, want)
	}
	if total.Requests != 15 {
		t.Errorf("merged %d requests, want 15", total.Requests)
	}
	if len(notes) != 3 || !strings.HasSuffix(notes[0], "2.json holds no saved run") ||
		!strings.HasSuffix(notes[1], "3.log: skipped 1 line that is not a saved run") ||
		notes[2] != filepath.Join(runs, "5.old")+" is not a file: not read" {
		t.Errorf("notes %q", notes)
	}
}

// The input's faults are told apart from the rest, and a forced merge of
// runs that do not belong says so in the merged run.
func TestMergeInputsErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	dangling := filepath.Join(dir, "dangling") // a link to a run not there
	os.Mkdir(dangling, 0o755)
	os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dangling, "gone.json"))
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	os.WriteFile(a, savedRun(t, "http://a/", 2), 0o644)
	os.WriteFile(b, savedRun(t, "http://b/", 2), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("not a run\n"), 0o644)
	// Histograms of another range than gather's cannot come from gather:
	// a file with them is bad input, not a conflict --force could merge.
	odd := filepath.Join(dir, "odd.json")
	os.WriteFile(odd, oddRangeRun(t), 0o644)
	nothing := func(string) {}
	for _, tt := range []struct {
		inputs []string
		kind   error
		msg    string
	}{
		{[]string{filepath.Join(dir, "none.json")}, ErrBadInput, "no such file or directory"},
		{[]string{empty}, ErrBadInput, "empty: the folder holds no file"},
		{[]string{dangling}, ErrBadInput, filepath.Join(dangling, "gone.json") + " links to " + filepath.Join(dir, "gone") + ": no such file or directory"},
		{[]string{bad}, ErrBadInput, "bad.json: "},
		{[]string{a, b}, ErrConflict, "a.json and " + b + ": targets differ (http://a/ and http://b/)"},
		{[]string{a, odd}, ErrBadInput, odd + ": not a valid saved gather bench summary: response histogram: range 1-1000 µs"},
	} {
		_, _, err := MergeInputs(tt.inputs, nil, false, nothing)
		// The command puts "report: " before the message; the package's own
		// prefix would say it twice.
		if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) || strings.Contains(err.Error(), "report: ") {
			t.Errorf("%q: %v, want %v saying %q", tt.inputs, err, tt.kind, tt.msg)
		}
	}
	total, _, err := MergeInputs([]string{a, b}, nil, true, nothing)
	if err != nil {
		t.Fatal(err)
	}
	if total.Requests != 4 || len(total.MergeWarnings) == 0 || !strings.HasPrefix(total.MergeWarnings[0], "merged with --force: ") {
		t.Errorf("forced: %d requests, warnings %q", total.Requests, total.MergeWarnings)
	}
}
