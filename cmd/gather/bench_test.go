package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Every bad value is a usage error naming it, found before any request.
func TestBenchFlags(t *testing.T) {
	t.Parallel()
	body := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(body, []byte("from a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	const url = "http://127.0.0.1:9/x?y=1"
	tests := []struct {
		args []string
		err  string // "" for a valid command line
	}{
		{args: []string{url}},
		{args: []string{"-n", "5", "-c", "5", "-z", "1s", "-q", "10", "-m", "PUT", "-d", "x", "-t", "0", url}},
		{args: []string{"-H", "X-A: 1", "-H", "x-b:2", "-H", "Host: example.com", "--host", "example.com", url}},
		{args: []string{"-D", body, "--http2", "--insecure", "--no-keepalive", "-o", "json", "https://[::1]:8443/"}},
		{args: []string{"--insecure", url}, err: "bench: --insecure needs an https:// URL"},
		{args: []string{"--insecure", "--cacert", body, "https://127.0.0.1:9/"}, err: "bench: --insecure and --cacert contradict each other (--insecure verifies nothing)"},
		{args: []string{"-n", "0", url}, err: "bench: -n must be at least 1, got 0"},
		{args: []string{"-n", "-3", url}, err: "bench: -n must be at least 1, got -3"},
		{args: []string{"-c", "-1", url}, err: "bench: -c must be at least 1, got -1"},
		{args: []string{"-z", "-1s", url}, err: "bench: -z must not be negative, got -1s"},
		{args: []string{"-q", "-5", url}, err: "bench: -q must be a positive rate, got -5"},
		{args: []string{"-q", "NaN", url}, err: "bench: -q must be a positive rate, got NaN"},
		{args: []string{"-q", "+Inf", url}, err: "bench: -q must be a positive rate, got +Inf"},
		{args: []string{"-q", "0.0001", url}, err: "bench: -q 0.0001 is below one request per 1000 s"},
		{args: []string{"-q", "1e20", "-z", "1s", url}, err: "bench: -q 1e+20 is above the limit of 1e+08 req/s"},
		{args: []string{"-q", "1e8", "-z", "1000000h", url}, err: "bench: -q with -z or -n: the schedule holds 3.6e+17 requests, more than the limit of 2^53 (9007199254740992)"},
		{args: []string{"-q", "1", "--stage", "1s:1e20", url}, err: `bench: --stage "1s:1e20": the rate is above the limit of 1e+08 req/s`},
		{args: []string{"-t", "-1s", url}, err: "bench: -t must not be negative, got -1s"},
		{args: []string{"-o", "xml", url}, err: `bench: -o must be text or json, got "xml"`},
		{args: []string{"-d", "x", "-D", body, url}, err: "bench: -d and -D cannot be used together"},
		{args: []string{"-D", body + ".missing", url}, err: "bench: -D: open " + body + ".missing: no such file or directory"},
		{args: []string{"-m", "GE T", url}, err: `bench: bad method "GE T"`},
		{args: []string{"-m", "", url}, err: `bench: bad method ""`},
		{args: []string{"-H", "X-A 1", url}, err: `bench: bad header "X-A 1": want "Name: value"`},
		{args: []string{"-H", ": 1", url}, err: `bench: bad header ": 1": want "Name: value"`},
		{args: []string{"-H", "X A: 1", url}, err: `bench: bad header "X A: 1": want "Name: value"`},
		{args: []string{"-H", "X-A: 1\r\nX-B: 2", url}, err: `bench: bad header "X-A: 1\r\nX-B: 2": value holds a line break or NUL`},
		{args: []string{"-H", "Content-Length: 5", url}, err: "bench: header Content-Length is set by gather from the body"},
		{args: []string{"-H", "transfer-encoding: chunked", url}, err: "bench: header transfer-encoding is set by gather from the body"},
		{args: []string{"-H", "Connection: close", url}, err: "bench: header Connection is set by gather (see --no-keepalive)"},
		{args: []string{"-H", "Host: a", "--host", "b", url}, err: `bench: two Host values: "b" and "a"`},
		{args: []string{"--host", "a b", url}, err: `bench: bad --host "a b"`},
		{args: []string{"ftp://127.0.0.1/"}, err: `bench: bad URL "ftp://127.0.0.1/": scheme must be http or https`},
		{args: []string{"localhost:8080"}, err: `bench: bad URL "localhost:8080": want http://host[:port]/path or https://...`},
		{args: []string{"http://"}, err: `bench: bad URL "http://": no host`},
		{args: []string{"http://:80/"}, err: `bench: bad URL "http://:80/": no host`},
		{args: []string{"http://h:99999/"}, err: `bench: bad URL "http://h:99999/": bad port "99999"`},
		{args: []string{"http://h:0/"}, err: `bench: bad URL "http://h:0/": bad port "0"`},
		{args: []string{"http://u:p@h/"}, err: `bench: bad URL "http://u:p@h/": credentials in URLs are not sent; use -H 'Authorization: ...'`},
		{args: []string{"-c", "100000000", "-z", "1s", url}, err: "bench: -c 100000000 needs 100000032 open files, the limit is " + strconv.FormatUint(fileLimit(t), 10) + " (raise it with ulimit -n)"},
		{args: []string{"-c", "100000000", "-n", "10", url}},
		{args: []string{"--interval", "250ms", "--hlog", "x.hlog", "-z", "1s", url}},
		{args: []string{"--interval", "0s", url}, err: "bench: --interval must be at least 100ms, got 0s"},
		{args: []string{"--interval", "-1s", url}, err: "bench: --interval must be at least 100ms, got -1s"},
		{args: []string{"--interval", "10s", "-z", "5s", url}, err: "bench: --interval 10s is longer than the run (5s)"},
		{args: []string{"-q", "0", "--stage", "30s:5000", "--stage", "2m:5000", "--stage", "30s:=0", url}},
		{args: []string{"--stage", "10s:50", "--stage", "1m:50", url}},
		{args: []string{"--stage", "10s", url}, err: `bench: --stage "10s": want DURATION:TARGET (30s:5000; 30s:=5000 to step to 5000 and hold it)`},
		{args: []string{"--stage", "0s:10", url}, err: `bench: --stage "0s:10": a stage must last (a step is DURATION:=TARGET)`},
		{args: []string{"--stage", "-5s:10", url}, err: `bench: --stage "-5s:10": a stage must last (a step is DURATION:=TARGET)`},
		{args: []string{"--stage", "ten:10", url}, err: `bench: --stage "ten:10": bad duration "ten"`},
		{args: []string{"--stage", "10s:lots", url}, err: `bench: --stage "10s:lots": bad target "lots"`},
		{args: []string{"--stage", "10s:-3", url}, err: `bench: --stage "10s:-3": the target must not be negative`},
		{args: []string{"--stage", "10s:1.5", url}, err: `bench: --stage "10s:1.5": a number of connections is a whole number (for a rate, give -q, 0 to start from nothing)`},
		{args: []string{"--stage", "10s:100", "-n", "10", url}, err: "bench: --stage with -n: a profile runs for its stages' time, not a request count"},
		{args: []string{"--stage", "10s:100", "-z", "5s", url}, err: "bench: --stage with -z: the stages set the run's length (10s); drop -z"},
		{args: []string{"-q", "0", "--stage", "10s:=0", url}, err: "bench: the rate stages make no request due"},
		{args: []string{"--stage", "10s:0", url}, err: "bench: the connection stages never open a connection"},
		{args: []string{"-q", "10", "--stage", "10s:100", "--interval", "20s", url}, err: "bench: --interval 20s is longer than the run (10s)"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--slo-errors", "1%", "-z", "5s", "-q", "500", url}},
		{args: []string{"--find-max", url}, err: "bench: --find-max needs an SLO: --slo-p99, --slo-errors or both"},
		{args: []string{"--slo-p99", "50ms", url}, err: "bench: --slo-p99 goes with --find-max"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "-n", "100", url}, err: "bench: --find-max holds each rate for -z, not a request count: drop -n"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "-q", "0", "--stage", "1s:10", url}, err: "bench: --find-max sets its own rates: drop --stage"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--save", "x.json", url}, err: "bench: --find-max reports its steps: --save, --hlog and --html are for one run (run the rate it finds with them)"},
		// Flags the search would drop without a word.
		{args: []string{"--find-max", "--slo-p99", "50ms", "--html", "x.html", url}, err: "bench: --find-max reports its steps: --save, --hlog and --html are for one run (run the rate it finds with them)"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--threshold", "p99<1s", url}, err: "bench: --find-max judges each step by its SLO: --threshold, --junit and --abort-on-fail are for one run (run the rate it finds with them)"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--threshold", "p99<1s", "--junit", "t.xml", url}, err: "bench: --find-max judges each step by its SLO: --threshold, --junit and --abort-on-fail are for one run (run the rate it finds with them)"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--prometheus", "http://127.0.0.1:9/api/v1/write", url}, err: "bench: --find-max does not stream its steps: --prometheus and --otlp are for one run"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--otlp", "http://127.0.0.1:9/v1/metrics", url}, err: "bench: --find-max does not stream its steps: --prometheus and --otlp are for one run"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--tui", url}, err: "bench: --find-max has no live view: it prints each step as it ends (drop --tui)"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--start-at", "2030-01-01T00:00:00Z", url}, err: "bench: --find-max runs its steps one after another: not with --start-at"},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--no-tui", "-o", "json", url}},
		{args: []string{"--find-max", "--slo-errors", "2", url}, err: `bench: --slo-errors "2": want a share above 0% and at most 100%`},
		{args: []string{"--find-max", "--slo-errors", "lots", url}, err: `bench: --slo-errors "lots": want a share such as 1% or 0.01`},
		{args: []string{"--find-max", "--slo-p99", "50ms", "--find-precision", "1.5", url}, err: "bench: --find-precision must be between 0 and 1, got 1.5"},
		{args: []string{"--loop-timer", "sundial", url}, err: `bench: --loop-timer must be timerfd, deadline or pwait2, got "sundial"`},
		{args: []string{"http://h/%zz"}, err: `bench: bad URL "http://h/%zz": parse "http://h/%zz": invalid URL escape "%zz"`},
	}
	for _, tt := range tests {
		// Parse with the command's own flag set, then validate as RunE does.
		cmd, f := newBenchCmdFlags()
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		args := cmd.Flags().Args()
		if err := cmd.Args(cmd, args); err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		_, err := f.plan(args[0], cmd.Flags().Changed("requests"), strings.NewReader(""))
		var usage *usageError
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err || !errors.As(err, &usage)):
			t.Errorf("%q:\n got %v\nwant usage error %s", tt.args, err, tt.err)
		}
	}
}

