package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/live"
	"github.com/gather-dev/gather/internal/loadgen"
	"github.com/gather-dev/gather/internal/report"
	reporthtml "github.com/gather-dev/gather/internal/report/html"
)

// viewFlags are bench's flags for what a person sees of a run: the live
// view on a terminal while it goes, and the HTML page after.
type viewFlags struct {
	tui, noTUI bool
	html       string
}

func (f *viewFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.tui, "tui", false, "show the live view even with -o json to a terminal")
	fl.BoolVar(&f.noTUI, "no-tui", false, "no live view: a one-line progress on a terminal, as on a dumb one")
	fl.StringVar(&f.html, "html", "", "also write the run as a self-contained HTML `PAGE` of charts")
}

// errViewStop is the cause of a run stopped with q or Ctrl-C in the live
// view (where Ctrl-C is a key, not a signal).
var errViewStop = errors.New("stopped from the live view")

// display is what shows a run while it goes: the live view, the one-line
// progress, or nothing.
type display struct {
	view   *live.View
	line   bool // the one-line progress is on stderr
	stderr io.Writer
	tty    *os.File // opened for the view's keys, closed with it
	after  func() bool
}

// start sets up what shows the run of plan on stderr, and returns the
// context the run goes under: the live view stops the run by cancelling
// it. The view is used when stderr is a terminal and its keys can be
// read, unless --no-tui, or -o json goes to the terminal too without
// --tui; the one-line progress otherwise, on a terminal. --tui where the
// view cannot be shown is a usage error.
func (f *viewFlags) start(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, output string, plan *loadgen.Plan) (context.Context, *display, error) {
	d := &display{stderr: stderr}
	term := isTerminal(stderr)
	switch {
	case f.tui && f.noTUI:
		return nil, nil, usagef("bench: --tui and --no-tui contradict each other")
	case f.tui && !term:
		return nil, nil, usagef("bench: --tui: standard error is not a terminal")
	}
	want := term && !f.noTUI && os.Getenv("TERM") != "dumb" && (f.tui || output != "json" || !isTerminal(stdout))
	var keys io.Reader
	if want {
		if in, ok := stdin.(*os.File); ok && isTerminal(in) {
			keys = stdin
		} else if tty, err := os.Open("/dev/tty"); err == nil {
			keys, d.tty = tty, tty
		} else if f.tui {
			return nil, nil, usagef("bench: --tui: no terminal to read keys from: %v", err)
		}
	}
	if keys == nil {
		if term {
			d.line = true
			plan.Progress = progressLine(stderr)
		}
		return ctx, d, nil
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	d.view = live.Start(keys, stderr, liveInfo(plan), func() { cancel(errViewStop) })
	plan.OnInterval = d.view.Interval
	// The run ends, by itself or by a signal: the view gives the terminal
	// back at once, so that a second Ctrl-C, which exits on the spot,
	// finds it as it was.
	d.after = context.AfterFunc(runCtx, func() { d.view.Stop() })
	return runCtx, d, nil
}

// stop ends the display once the run has ended; after it, the terminal
// is as it was. It may be called more than once (deferred, for a panic).
func (d *display) stop() {
	if d == nil {
		return
	}
	if d.line {
		fmt.Fprintf(d.stderr, "\r%72s\r", "")
		d.line = false
	}
	if d.view != nil {
		d.after()
		if err := d.view.Stop(); err != nil {
			fmt.Fprintf(d.stderr, "gather: bench: the live view: %v\n", err)
		}
		d.view = nil
	}
	if d.tty != nil {
		d.tty.Close()
		d.tty = nil
	}
}

// progressLine returns the one-line progress of a run, rewritten on w
// once a second.
func progressLine(w io.Writer) func(loadgen.Progress) {
	var last loadgen.Progress
	return func(p loadgen.Progress) {
		// The rate over the last second, which shows a stall at once.
		rate := 0.0
		if dt := p.Elapsed - last.Elapsed; dt > 0 {
			rate = float64(p.Requests-last.Requests) / dt.Seconds()
		}
		last = p
		fmt.Fprintf(w, "\r%10d requests  %9.0f req/s  %6d errors  %6.1f s ",
			p.Requests, rate, p.Errors, p.Elapsed.Seconds())
	}
}

// liveInfo describes the run of plan for the view's head.
func liveInfo(plan *loadgen.Plan) live.Info {
	info := live.Info{Duration: plan.Duration, Requests: plan.Requests, Rate: plan.Rate,
		Interval: plan.Interval, Start: time.Now()}
	if info.Interval == 0 {
		info.Interval = time.Second
	}
	if set := plan.Targets; set != nil {
		info.Target = strings.Join(set.Methods(), ", ") + " " + set.String()
	} else if plan.URL != nil {
		info.Target = plan.Method + " " + plan.URL.String()
	}
	// A profile of stages sets the run's length, and its level changes.
	var staged time.Duration
	for _, st := range append(slices.Clone(plan.RateStages), plan.ConnectionStages...) {
		staged += st.Duration
	}
	if info.Duration == 0 {
		info.Duration = staged
	}
	info.Open = plan.Rate > 0 || plan.RateStages != nil
	switch {
	case plan.RateStages != nil:
		info.Rate = 0 // no one target to show
		info.Model = fmt.Sprintf("open: %d rate stages over %s", len(plan.RateStages), plural(plan.Connections, "connection"))
	case plan.Rate > 0:
		info.Model = fmt.Sprintf("open: %.1f req/s over %s", plan.Rate, plural(plan.Connections, "connection"))
	case plan.ConnectionStages != nil:
		info.Model = fmt.Sprintf("closed: %d connection stages from %s", len(plan.ConnectionStages), plural(plan.Connections, "connection"))
	default:
		info.Model = "closed: " + plural(plan.Connections, "connection")
	}
	return info
}

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// writeHTML writes the run's page to w.
func writeHTML(w io.Writer, sum *report.Summary) error {
	name := "run of " + sum.Start.Local().Format("2006-01-02 15:04:05")
	return reporthtml.Write(w, reporthtml.Page{Runs: []reporthtml.Run{{Name: name, Summary: sum}}, Generator: "gather " + version()})
}
