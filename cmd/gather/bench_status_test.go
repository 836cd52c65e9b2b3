package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gather-dev/gather/internal/report"
)

// A run that measured nothing but its failure exits 1 after its report:
// every request refused, or HTTP/2 at a server without it, in the closed
// model and the open one. A failed threshold says 3 first; 500s are
// answers, and exit 0.
func TestBenchRunFailedExitStatus(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/500" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	port, err := freePort() // nothing listens there once freePort returns
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	for _, tt := range []struct {
		args   []string
		status int
		stderr string // its one line's start; "" for none
	}{
		{[]string{"-n", "10", "-c", "2", closed}, 1, "gather: bench: every request failed (10 of 10;"},
		{[]string{"-n", "10", "-c", "2", "-o", "json", closed}, 1, "gather: bench: every request failed (10 of 10;"},
		{[]string{"-n", "10", "-c", "2", "--goroutines", closed}, 1, "gather: bench: every request failed (10 of 10;"},
		{[]string{"-n", "4", "-c", "2", "--http2", srv.URL + "/"}, 1, "gather: bench: the run stopped early:"},
		{[]string{"-q", "50", "-z", "5s", "-c", "2", "--http2", srv.URL + "/"}, 1, "gather: bench: the run stopped early:"},
		{[]string{"-n", "10", "-c", "2", "--threshold", "errors<1%", closed}, 3, "gather: bench: threshold errors<1% failed"},
		{[]string{"-n", "10", "-c", "2", srv.URL + "/500"}, 0, ""},
		{[]string{"-n", "10", "-c", "2", srv.URL + "/"}, 0, ""},
	} {
		var stdout, stderr bytes.Buffer
		got := run(append([]string{"bench"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
		lines := strings.Count(stderr.String(), "\n")
		switch {
		case got != tt.status:
			t.Errorf("%q: exit status %d, want %d; stderr %q", tt.args, got, tt.status, stderr.String())
		case stdout.Len() == 0:
			t.Errorf("%q: no report", tt.args)
		case tt.stderr == "" && lines != 0, tt.stderr != "" && (lines != 1 || !strings.HasPrefix(stderr.String(), tt.stderr)):
			t.Errorf("%q: stderr %q, want one line starting %q", tt.args, stderr.String(), tt.stderr)
		}
	}
}

// A run the engine stopped early exits 1 even when no request ended (the
// ones in flight were cut): the count of failures alone would say 0.
func TestRunFailedStoppedEarly(t *testing.T) {
	t.Parallel()
	sum := &report.Summary{Cut: 4}
	sum.Generator.StoppedEarly = true
	if err := runFailed(sum, io.Discard); err != exitStatus(1) {
		t.Errorf("stopped early, no request ended: %v, want exit status 1", err)
	}
	if err := runFailed(&report.Summary{Cut: 4}, io.Discard); err != nil {
		t.Errorf("no request ended, all cut at -z: %v, want none", err)
	}
}
