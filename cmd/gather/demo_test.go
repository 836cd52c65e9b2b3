package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gather-dev/gather"
)

// Ctrl-C stops the demo at once, with the table of the cells that
// finished, a line on stderr saying what stopped it, and exit status 130
// (SIGTERM: 143).
func TestDemoInterrupted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sig    os.Signal
		status exitStatus
		stderr string
	}{
		{os.Interrupt, 130, "gather demo: stopped by Ctrl-C (SIGINT)\n"},
		{syscall.SIGTERM, 143, "gather demo: stopped by SIGTERM\n"}, // was "stopped by terminated"
	} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			// The signal comes as the third cell starts, whenever that is: a
			// timer (300 ms, the first two cells taking 200) left the demo's
			// start-up 100 ms on a loaded machine.
			var stdout, stderr bytes.Buffer
			var once sync.Once
			watch := &watchWriter{w: &stdout, seen: func(b []byte) {
				if bytes.Contains(b, []byte("\n[3] ")) {
					once.Do(func() { cancel(&gather.SignalError{Signal: tt.sig}) })
				}
			}}
			cmd := newDemoCmd()
			cmd.SilenceErrors, cmd.SilenceUsage = true, true // as under the root command
			cmd.SetArgs([]string{"--unit", "50ms"})
			cmd.SetOut(watch)
			cmd.SetErr(&stderr)
			begin := time.Now()
			err := cmd.ExecuteContext(ctx)
			var status exitStatus
			if !errors.As(err, &status) || status != tt.status {
				t.Errorf("err = %v, want exit status %d", err, tt.status)
			}
			if took := time.Since(begin); took > 5*time.Second {
				t.Errorf("the demo took %v to stop", took)
			}
			if got := stderr.String(); got != tt.stderr {
				t.Errorf("stderr = %q, want %q", got, tt.stderr)
			}
			out := stdout.String()
			if !strings.Contains(out, "    stopped after ") || !strings.Contains(out, "\n3 tasks of 1, 2, 4 units (Wait)") || strings.Contains(out, "\n[9]") {
				t.Errorf("want the demo stopped in a middle cell, with its table:\n%s", out)
			}
		})
	}
}

// watchWriter writes to w and calls seen with everything written so far,
// after each write. Writes may come from several goroutines.
type watchWriter struct {
	mu   sync.Mutex
	w    *bytes.Buffer
	seen func([]byte)
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.w.Write(p)
	w.seen(w.w.Bytes())
	return n, err
}
