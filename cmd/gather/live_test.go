package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/slowserver"
)

// tmux runs tmux on a server of the test's own (-L), so that it never
// touches a tmux the machine's user has.
type tmux struct {
	t      *testing.T
	socket string
}

// newTmux starts a detached tmux session running command in a terminal
// of 100 × 45, and ends its server when the test ends. Without tmux (in
// .ci/apt-packages) the test fails under CI and is skipped elsewhere.
func newTmux(t *testing.T, command string) *tmux {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is not installed: .ci/run installs it from .ci/apt-packages")
		}
		t.Skip("tmux is not installed (apt-get install tmux): the live view is not tested in a terminal")
	}
	tm := &tmux{t: t, socket: fmt.Sprintf("gather-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	tm.run("-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "45", command)
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen returns what the terminal shows, and the lines scrolled off it.
func (tm *tmux) screen() string { return tm.run("capture-pane", "-p", "-S", "-200") }

// waitFor waits, up to 60 s on a busy machine, until the screen matches
// every pattern, and returns it.
func (tm *tmux) waitFor(what string, patterns ...*regexp.Regexp) string {
	tm.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := tm.screen()
		ok := true
		for _, p := range patterns {
			ok = ok && p.MatchString(s)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("after 60 s, no %s on the screen:\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLiveViewInTmux runs gather bench in a real terminal (tmux): the
// live view shows the rate and the percentiles while the run goes, q stops
// the run, the report still prints, and the terminal is back in its normal
// mode after (no alternate screen, canonical input with echo).
func TestLiveViewInTmux(t *testing.T) {
	srv, err := slowserver.Start("127.0.0.1:0", slowserver.Config{Delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	gather, err := exec.LookPath("gather") // the test binary, as testscript.Main set it up
	if err != nil {
		t.Fatal(err)
	}
	tm := newTmux(t, fmt.Sprintf("%s bench -z 60s -c 2 %s/; echo EXIT=$?; stty -a; sleep 60", gather, srv.URL()))

	live := tm.waitFor("live view with a rate and percentiles",
		regexp.MustCompile(`Requests/s +now +\d+\.\d +overall +\d+\.\d +requests \d+`),
		regexp.MustCompile(`p99 +\d+\.\d{3} ms +\d+\.\d{3} ms`),
		regexp.MustCompile(`elapsed \d+\.\d s  remaining \d+\.\d s`),
		regexp.MustCompile(`Status +200 \d+ \(\d+\)`),
		regexp.MustCompile(`q or Ctrl-C: stop the run`))
	if alt := strings.TrimSpace(tm.run("display-message", "-p", "#{alternate_on}")); alt != "1" {
		t.Errorf("while the view shows, alternate_on is %q, want 1", alt)
	}
	t.Logf("the live view:\n%s", live)

	tm.run("send-keys", "q")
	// The last pattern is stty -a's first line: the modes checked below
	// come after EXIT=, and a screen taken between the two lacks them.
	after := tm.waitFor("report after q", regexp.MustCompile(`(?m)^EXIT=\d+$`), regexp.MustCompile(`(?m)^Interrupted +before the end`), regexp.MustCompile(`(?m)^speed \d+ baud`))
	if !strings.Contains(after, "EXIT=130") {
		t.Errorf("exit status after q is not 130:\n%s", after)
	}
	for _, want := range []string{"Target         GET " + srv.URL() + "/", "Response time (ms)", "gather: bench interrupted"} {
		if !strings.Contains(after, want) {
			t.Errorf("after q, the screen lacks %q:\n%s", want, after)
		}
	}
	if strings.Contains(after, "q or Ctrl-C") {
		t.Errorf("the live view is still on the screen after q:\n%s", after)
	}
	if alt := strings.TrimSpace(tm.run("display-message", "-p", "#{alternate_on}")); alt != "0" {
		t.Errorf("after the run, alternate_on is %q, want 0", alt)
	}
	// stty -a, after the run: the terminal reads lines and echoes them.
	for _, mode := range []*regexp.Regexp{regexp.MustCompile(`(^|\s)icanon(\s|$)`), regexp.MustCompile(`(^|\s)echo(\s|$)`), regexp.MustCompile(`(^|\s)isig(\s|$)`)} {
		if !mode.MatchString(after) {
			t.Errorf("after the run, stty -a does not show %s:\n%s", mode, after)
		}
	}
}
