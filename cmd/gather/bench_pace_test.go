package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// Every bad input of issue 10 (stages that do not parse, a negative or
// zero duration, a profile with -n, --find-max without an SLO, an
// --interval longer than the run) is a one-line usage error, exit status
// 2, before any request: the server sees no connection.
func TestBenchPaceUsageErrors(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	url := srv.URL + "/"
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"--stage", "30s", url}, `--stage "30s": want DURATION:TARGET`},
		{[]string{"--stage", "30s:5000:1", url}, `--stage "30s:5000:1": bad target`},
		{[]string{"-q", "0", "--stage", "x:5000", url}, `--stage "x:5000": bad duration "x"`},
		{[]string{"-q", "0", "--stage", "0s:5000", url}, `--stage "0s:5000": a stage must last`},
		{[]string{"-q", "0", "--stage", "-1s:5000", url}, `--stage "-1s:5000": a stage must last`},
		{[]string{"-q", "0", "--stage", "1s:=-5", url}, `the target must not be negative`},
		{[]string{"-z", "0s", url}, "-z must be positive, got 0s"},
		{[]string{"-z", "-2s", url}, "-z must not be negative, got -2s"},
		{[]string{"-q", "100", "-n", "50", "--stage", "10s:200", url}, "--stage with -n"},
		{[]string{"--stage", "10s:20", "-n", "50", url}, "--stage with -n"},
		{[]string{"--find-max", url}, "--find-max needs an SLO"},
		{[]string{"--find-max", "--slo-p99", "0s", url}, "--find-max needs an SLO"},
		{[]string{"--find-max", "--slo-p99", "-5ms", url}, "--slo-p99 must be positive"},
		{[]string{"--interval", "2s", "-z", "1s", url}, "--interval 2s is longer than the run (1s)"},
		{[]string{"-q", "0", "--stage", "1s:100", "--interval", "5s", url}, "--interval 5s is longer than the run (1s)"},
		{[]string{"--find-max", "--slo-p99", "10ms", "-z", "1s", "--interval", "2s", url}, "--interval 2s is longer than the run (1s)"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"bench"}, tt.args...)
		got := run(args, strings.NewReader(""), &stdout, &stderr)
		if got != 2 || stdout.Len() != 0 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), tt.err) {
			t.Errorf("%q: exit status %d, stdout %q, stderr %q; want 2, nothing, one line with %q",
				tt.args, got, stdout.String(), stderr.String(), tt.err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("the server saw %d connections; want none before a usage error", n)
	}
}
