package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/slowserver"
)

// TestFetchTypedURLsInTmux runs gather fetch with no arguments in a real
// terminal (tmux): it says it reads stdin (issue 17, item 10), and draws no
// progress line over the URLs being typed, which used to garble them
// ("0 done, 0 failed, 0 URLs/s, 1shttp://..."); the record and the summary
// still come.
func TestFetchTypedURLsInTmux(t *testing.T) {
	srv, err := slowserver.Start("127.0.0.1:0", slowserver.Config{Delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	gather, err := exec.LookPath("gather") // the test binary, as testscript.Main set it up
	if err != nil {
		t.Fatal(err)
	}
	tm := newTmux(t, fmt.Sprintf("%s fetch; echo EXIT=$?; sleep 60", gather))
	tm.waitFor("the note that fetch reads stdin", regexp.MustCompile(`(?m)^gather fetch: reading URLs from stdin, one per line \(Ctrl-D ends them`))
	// The progress line, if any, is drawn every 250 ms.
	time.Sleep(time.Second)
	tm.run("send-keys", srv.URL()+"/", "Enter")
	time.Sleep(time.Second)
	tm.run("send-keys", "C-d")
	screen := tm.waitFor("the record and the summary",
		regexp.MustCompile(`(?m)^EXIT=0$`),
		regexp.MustCompile(`(?m)^fetched 1 URL in `))
	if !strings.Contains(screen, "\n"+srv.URL()+"/\n") {
		t.Errorf("the typed URL is not a line of its own:\n%s", screen)
	}
	if strings.Contains(screen, " done, ") {
		t.Errorf("a progress line was drawn while URLs were typed:\n%s", screen)
	}
}
