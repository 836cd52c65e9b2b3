package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata and the saved runs in the report_*.txtar scripts")

// closedSamples returns n closed-model samples: response equals service.
func closedSamples(seed uint64, n int) []Sample {
	out := randomSamples(seed, n)
	for i := range out {
		out[i].Response = out[i].Service
		out[i].Late = false
	}
	return out
}

// goldenSummaries are the reports whose text and JSON renderings are
// compared with testdata/<name>.txt and .json.
func goldenSummaries(t *testing.T) map[string]*Summary {
	closed := summaryOf(closedSamples(1, 3000), 3*time.Second)
	closed.Generator = Generator{AchievedRate: 1000, GCPause: 2500 * time.Microsecond, CPU: 36 * time.Millisecond}

	open := summaryOf(randomSamples(2, 2000), 2*time.Second)
	open.Rate = 1000
	open.Generator = Generator{
		TargetRate: 1000, AchievedRate: 740.5, SendLagP99: 120 * time.Millisecond,
		SendLagMax: 900 * time.Millisecond, GCPause: 3 * time.Millisecond, Bound: true,
		Warnings: []string{"achieved 740.5 req/s of the 1000.0 asked for: the generator could not keep up"},
	}
	open.Generator.LateWaiting = open.Late / 3
	open.Generator.LateGenerator = open.Late - open.Generator.LateWaiting

	merged := summaryOf(closedSamples(3, 1000), time.Second)
	if err := merged.Add(summaryOf(closedSamples(4, 1500), 2*time.Second)); err != nil {
		t.Fatal(err)
	}

	forced := merged.clone()
	forced.MergeWarnings = []string{"merged with --force: a.json and b.json: targets differ (http://127.0.0.1:5000/ and http://127.0.0.1:5001/)"}

	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	failed := summaryOf([]Sample{{Err: ErrRefused, Error: refused}, {Err: ErrRefused, Error: refused},
		{Err: ErrTimeout, Error: errors.New("read tcp 127.0.0.1:40000->127.0.0.1:1: i/o timeout")}}, time.Millisecond)
	failed.Asked.Requests = 3
	failed.Connections = 1

	// Two segments of one distributed run, started 1.5 ms apart, the
	// second 2 ms after its --start-at, on a clock nobody synchronizes.
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	segments := summaryOf(closedSamples(7, 1000), time.Second)
	segments.Parts[0] = Part{Host: "gather-0-x7k2p", Node: "node-a", Run: "c2a4e6f80b1d3957", Segment: 0, Segments: 2,
		Plan: "c=20 z=1s", Start: at.Add(500 * time.Microsecond), StartAt: at, Requests: 1000,
		Clock: Clock{Known: true, Synchronized: true, MaxError: 16 * time.Millisecond}, CPU: 20 * time.Millisecond}
	seg1 := summaryOf(closedSamples(8, 1200), time.Second)
	seg1.Parts[0] = Part{Host: "gather-1-q9d4m", Run: "c2a4e6f80b1d3957", Segment: 1, Segments: 2,
		Plan: "c=20 z=1s", Start: at.Add(2 * time.Millisecond), StartAt: at, Requests: 1200, Late: 0,
		Clock: Clock{Known: true}, CPU: 30 * time.Millisecond}
	if err := segments.Add(seg1); err != nil {
		t.Fatal(err)
	}
	all := map[string]*Summary{"segments": segments, "closed": closed, "open": open, "merged": merged, "forced": forced, "failed": failed, "empty": Merge(),
		"phases": phasedSummary(5, 2000, 40), "targets": targetSummary(6, 3000, testTargetNames)}
	all["targets"].Thresholds = []Verdict{
		{Expr: "p99<250ms", Metric: "p99", Op: "<", Limit: 250, Value: 2007.039, Unit: "ms", Measured: "2007.039 ms"},
		{Expr: "login:errors<10%", Target: "login", Metric: "errors", Op: "<", Limit: 10, Value: 5.1, Unit: "%", Measured: "5.10% (51 of 1000)", Pass: true},
	}
	// Run ids are random; fixed ones keep the golden files stable.
	for name, s := range all {
		s.RunIDs = []string{name}
		if s.Runs > 1 {
			s.RunIDs = []string{name + "-1", name + "-2"}
		}
	}
	return all
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func TestWriteTextGolden(t *testing.T) {
	for name, s := range goldenSummaries(t) {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := s.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".txt", buf.Bytes())
			for i, line := range strings.Split(buf.String(), "\n") {
				if n := utf8.RuneCountInString(line); n > 80 {
					t.Errorf("line %d is %d columns wide: %q", i+1, n, line)
				}
				if strings.TrimRight(line, " ") != line {
					t.Errorf("line %d has trailing spaces: %q", i+1, line)
				}
			}
		})
	}
}

