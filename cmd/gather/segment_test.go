package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Segments run side by side, each saving to standard output; their
// outputs collected into one stream (as kubectl logs collects the pods')
// merge into the report of the whole run: every request once, every
// segment there, the start skew shown. Without one of them the merge is
// refused, naming it, or made with --force and a warning.
func TestSegmentsMergeFromOneStream(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	var mu sync.Mutex
	seqs := map[string]int{} // {{.seq}}: the request's number in the whole run
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		mu.Lock()
		seqs[r.URL.Query().Get("seq")]++
		mu.Unlock()
		w.Write([]byte("hello!"))
	}))
	defer srv.Close()

	const n, segments = 1001, 3
	at := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	logs := make([]bytes.Buffer, segments)
	var wg sync.WaitGroup
	for i := range segments {
		wg.Go(func() {
			// A pod's log holds its standard output and error both.
			var out bytes.Buffer
			args := []string{"bench", "-n", "1001", "-c", "7", "--segment", strconv.Itoa(i) + "/3", "--start-at", at,
				"--run-id", "t1", "--save", "-", srv.URL + "/?seq={{.seq}}"}
			if code := run(args, strings.NewReader(""), &out, &logs[i]); code != 0 {
				t.Errorf("segment %d: exit status %d: %s", i, code, logs[i].String())
			}
			if strings.Count(out.String(), "\n") != 1 {
				t.Errorf("segment %d: stdout holds %d lines, want the saved run alone", i, strings.Count(out.String(), "\n"))
			}
			logs[i].Write(out.Bytes())
		})
	}
	wg.Wait()
	// A segment may end with a request still in the handler (sent, its
	// answer no longer awaited): Close waits for it, and mu orders its
	// count before the reads below.
	srv.Close()
	mu.Lock()
	defer mu.Unlock()
	if t.Failed() {
		return
	}
	// Each number of the whole run was sent once, by one segment or another.
	for j := range n {
		if c := seqs[strconv.Itoa(j)]; c != 1 {
			t.Errorf("request %d of the run was sent %d times", j, c)
		}
	}
	if len(seqs) != n {
		t.Errorf("%d distinct request numbers, want %d", len(seqs), n)
	}
	if !strings.Contains(logs[1].String(), "Segment        1/3 of run t1, started ") {
		t.Errorf("segment 1's report does not say which it is:\n%s", logs[1].String())
	}

	report := func(stdin string, args ...string) (code int, stdout, stderr string) {
		var o, e bytes.Buffer
		code = run(append([]string{"report"}, args...), strings.NewReader(stdin), &o, &e)
		return code, o.String(), e.String()
	}
	all := logs[0].String() + logs[1].String() + logs[2].String()
	code, out, errs := report(all, "-o", "json", "-")
	if code != 0 {
		t.Fatalf("report -: exit status %d: %s", code, errs)
	}
	var m struct {
		Requests    int64   `json:"requests"`
		Connections int     `json:"connections"`
		Runs        int     `json:"runs"`
		StartSkewMS float64 `json:"start_skew_ms"`
		Parts       []struct {
			Segment  int   `json:"segment"`
			Requests int64 `json:"requests"`
		} `json:"parts"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if m.Requests != n || served.Load() != n || m.Connections != 7 || m.Runs != segments || len(m.Parts) != segments {
		t.Errorf("merged: %d requests (the server saw %d) on %d connections in %d runs; want %d on 7 in 3",
			m.Requests, served.Load(), m.Connections, m.Runs, n)
	}
	for i, p := range m.Parts {
		if want := int64(333 + b2i(i < n%segments)); p.Segment != i || p.Requests != want {
			t.Errorf("part %d: segment %d with %d requests, want segment %d with %d", i, p.Segment, p.Requests, i, want)
		}
	}
	if !strings.Contains(errs, "gather: report: note: stdin: skipped ") {
		t.Errorf("report - did not say it skipped the reports' lines: %q", errs)
	}
	if m.StartSkewMS <= 0 {
		t.Errorf("start skew %v ms, want a measured one", m.StartSkewMS)
	}

	// Segment 2 lost: refused, or merged with --force and a warning.
	some := logs[0].String() + logs[1].String()
	code, out, errs = report(some, "-")
	if want := "gather: report: run t1: segment 2/3 is missing (2 of 3 given); --force merges what there is\n"; code != 2 || out != "" || !strings.HasSuffix(errs, want) {
		t.Errorf("two of three segments: exit status %d, stdout %d bytes, stderr %q; want 2, none, ending %q", code, len(out), errs, want)
	}
	code, out, _ = report(some, "--force", "-")
	if code != 0 || !strings.Contains(out, "WARNING: merged with --force: run t1: segment 2/3 is missing") {
		t.Errorf("two of three segments, --force: exit status %d, report:\n%s", code, out)
	}
	// The same segment twice (its log collected twice) is one run twice.
	code, _, errs = report(all+logs[2].String(), "-")
	if code != 2 || !strings.Contains(errs, "both hold run") {
		t.Errorf("segment 2 twice: exit status %d, stderr %q; want 2 and both hold run", code, errs)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// --save FILE leaves no file behind when the run does not end: it is
// written whole, at the end, or not at all.
func TestBenchSaveIsWhole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := filepath.Join(dir, "run.json")
	var stderr bytes.Buffer
	// Nothing listens on port 9: the run ends at once, every request
	// failed (exit status 1), and it is saved.
	if code := run([]string{"bench", "-n", "2", "-c", "1", "--save", name, "http://127.0.0.1:9/"},
		strings.NewReader(""), &bytes.Buffer{}, &stderr); code != 1 {
		t.Fatalf("exit status %d, want 1: %s", code, stderr.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "run.json" {
		t.Errorf("files after the run: %v, want run.json alone", entries)
	}
	if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("run.json: %v, %v; want mode 0644", fi, err)
	}
	// A bad flag after --save: the file is not touched, and nothing is left.
	if code := run([]string{"bench", "-n", "0", "--save", filepath.Join(dir, "other.json"), "http://127.0.0.1:9/"},
		strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("bad -n: exit status %d, want 2", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files after a usage error: %v, want run.json alone", entries)
	}
}

// The segment flags' bad values are usage errors naming them.
func TestSegmentFlags(t *testing.T) {
	const url = "http://127.0.0.1:9/"
	soon := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	late := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	tooLate := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	for _, tt := range []struct {
		env  string // JOB_COMPLETION_INDEX, "-" for unset
		args []string
		err  string
	}{
		{"-", []string{"--segment", "1/4", url}, ""},
		{"2", []string{"--segments", "4", url}, ""},
		{"-", []string{"--segment", "0/2", "--start-at", soon, "--run-id", "job-1.a_b", url}, ""},
		{"-", []string{"--segment", "4/4", url}, `bench: --segment: segment "4/4": i must be from 0 to 3`},
		{"-", []string{"--segment", "x", url}, `bench: --segment: segment "x": want i/N, e.g. 0/4`},
		{"-", []string{"--segment", "1/4", "--segments", "3", url}, "bench: --segment 1/4 and --segments 3 disagree"},
		{"-", []string{"--segments", "4", url}, "bench: --segments 4 needs --segment i/4, or $JOB_COMPLETION_INDEX (set in a Kubernetes Indexed Job)"},
		{"4", []string{"--segments", "4", url}, `bench: $JOB_COMPLETION_INDEX is "4": want an index from 0 to 3 (--segments 4)`},
		{"-", []string{"--segments", "0", url}, "bench: --segments must be at least 1, got 0"},
		{"-", []string{"--segment", "3/4", "-c", "3", url}, "bench: --segment: 3 connections over 4 segments leave segment 3/4 without one"},
		{"-", []string{"--segment", "3/4", "-n", "3", url}, "bench: --segment: 3 requests over 4 segments leave segment 3/4 without one"},
		{"-", []string{"--run-id", "x", url}, "bench: --run-id names a distributed run: give --segment i/N too"},
		{"-", []string{"--segment", "0/2", "--run-id", "a b", url}, `bench: --run-id "a b": want up to 64 letters, digits, '.', '_' or '-'`},
		{"-", []string{"--start-at", "tomorrow", url}, `bench: --start-at "tomorrow": want an RFC 3339 time, e.g. 2026-12-01T08:30:00Z`},
		{"-", []string{"--start-at", "2000-01-01T00:00:00Z", "-z", "10s", url}, "bench: --start-at 2000-01-01T00:00:00Z is "},
		{"-", []string{"--start-at", "2999-01-01T00:00:00Z", url}, "bench: --start-at 2999-01-01T00:00:00Z is "},
		// A late start, counted from --start-at, is fine up to an hour
		// without -z; years late, it filled the machine's memory with an
		// empty interval for each second since.
		{"-", []string{"--start-at", late, "-n", "10", url}, ""},
		{"-", []string{"--start-at", tooLate, "-n", "10", url}, "bench: --start-at " + tooLate + " is 2h0m"}, // 2h0m0s or 2h0m1s, as the second turns
		{"-", []string{"--start-at", "2020-01-01T00:00:00Z", "-n", "10", url}, "bench: --start-at 2020-01-01T00:00:00Z is "},
		{"-", []string{"--source-addr", "127.0.0.2", url}, ""},
		{"-", []string{"--source-addr", "localhost", url}, `bench: --source-addr "localhost": want an IP address`},
		// An address of no interface (TEST-NET-1) would fail every request.
		{"-", []string{"--source-addr", "192.0.2.1", url}, "bench: --source-addr 192.0.2.1: not an address of this machine (bind: "},
	} {
		t.Setenv(jobIndexEnv, tt.env) // restored after the test
		if tt.env == "-" {
			os.Unsetenv(jobIndexEnv)
		}
		cmd, f := newBenchCmdFlags()
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		_, err := f.plan(cmd.Flags().Args()[0], cmd.Flags().Changed("requests"), strings.NewReader(""))
		var usage *usageError
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err) || !errors.As(err, &usage)):
			t.Errorf("%q:\n got %v\nwant usage error %s", tt.args, err, tt.err)
		}
	}
}
