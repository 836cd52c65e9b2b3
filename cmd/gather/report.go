package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

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
order. A file may hold several runs: the one-line runs 'bench --save -'
writes, among other lines (the collected logs of a distributed run's pods,
kubectl's --prefix and --timestamps included), which are skipped with a
note. A file that cannot be read or holds no saved run is named in a
one-line error, nothing is printed, and the exit status is 2, as for any
bad input (1 if the report or --save cannot be written after that); in a
folder, a file without a run is only noted.

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
			if !slices.Contains(reportFormats, output) {
				return usagef("report: -o must be text or json, got %q", output)
			}
			if err := checkNotStdout("report", cmd, "html", "junit"); err != nil {
				return err
			}
			for _, out := range []struct{ flag, name string }{{"--save", save}, {"--html", htmlFile}} {
				if out.name == "" || out.flag == "--save" && out.name == "-" {
					continue
				}
				if err := checkWritable(out.name); err != nil {
					return usagef("report: %s: %v", out.flag, err)
				}
			}
			if th.junit != "" {
				if err := checkWritable(th.junit); err != nil {
					return usagef("report: --junit: %v", err)
				}
			}
			if _, err := threshold.ParseAll(th.exprs); err != nil {
				return usagef("report: %v", err) // before reading any run
			}
			var total report.Summary
			var runs []reporthtml.Run
			var check report.MergeCheck
			var conflicts []string
			merge := func(name string, s *report.Summary) error {
				for _, c := range check.Check(name, s) {
					if !force {
						return usagef("report: %s; --force merges them anyway", c)
					}
					conflicts = append(conflicts, "merged with --force: "+c)
				}
				if err := total.Add(s); err != nil {
					return fmt.Errorf("report: %s: %w", name, err)
				}
				if strings.HasPrefix(name, "-") {
					name = "standard input" + strings.TrimPrefix(name, "-")
				}
				runs = append(runs, reporthtml.Run{Name: name, Summary: s})
				return nil
			}
			// Ctrl-C ends a wait on stdin or a FIFO at once; the runs read
			// by then are not reported, being only part of what was asked.
			_, err := untilInterrupted(cmd.Context(), func() (struct{}, error) {
				for _, name := range args {
					if err := readInput(name, cmd.InOrStdin(), cmd.ErrOrStderr(), merge); err != nil {
						return struct{}{}, err
					}
				}
				return struct{}{}, nil
			})
			if errors.Is(err, errInterrupted) {
				return fmt.Errorf("report: %w while reading the runs: nothing reported", err)
			}
			if err != nil {
				return err
			}
			for _, m := range check.Missing() {
				if !force {
					return usagef("report: %s; --force merges what there is", m)
				}
				conflicts = append(conflicts, "merged with --force: "+m)
			}
			total.MergeWarnings = append(total.MergeWarnings, conflicts...)
			if err := th.parse(total.Open(), threshold.Names(&total)); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch save {
			case "":
			case "-": // as bench --save -: the run on one line, the report on stderr
				if err := total.SaveLine(out); err != nil {
					return fmt.Errorf("report: --save: %w", err)
				}
				out = cmd.ErrOrStderr()
			default:
				if err := saveSummary(&total, save); err != nil {
					return err
				}
			}
			th.judge(&total)
			if htmlFile != "" {
				for _, r := range runs {
					th.judge(r.Summary)
				}
				if err := writePage(htmlFile, reporthtml.Page{Runs: runs, Merged: &total}); err != nil {
					return fmt.Errorf("report: %w", err)
				}
			}
			if output == "json" {
				err = total.WriteJSON(out)
			} else {
				err = total.WriteText(out)
			}
			if err != nil {
				return err
			}
			junit, err := th.openJUnit()
			if err != nil {
				return err
			}
			return th.finish(junit, &total, total.Start, cmd.ErrOrStderr())
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

// readInput reads the saved runs of one input and gives each to merge,
// named for the messages by the input's name (and its line, if it holds
// several). The input is "-" (stdin), a file, or a folder, whose files
// are read in name order. A file holding no run is bad input when named,
// and only noted when found in a folder (a machine that died before it
// saved leaves its file empty; the merge check names its segment). Its
// errors are usage errors, naming the file.
func readInput(name string, stdin io.Reader, stderr io.Writer, merge func(string, *report.Summary) error) error {
	if name == "-" {
		return readRuns(name, stdin, stderr, false, merge)
	}
	f, err := os.Open(name)
	if err != nil {
		return usagef("report: %v", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return usagef("report: %v", err)
	}
	if !fi.IsDir() {
		defer f.Close()
		return readRuns(name, f, stderr, false, merge)
	}
	f.Close()
	entries, err := os.ReadDir(name)
	if err != nil {
		return usagef("report: %v", err)
	}
	files := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		files++
		if err := readFile(filepath.Join(name, e.Name()), stderr, true, merge); err != nil {
			return err
		}
	}
	if files == 0 {
		return usagef("report: %s: the folder holds no file", name)
	}
	return nil
}

func readFile(name string, stderr io.Writer, inFolder bool, merge func(string, *report.Summary) error) error {
	f, err := os.Open(name)
	if err != nil {
		return usagef("report: %v", err)
	}
	defer f.Close()
	return readRuns(name, f, stderr, inFolder, merge)
}

// readRuns reads the runs of one stream, as readInput says.
func readRuns(name string, r io.Reader, stderr io.Writer, inFolder bool, merge func(string, *report.Summary) error) error {
	var first *report.Summary
	var firstLine int
	var mergeErr error
	runs := 0
	skipped, err := report.ReadRuns(r, func(line int, s *report.Summary) error {
		runs++
		switch runs {
		case 1:
			// Held back: a file of one run is named without a line.
			first, firstLine = s, line
			return nil
		case 2:
			if mergeErr = merge(fmt.Sprintf("%s:%d", name, firstLine), first); mergeErr != nil {
				return mergeErr
			}
		}
		mergeErr = merge(fmt.Sprintf("%s:%d", name, line), s)
		return mergeErr
	})
	switch {
	case mergeErr != nil:
		return mergeErr
	case errors.Is(err, report.ErrNoRuns) && inFolder:
		fmt.Fprintf(stderr, "gather: report: note: %s holds no saved run\n", name)
		return nil
	case err != nil:
		return usagef("report: %s: %v", name, err)
	}
	if runs == 1 {
		if err := merge(name, first); err != nil {
			return err
		}
	}
	if skipped == 1 {
		fmt.Fprintf(stderr, "gather: report: note: %s: skipped 1 line that is not a saved run\n", name)
	} else if skipped > 1 {
		fmt.Fprintf(stderr, "gather: report: note: %s: skipped %d lines that are not saved runs\n", name, skipped)
	}
	return nil
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

// checkWritable reports whether the file name can be written, without
// changing it: it may be one of the inputs, read after this check.
func checkWritable(name string) error {
	if fi, err := os.Stat(name); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory", name)
		}
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		return f.Close()
	}
	probe, err := os.CreateTemp(filepath.Dir(name), ".gather-report-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the probe's own name would only confuse
		}
		return fmt.Errorf("cannot create %s: %w", name, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// writePage writes the HTML page of p to the file name, replacing it.
func writePage(name string, p reporthtml.Page) error {
	p.Generator = "gather " + version()
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	if err := reporthtml.Write(f, p); err != nil {
		f.Close()
		return fmt.Errorf("--html: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	return nil
}

// saveSummary writes s to the file name, replacing it.
func saveSummary(s *report.Summary, name string) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("report: --save: %w", err)
	}
	if err := s.Save(f); err != nil {
		f.Close()
		return fmt.Errorf("report: --save: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: --save: %w", err)
	}
	return nil
}