func TestWriteTextSections(t *testing.T) {
	t.Parallel()
	sections := func(s *Summary) string {
		var buf bytes.Buffer
		if err := s.WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		var titles []string
		for _, line := range strings.Split(buf.String(), "\n") {
			if line != "" && line[0] != ' ' {
				titles = append(titles, strings.Fields(line)[0])
			}
		}
		return strings.Join(titles, ",")
	}
	g := goldenSummaries(t)
	tests := []struct {
		name, want string
	}{
		{"closed", "Target,Model,Elapsed,Requests,Transferred,Errors,Response,Status,Errors,Response,Generator"},
		{"open", "Target,Model,Elapsed,Requests,Transferred,Errors,Late,Dropped,Response,Service,Status,Errors,Response,Generator,WARNING:"},
		{"merged", "Target,Model,Runs,Elapsed,Requests,Transferred,Errors,Response,Status,Errors,Response,Generator"},
		{"segments", "Target,Model,Runs,Start,Elapsed,Requests,Transferred,Errors,Response,Status,Errors,Response,Generator,Merged,WARNING:"},
		{"empty", "Target,Model,Elapsed,Requests,Transferred,Errors,Response,Status,Response,Generator"},
	}
	for _, tt := range tests {
		if got := sections(g[tt.name]); got != tt.want {
			t.Errorf("%s: sections\n %s\nwant\n %s", tt.name, got, tt.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	for name, s := range goldenSummaries(t) {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := s.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json", buf.Bytes())

			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			keys := []string{
				"target", "method", "model", "connections", "rate_per_s", "profile", "runs", "run_ids",
				"merge_warnings", "elapsed_s",
				"requests", "requests_per_s", "bytes", "bytes_per_s", "asked", "interrupted", "errors", "errors_by_kind",
				"error_samples", "non_2xx",
				"late", "dropped", "cut", "status", "response", "service", "histogram", "phases", "targets", "thresholds", "generator",
				"start_unix_s", "interval_s", "series", "parts", "start_skew_ms",
			}
			for _, key := range keys {
				if _, ok := m[key]; !ok {
					t.Errorf("field %q missing", key)
				}
			}
			if len(m) != len(keys) {
				t.Errorf("%d fields, want %d: a new field needs documenting in json.go and here", len(m), len(keys))
			}
			resp := m["response"].(map[string]any)
			l := s.Response()
			if resp["p99_ms"] != msOf(l.P99) || resp["count"] != float64(l.Count) || resp["max_ms"] != msOf(l.Max) {
				t.Errorf("response = %v, want p99 %v, count %d", resp, l.P99, l.Count)
			}
			if m["requests"] != float64(s.Requests) || m["errors"] != float64(s.Errors) {
				t.Errorf("requests, errors = %v, %v; want %d, %d", m["requests"], m["errors"], s.Requests, s.Errors)
			}
			var hist int64
			for _, row := range m["histogram"].([]any) {
				hist += int64(row.(map[string]any)["count"].(float64))
			}
			if hist != l.Count {
				t.Errorf("histogram rows add up to %d, want %d responses", hist, l.Count)
			}
		})
	}
}

func TestResponseHistogram(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		samples  []Sample
		rows     int
		maxUpper time.Duration
	}{
		{"spread", closedSamples(9, 5000), 10, 0},
		{"one value", []Sample{{Response: 5 * time.Millisecond, Status: 200}}, 1, 5 * time.Millisecond},
		{"sub-microsecond", []Sample{{Response: 10, Status: 200}, {Response: 900, Status: 200}}, 1, time.Microsecond},
		{"two values", []Sample{{Response: time.Millisecond, Status: 200}, {Response: time.Second, Status: 200}}, 10, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := summaryOf(tt.samples, time.Second)
			rows := s.ResponseHistogram(10)
			if len(rows) != tt.rows {
				t.Errorf("%d rows, want %d: %v", len(rows), tt.rows, rows)
			}
			var total int64
			for i, r := range rows {
				total += r.Count
				if i > 0 && r.Upper <= rows[i-1].Upper {
					t.Errorf("row %d upper %v not above %v", i, r.Upper, rows[i-1].Upper)
				}
			}
			if total != s.Response().Count {
				t.Errorf("rows hold %d responses, want %d", total, s.Response().Count)
			}
			if last := rows[len(rows)-1].Upper; last != s.Response().Max && !(tt.maxUpper != 0 && near(last, tt.maxUpper)) {
				t.Errorf("last row ends at %v, want the max %v", last, s.Response().Max)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text  string
		width int
		want  []string
	}{
		{"short line", 80, []string{"short line"}},
		{"aaa bbb ccc", 7, []string{"aaa bbb", "  ccc"}},
		{"aaaaaaaaaa b", 5, []string{"aaaaaaaaaa", "  b"}},
		{"", 5, []string{""}},
	}
	for _, tt := range tests {
		if got := wrap(tt.text, tt.width, "  "); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.text, tt.width, got, tt.want)
		}
	}
}
