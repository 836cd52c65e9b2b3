package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gather-dev/gather"
)

// Ctrl-C stops the demo at once, with the table of the cells that
// finished, a line on stderr, and exit status 130.
func TestDemoInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	// The first two cells take 4 units; the Ctrl-C comes in the third.
	time.AfterFunc(300*time.Millisecond, func() { cancel(&gather.SignalError{Signal: os.Interrupt}) })
	var stdout, stderr bytes.Buffer
	cmd := newDemoCmd()
	cmd.SilenceErrors, cmd.SilenceUsage = true, true // as under the root command
	cmd.SetArgs([]string{"--unit", "50ms"})
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	begin := time.Now()
	err := cmd.ExecuteContext(ctx)
	var status exitStatus
	if !errors.As(err, &status) || status != 130 {
		t.Errorf("err = %v, want exit status 130", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("the demo took %v to stop", took)
	}
	if got := stderr.String(); got != "gather demo: stopped by interrupt\n" {
		t.Errorf("stderr = %q", got)
	}
	out := stdout.String()
	if !strings.Contains(out, "    stopped after ") || !strings.Contains(out, "\n3 tasks of 1, 2, 4 units (Wait)") || strings.Contains(out, "\n[9]") {
		t.Errorf("want the demo stopped in a middle cell, with its table:\n%s", out)
	}
}
