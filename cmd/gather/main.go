// Command gather runs the gather project's tools: the tutorial's slow
// server (serve), the tutorial replayed (demo), an HTTP load generator
// (bench, report) and a concurrent fetcher (fetch).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gather-dev/gather"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process exit status,
// by one rule for every command: 0 on success; 2 for a usage error (a bad
// flag, value, URL or input file, an unwritable output path: anything
// found before the work starts); 130 after Ctrl-C and 143 after SIGTERM;
// the status a command chose with [exitStatus] (1 when something the
// user asked to fail on failed, 3 for a failed threshold); and 1 for any
// other error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	stopDebug := func() {}
	addDebugFlag(root, stderr, &stopDebug)
	defer func() { stopDebug() }()
	root.SetArgs(args)
	root.SetIn(stdin)
	// Help, usage and the output of a command that does not check its
	// writes (cobra's) must not fail silently either.
	out := &checkedWriter{w: stdout}
	root.SetOut(out)
	root.SetErr(stderr)
	strictHelpAndCompletion(root) // after SetOut: cobra's completion commands keep the writer they see
	err := gather.Run(func(ctx context.Context) error {
		err := root.ExecuteContext(ctx)
		// One rule for every command: stopped by a signal, after
		// reporting what was done, gather exits 130 (SIGINT) or 143
		// (SIGTERM), whatever else the command saw.
		var usage *usageError
		if status := interruptStatus(ctx); status != 0 && !errors.As(err, &usage) {
			var st exitStatus
			if err != nil && !errors.As(err, &st) {
				fmt.Fprintf(stderr, "gather: %v\n", err)
			}
			return status
		}
		return err
	})
	var status exitStatus
	var usage *usageError
	if werr := out.Err(); werr != nil && (err == nil || err == werr) {
		// Help drops its write error; --version and completion return
		// it as it came: either way, say what failed, as the commands
		// that name their output do ("bench: writing the report: ...").
		err = fmt.Errorf("writing the output: %w", werr)
	}
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		return int(status)
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "gather: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "gather: %v\n", err)
		return 1
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "gather",
		Short: "Run many things at once: a slow demo server, the asyncio tutorial in Go, an HTTP load generator, a concurrent fetcher",
		Long: `gather is Python's asyncio task model in Go, and the tools built on it.

Start with "gather demo": it replays the asyncio tutorial with real timings,
against a slow server it starts by itself.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q (see 'gather help')", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		// "gather: bench: unknown flag: --x"; main adds the "gather: ".
		if cmd.HasParent() {
			err = fmt.Errorf("%s: %w", cmd.Name(), err)
		}
		return &usageError{err: err}
	})
	root.AddCommand(
		newServeCmd(),
		newDemoCmd(),
		newBenchCmd(),
		newReportCmd(),
		newPsCmd(),
		newFetchCmd(),
	)
	return root
}

// strictHelpAndCompletion makes cobra's help and completion commands
// follow the exit-status rule: an unknown topic or shell, or an argument
// too many, is a usage error (2), where cobra prints help with status 0
// or fails with status 1.
func strictHelpAndCompletion(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			help := c.Run
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if found, rest, err := root.Find(args); err != nil || found == nil || len(rest) > 0 {
					return usagef("help: unknown command %q (see 'gather help')", strings.Join(args, " "))
				}
				help(cmd, args)
				return nil
			}
		case "completion":
			c.Args = cobra.ArbitraryArgs // RunE names the bad one
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cmd.Help()
				}
				return usagef("completion: unknown shell %q: want bash, zsh, fish or powershell", args[0])
			}
			for _, shell := range c.Commands() {
				shell.Args = func(cmd *cobra.Command, args []string) error {
					if len(args) > 0 {
						return usagef("completion %s takes no arguments, got %q", cmd.Name(), args[0])
					}
					return nil
				}
			}
		}
	}
}

// version says which gather this is, from the build information Go
// stamps into the binary: the module version ("go install ...@v1.2.0",
// or a pseudo-version naming the commit for "go build" in a clone), else
// the VCS revision, else "(devel)" when the build recorded neither
// (-buildvcs=false, go run); and the Go version that built it.
func version() string {
	info, _ := debug.ReadBuildInfo()
	return versionOf(info)
}

func versionOf(info *debug.BuildInfo) string {
	if info == nil {
		return "(devel)"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "(devel)"
		var rev, when string
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			v = "devel " + rev[:min(12, len(rev))]
			if dirty {
				v += "+dirty"
			}
			if when != "" {
				v += " " + when
			}
		}
	}
	if info.GoVersion != "" {
		v += ", built with " + info.GoVersion
	}
	return v
}

// usageError is an error in how gather was called: a bad flag, argument or
// value. It makes gather exit with status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error; the message names what was wrong.
func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// exitStatus is returned by a command that has reported its outcome itself
// and only wants gather to exit with this status.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// interruptStatus returns the exit status of a command whose context has
// ended: 143 if SIGTERM ended it, 130 for Ctrl-C (or any other end, as in
// tests that cancel the context), and 0 if it has not ended.
func interruptStatus(ctx context.Context) exitStatus {
	if ctx.Err() == nil {
		return 0
	}
	var sig *gather.SignalError
	if errors.As(context.Cause(ctx), &sig) && sig.Signal == syscall.SIGTERM {
		return 143
	}
	return 130
}

// isTerminal reports whether w is a terminal, where a progress line that
// rewrites itself (or bench's live view) is welcome; pipes, files and
// other character devices (/dev/null) get none.
func isTerminal(w io.Writer) bool {
	if c, ok := w.(*checkedWriter); ok {
		w = c.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