func fileLimit(t *testing.T) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	return lim.Cur
}

// Ctrl-C (the command's context cancelled) stops the run, prints the
// report of the requests that finished, and exits with status 130.
func TestBenchInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 10 {
			cancel() // the eleventh request is in flight: press Ctrl-C
			<-r.Context().Done()
			return
		}
		w.Write([]byte("hello"))
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	cmd := newBenchCmd()
	cmd.SilenceErrors, cmd.SilenceUsage = true, true // as under the root command
	cmd.SetArgs([]string{"-c", "1", "-n", "1000", "-t", "1m", srv.URL + "/"})
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	start := time.Now()
	err := cmd.ExecuteContext(ctx)
	var status exitStatus
	if !errors.As(err, &status) || status != 130 {
		t.Fatalf("err = %v, want exit status 130", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("the run took %v to stop", time.Since(start))
	}
	if !strings.Contains(stdout.String(), "\nRequests       10  (") {
		t.Errorf("report does not show the 10 finished requests:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "\nErrors         0  (") {
		t.Errorf("the interrupted request counts as an error:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "\nCut            1  (in flight when the run stopped)\n") {
		t.Errorf("report does not count the request cut in flight:\n%s", stdout.String())
	}
	if got := stderr.String(); got != "gather: bench interrupted: the report covers the requests that finished\n" {
		t.Errorf("stderr = %q", got)
	}
}

// Ctrl-C before any request has been answered: the report says there is
// no latency data instead of printing zeros, and both reports say the run
// was interrupted.
func TestBenchInterruptedBeforeAnyAnswer(t *testing.T) {
	t.Parallel()
	for _, output := range []string{"text", "json"} {
		ctx, cancel := context.WithCancel(t.Context())
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cancel() // the first request is in flight: press Ctrl-C
			<-r.Context().Done()
		}))
		var stdout bytes.Buffer
		cmd := newBenchCmd()
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		cmd.SetArgs([]string{"-c", "1", "-n", "10", "-t", "1m", "-o", output, srv.URL + "/"})
		cmd.SetOut(&stdout)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(ctx)
		srv.Close()
		var status exitStatus
		if !errors.As(err, &status) || status != 130 {
			t.Errorf("%s: err = %v, want exit status 130", output, err)
		}
		want := []string{
			"\nInterrupted    before the end: the report covers the requests that ended\n",
			"\nRequests       0  (0.0 req/s)\n",
			"\nCut            1  (in flight when the run stopped)\n",
			"\nResponse time (ms)\n  no data: no request was answered\n",
		}
		if output == "json" {
			want = []string{"\n  \"interrupted\": true,\n", "\n  \"requests\": 0,\n", "\n    \"requests\": 10,\n", "\n  \"cut\": 1,\n"}
		}
		for _, w := range want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("%s report lacks %q:\n%s", output, w, stdout.String())
			}
		}
		if strings.Contains(stdout.String(), "p99              0.000") {
			t.Errorf("%s report prints zero percentiles:\n%s", output, stdout.String())
		}
	}
}

