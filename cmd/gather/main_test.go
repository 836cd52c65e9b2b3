package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	testscript.Main(leakChecked{m}, map[string]func(){
		"gather":     main,
		"taskserver": taskServer,
	})
}

// leakChecked runs the tests, then fails the run if any goroutine is left.
type leakChecked struct{ m *testing.M }

func (l leakChecked) Run() int {
	code := l.m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// TestScript runs the CLI tests in testdata/script: each .txtar file is a
// shell-like script run against the real gather command.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitport": waitPort,
		},
		Setup: func(env *testscript.Env) error {
			// Each script gets a free loopback port in $PORT for a server it
			// starts in the background.
			port, err := freePort()
			if err != nil {
				return err
			}
			env.Setenv("PORT", strconv.Itoa(port))
			// And $CLOSEDPORT, one where nothing listens.
			if port, err = freePort(); err != nil {
				return err
			}
			env.Setenv("CLOSEDPORT", strconv.Itoa(port))
			// And $PORT2, for a second server.
			if port, err = freePort(); err != nil {
				return err
			}
			env.Setenv("PORT2", strconv.Itoa(port))
			return nil
		},
	})
}

// waitPort is the script command "waitport PORT": it waits, up to 20 s,
// until something accepts TCP connections on 127.0.0.1:PORT, so a script
// can start a server in the background and use it without a sleep.
func waitPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitport PORT")
	}
	addr := net.JoinHostPort("127.0.0.1", args[0])
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("nothing listens on %s after 20s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a loopback TCP port that was free a moment ago. Another
// process could take it before the script does; on a test machine that is
// rare enough, and the script then fails loudly rather than silently.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Help and completion follow the exit-status rule as every command does:
// an unknown topic or shell, or an argument too many, is one line and
// exit status 2 (cobra printed help with status 0, or failed with 1).
func TestHelpAndCompletionUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"help", "nope"}, `gather: help: unknown command "nope" (see 'gather help')` + "\n"},
		{[]string{"help", "bench", "extra"}, `gather: help: unknown command "bench extra" (see 'gather help')` + "\n"},
		{[]string{"completion", "nosh"}, `gather: completion: unknown shell "nosh": want bash, zsh, fish or powershell` + "\n"},
		{[]string{"completion", "bash", "extra"}, `gather: completion bash takes no arguments, got "extra"` + "\n"},
	} {
		var stdout, stderr strings.Builder
		if status := run(tt.args, strings.NewReader(""), &stdout, &stderr); status != 2 || stderr.String() != tt.stderr || stdout.Len() != 0 {
			t.Errorf("gather %s: status %d, stderr %q, stdout %d bytes; want 2 and %q", strings.Join(tt.args, " "), status, stderr.String(), stdout.Len(), tt.stderr)
		}
	}
	// What works still does.
	for _, args := range [][]string{{"help"}, {"help", "bench"}, {"completion"}, {"completion", "bash"}} {
		var stdout, stderr strings.Builder
		if status := run(args, strings.NewReader(""), &stdout, &stderr); status != 0 || stdout.Len() == 0 || stderr.Len() != 0 {
			t.Errorf("gather %s: status %d, stderr %q, stdout %d bytes; want 0 and output", strings.Join(args, " "), status, stderr.String(), stdout.Len())
		}
	}
}
