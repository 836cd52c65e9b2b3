package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gather-dev/gather"
)

// Every usage error of serve and demo exits with status 2 and says what
// was wrong on one line of stderr, and nothing on stdout. The testscripts
// check the messages; this checks the status, which they cannot.
func TestServeAndDemoUsageErrors(t *testing.T) {
	t.Parallel()
	used, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer used.Close()
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"serve", "--delay", "5x"}, `invalid argument "5x" for "--delay" flag`},
		{[]string{"serve", "--grace", "soon"}, `invalid argument "soon" for "--grace" flag`},
		{[]string{"serve", "--addr", "nonsense"}, `serve: bad --addr "nonsense"`},
		{[]string{"serve", "--addr", "127.0.0.1:65536"}, "port must be a number from 0 to 65535"},
		{[]string{"serve", "--addr", "127.0.0.1:http"}, "port must be a number from 0 to 65535"},
		{[]string{"serve", "--addr", used.Addr().String()}, "serve: cannot listen on " + used.Addr().String() + ": address already in use"},
		{[]string{"serve", "--addr", "192.0.2.1:0"}, "serve: cannot listen on 192.0.2.1:0: "}, // an address of no local interface
		{[]string{"serve", "--delay", "-1s"}, "--delay must not be negative"},
		{[]string{"serve", "--max-delay", "0s"}, "--max-delay must be positive"},
		{[]string{"serve", "--max-bytes", "0"}, "--max-bytes must be positive"},
		{[]string{"serve", "--jitter", "-1ms"}, "--jitter must not be negative"},
		{[]string{"serve", "--fail-rate", "-0.1"}, "--fail-rate must be from 0 to 1"},
		{[]string{"serve", "--fail-rate", "NaN"}, "--fail-rate must be from 0 to 1"},
		{[]string{"serve", "--grace", "-1s"}, "--grace must not be negative"},
		{[]string{"serve", "--timer", "sundial"}, `serve: --timer must be precise or runtime, got "sundial"`},
		{[]string{"serve", "extra"}, `serve takes no arguments, got "extra"`},
		{[]string{"serve", "--seed", "7"}, "serve: --seed has nothing to do without --jitter or --fail-rate (it seeds them)"},
		{[]string{"demo", "--unit", "0s"}, "--unit must be from 1ms to 1m"},
		{[]string{"demo", "--unit", "2m"}, "--unit must be from 1ms to 1m"},
		{[]string{"demo", "--requests", "0"}, "--requests must be from 1 to 10000"},
		{[]string{"demo", "--requests", "10001"}, "--requests must be from 1 to 10000"},
		{[]string{"demo", "--url", "127.0.0.1:5000"}, `bad --url "127.0.0.1:5000"`},
		{[]string{"demo", "--url", "http://"}, `bad --url "http://"`},
		{[]string{"demo", "extra"}, `demo takes no arguments, got "extra"`},
		// A port no server can have is bad input, not a server that is down.
		{[]string{"demo", "--url", "http://127.0.0.1:99999/"}, `bad --url "http://127.0.0.1:99999/": port 99999 is out of range (want 1 to 65535)`},
		{[]string{"demo", "--url", "http://127.0.0.1:0/"}, `port 0 is out of range`},
		{[]string{"demo", "--url", "http://:8080/"}, `bad --url "http://:8080/": want http://host:port`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, strings.NewReader(""), &stdout, &stderr)
		if code != 2 || stdout.Len() > 0 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), tt.err) {
			t.Errorf("gather %s: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q",
				strings.Join(tt.args, " "), code, stdout.String(), stderr.String(), tt.err)
		}
	}
}

// Ctrl-C (the command's context cancelled by a signal) shuts the server
// down: requests in flight get --grace to finish, then are cut, and serve
// prints what it served and exits with status 130.
func TestServeInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	stderrR, stderrW := io.Pipe()
	cmd := newServeCmd()
	cmd.SilenceErrors, cmd.SilenceUsage = true, true // as under the root command
	cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--delay", "1m", "--grace", "200ms"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(stderrW)
	result := make(chan error, 1)
	go func() {
		result <- cmd.ExecuteContext(ctx)
		stderrW.Close()
	}()
	lines := bufio.NewScanner(stderrR)
	if !lines.Scan() {
		t.Fatalf("serve printed nothing; it returned %v", <-result)
	}
	url, ok := strings.CutPrefix(lines.Text(), "gather serve: listening on ")
	url, _, _ = strings.Cut(url, " ")
	if !ok {
		t.Fatalf("first line %q does not give the address", lines.Text())
	}
	// /stream sends its headers at once, so the request is in flight
	// when Get returns; with a delay of 1m it is still there at the cut.
	resp, err := http.Get(url + "/stream/10")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	begin := time.Now()
	cancel(&gather.SignalError{Signal: os.Interrupt})
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	var status exitStatus
	if err := <-result; !errors.As(err, &status) || status != 130 {
		t.Errorf("serve returned %v, want exit status 130", err)
	}
	if took := time.Since(begin); took < 200*time.Millisecond || took > 10*time.Second {
		t.Errorf("shutdown took %v, want the 200ms grace and a little", took)
	}
	want := []string{
		"gather serve: shutting down, letting requests in flight finish for up to 200ms",
		"gather serve: served 1 request, 0 dropped, 0 client gone, 1 in flight cut",
	}
	if !slices.Equal(rest, want) {
		t.Errorf("serve printed\n%q\nwant\n%q", rest, want)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the cut answer ended cleanly, want an error")
	}
}
