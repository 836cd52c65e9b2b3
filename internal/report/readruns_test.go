package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// ReadRuns finds the runs in what a collection of logs looks like: lines
// of text around one-line runs, with kubectl's prefixes, and runs saved in
// full between them.
func TestReadRuns(t *testing.T) {
	t.Parallel()
	at := time.Now()
	line := func(s *Summary) string {
		var buf bytes.Buffer
		if err := s.SaveLine(&buf); err != nil {
			t.Fatal(err)
		}
		if strings.Count(buf.String(), "\n") != 1 {
			t.Fatal("SaveLine wrote more than one line")
		}
		return buf.String()
	}
	full := func(s *Summary) string {
		var buf bytes.Buffer
		if err := s.Save(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	a, b, c, d := segmentRun(0, 4, at), segmentRun(1, 4, at), segmentRun(2, 4, at), segmentRun(3, 4, at)
	logs := "Target         GET http://127.0.0.1:5000/\n" +
		"Requests       100  (100.0 req/s)\n" +
		line(a) +
		"[pod/gather-1-x/gather] " + line(b) +
		"2026-12-01T08:00:00.123456789Z " + strings.TrimSuffix(line(c), "\n") + "\r\n" +
		"{\"level\":\"info\",\"msg\":\"a log line of another program\"}\n" +
		full(d) +
		"\n"
	var got []string
	var lines []int
	skipped, err := ReadRuns(strings.NewReader(logs), func(at int, s *Summary) error {
		got = append(got, s.Parts[0].Host)
		lines = append(lines, at)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "gather-0,gather-1,gather-2,gather-3" || skipped != 4 {
		t.Errorf("runs %v, skipped %d; want the four segments, and 4 lines skipped", got, skipped)
	}
	if lines[0] != 3 || lines[3] != 7 {
		t.Errorf("runs begin on lines %v, want 3, 4, 5, 7", lines)
	}
}

func TestReadRunsErrors(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := segmentRun(0, 1, time.Now()).SaveLine(&buf); err != nil {
		t.Fatal(err)
	}
	one := buf.String()
	buf.Reset()
	if err := segmentRun(0, 1, time.Now()).Save(&buf); err != nil {
		t.Fatal(err)
	}
	pretty := buf.String()
	for _, tt := range []struct {
		name, in, want string
		noRuns         bool
	}{
		{"empty", "", "empty input", true},
		{"text", "hello\nworld\n", "no saved run among its 2 lines", true},
		{"a cut line", "text\n" + one[:len(one)/2] + "\n", "line 2: not a valid saved gather bench summary: truncated input", false},
		{"a cut file", pretty[:len(pretty)/2], "truncated input", false},
		{"other JSON", `{"format": "other"}` + "\n", `format is "other"`, false},
		{"a good run, then a bad one", one + strings.Replace(one, `"requests":100`, `"requests":1`, 1), "line 2: ", false},
	} {
		_, err := ReadRuns(strings.NewReader(tt.in), func(int, *Summary) error { return nil })
		switch {
		case err == nil || !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		case !errors.Is(err, ErrFormat) || errors.Is(err, ErrNoRuns) != tt.noRuns:
			t.Errorf("%s: error %v: ErrFormat %v, ErrNoRuns %v; want true, %v", tt.name, err,
				errors.Is(err, ErrFormat), errors.Is(err, ErrNoRuns), tt.noRuns)
		}
	}
}