// Bad input exits 2 before any request, whatever it is: a flag, a URL,
// an input file that is a directory, an output path that cannot be
// written (nothing listens on port 9: a request sent would fail, not
// exit 2).
func TestBenchExitStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"bench", "--frobnicate", "http://127.0.0.1:9/"},
		{"bench", "127.0.0.1:9"},
		{"bench", "-n", "1", "--save", dir, "http://127.0.0.1:9/"},
		{"bench", "-n", "1", "--save", filepath.Join(dir, "no", "such", "x.json"), "http://127.0.0.1:9/"},
		{"bench", "-n", "1", "-D", dir, "http://127.0.0.1:9/"},
		// "-" would be a file named "-": stdout is the report's.
		{"bench", "-n", "1", "--html", "-", "http://127.0.0.1:9/"},
		{"bench", "-n", "1", "--hlog", "-", "http://127.0.0.1:9/"},
		{"bench", "-n", "1", "--junit", "-", "--threshold", "p99<1s", "http://127.0.0.1:9/"},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(args, strings.NewReader(""), &stdout, &stderr); got != 2 || stdout.Len() != 0 ||
			strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%q: exit status %d, stdout %q, stderr %q; want 2, nothing, one line", args, got, stdout.String(), stderr.String())
		}
	}
}
