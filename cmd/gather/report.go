package main

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/gather-dev/gather/internal/report"
	reporthtml "github.com/gather-dev/gather/internal/report/html"
	"github.com/gather-dev/gather/internal/threshold"
)

func newReportCmd() *cobra.Command {
	var output, save, htmlFile string
	var force bool
	var th thresholdFlags
	cmd := &cobra.Command{
		Use:   "report [flags] FILE|DIR|-...",
		Short: "Merge runs saved by 'gather bench --save' into one report",
		Long: `report reads the histograms and counters that 'gather bench --save FILE'
wrote, merges them and prints one report, as bench would have printed it for
one run holding every request: counts add up and the percentiles are those
of one histogram holding every latency.

Saved runs are taken to have run at the same time against one server (for
example from several machines): the elapsed time is the longest run's, and
requests/s and bytes/s are the sums of each run's own rate.

Runs that do not belong in one report are not merged: runs of different
targets, methods or models (closed and open), and a run given twice (the
same file twice, or a merge and one of its parts). The error names both
files; --force merges them anyway, and the report says so in a WARNING.

--html PAGE also writes one self-contained HTML page of the runs: their
summary and charts (latency, throughput, errors and status classes over
time, the percentile spectrum, the latency histogram, per-target tables and
charts), every run in its own colour. Runs that overlap in time are drawn as
segments of one run, with their merge; others are compared, each from its
own start. The page opens offline: it makes no request.

The segments of a distributed run (bench --segment i/N) must all be there,
once each: a missing or doubled segment is an error naming it (--force
merges what there is, saying so). The report shows the start skew of the
merged runs and a row for each.

A FILE of "-" is read from standard input; a folder, file by file in name
order (links followed; a folder within it is noted, not read). A file may
hold several runs: the one-line runs 'bench --save -' writes, among other
lines (the collected logs of a distributed run's pods, kubectl's --prefix
and --timestamps included), which are skipped with a note. A file that
cannot be read or holds no saved run is named in a one-line error,
nothing is printed, and the exit status is 2, as for any bad input (1 if
the report or --save cannot be written after that); in a folder, a file
without a run is only noted.

Examples:
  gather bench -z 30s -c 50 --save a.json http://10.0.0.5:8080/   # machine A
  gather bench -z 30s -c 50 --save b.json http://10.0.0.5:8080/   # machine B
  gather report a.json b.json
  gather report -o json a.json b.json
  gather report --save ab.json a.json b.json    # merge once, report later
  gather report runs/                           # every run saved in a folder
  kubectl logs -l job-name=gather-bench --tail=-1 | gather report -
  gather report --threshold 'p99<250ms' --threshold 'errors<1%' --junit t.xml a.json b.json
  gather report --html before-after.html before.json after.json

--threshold judges the merged runs as bench judges one (see 'gather bench
--help'): the verdicts end the report, and a failed one makes the exit
status 3. On the --html page each run is judged too, for its column.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("report: missing FILE (write one with 'gather bench --save FILE')")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o := reportOutputs{format: output, save: save, html: htmlFile, th: &th}
			// Before check: a usage error it finds after preparing
			// --save must not leave --save's temporary file behind.
			defer o.abandon()
			if err := o.check(cmd); err != nil {
				return err
			}
			// Ctrl-C ends a wait on stdin or a FIFO at once; the runs read
			// by then are not reported, being only part of what was asked.
			type merged struct {
				total *report.Summary
				runs  []report.NamedRun
			}
			note := func(msg string) { fmt.Fprintf(cmd.ErrOrStderr(), "gather: report: note: %s\n", msg) }
			m, err := untilInterrupted(cmd.Context(), func() (merged, error) {
				total, runs, err := report.MergeInputs(args, cmd.InOrStdin(), force, note)
				return merged{total, runs}, err
			})
			switch {
			case errors.Is(err, errInterrupted):
				return fmt.Errorf("report: %w while reading the runs: nothing reported", err)
			case errors.Is(err, report.ErrConflict):
				return usagef("report: %v; --force merges them anyway", err)
			case errors.Is(err, report.ErrIncomplete):
				return usagef("report: %v; --force merges what there is", err)
			case errors.Is(err, report.ErrBadInput):
				return usagef("report: %v", err)
			case err != nil:
				return fmt.Errorf("report: %w", err)
			}
			return o.write(cmd, m.total, m.runs)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&output, "output", "o", "text", "report format: text or json")
	cmd.RegisterFlagCompletionFunc("output", completeReportFormats)
	fl.StringVar(&save, "save", "", "also save the merged run to `FILE`, for a later 'gather report' (-: to stdout, one line, the report going to stderr)")
	fl.StringVar(&htmlFile, "html", "", "also write the runs as one self-contained HTML `PAGE` of charts")
	fl.BoolVar(&force, "force", false, "merge runs that do not belong together (different targets, methods, models, or one run twice)")
	th.register(fl, "report")
	return cmd
}

// reportFormats are the values of -o, in bench and report.
var reportFormats = []string{"text", "json"}

// completeReportFormats offers reportFormats to the shell's completion.
func completeReportFormats(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return reportFormats, cobra.ShellCompDirectiveNoFileComp
}

// reportOutputs are where report writes the merged runs, besides the
// report itself, and how it judges them.
type reportOutputs struct {
	format, save, html string
	th                 *thresholdFlags

	// The files, prepared by check.
	saveFile, page, junit *outputFile
}

// check finds what is wrong with the outputs before any run is read:
// every error is a usage error.
func (o *reportOutputs) check(cmd *cobra.Command) error {
	if !slices.Contains(reportFormats, o.format) {
		return usagef("report: -o must be text or json, got %q", o.format)
	}
	if err := checkNotStdout("report", cmd, "html", "junit"); err != nil {
		return err
	}
	var err error
	if o.save != "-" {
		if o.saveFile, err = prepareOutput("report: --save", o.save, cmd.ErrOrStderr()); err != nil {
			return err
		}
	}
	if o.page, err = prepareOutput("report: --html", o.html, cmd.ErrOrStderr()); err != nil {
		return err
	}
	if o.junit, err = o.th.prepareJUnit(cmd.ErrOrStderr()); err != nil {
		return err
	}
	if _, err := threshold.ParseAll(o.th.exprs); err != nil {
		return usagef("report: %v", err) // before reading any run
	}
	return nil
}

// write judges the merged runs and writes them: --save, --html, the
// report, --junit; its status is the thresholds' verdict.
func (o *reportOutputs) write(cmd *cobra.Command, total *report.Summary, runs []report.NamedRun) error {
	if err := o.th.parse(total.Open(), threshold.Names(total)); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch o.save {
	case "":
	case "-": // as bench --save -: the run on one line, the report on stderr
		if err := total.SaveLine(out); err != nil {
			return fmt.Errorf("report: --save: %w", err)
		}
		out = cmd.ErrOrStderr()
	default:
		if err := o.saveFile.write(total.Save); err != nil {
			return err
		}
	}
	o.th.judge(total)
	if o.page != nil {
		page := reporthtml.Page{Merged: total, Generator: "gather " + version()}
		for _, r := range runs {
			o.th.judge(r.Summary)
			page.Runs = append(page.Runs, reporthtml.Run{Name: r.Name, Summary: r.Summary})
		}
		if err := o.page.write(func(w io.Writer) error { return reporthtml.Write(w, page) }); err != nil {
			return err
		}
	}
	var err error
	if o.format == "json" {
		err = total.WriteJSON(out)
	} else {
		err = total.WriteText(out)
	}
	if err != nil {
		return fmt.Errorf("report: writing the report: %w", err)
	}
	return o.th.finish(o.junit, total, total.Start, cmd.ErrOrStderr())
}

// abandon removes what check prepared and write did not write.
func (o *reportOutputs) abandon() {
	o.saveFile.abandon()
	o.page.abandon()
	o.junit.abandon()
}

// checkNotStdout returns a usage error for any of the named flags (files
// written beside the report) given "-", which would otherwise name a file
// "-": stdout holds the report (or, with --save -, the saved run).
func checkNotStdout(command string, cmd *cobra.Command, names ...string) error {
	for _, name := range names {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Value.String() == "-" {
			return usagef("%s: --%s -: give a file name (stdout holds the report)", command, name)
		}
	}
	return nil
}
