package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/kubejob"
	"github.com/gather-dev/gather/internal/loadgen"
	"github.com/gather-dev/gather/internal/report"
)

// emitFlags are bench's flags for printing, instead of running, the
// Kubernetes manifest of the run split over --segments pods.
type emitFlags struct {
	emit      string
	image     string
	name      string
	namespace string
	cpu       string
	memory    string
	startIn   time.Duration
	bodies    []kubejob.File // body files the targets file read, to ship
	flags     *pflag.FlagSet
}

// emitOnly are the flags that only mean something with --emit.
var emitOnly = []string{"emit", "image", "name", "namespace", "cpu", "memory", "start-in"}

func (e *emitFlags) register(fl *pflag.FlagSet) {
	e.flags = fl
	fl.StringVar(&e.emit, "emit", "", "print the run as a manifest instead of running it: kubernetes (an Indexed Job of --segments pods)")
	fl.StringVar(&e.image, "image", "", "with --emit: the container `IMAGE` holding gather (see deploy/kubernetes)")
	fl.StringVar(&e.name, "name", "", "with --emit: the Job's `NAME` (default gather-bench- and the run id's first 8 digits)")
	fl.StringVar(&e.namespace, "namespace", "", "with --emit: the `NAMESPACE` of the Job (default: kubectl's)")
	fl.StringVar(&e.cpu, "cpu", "1", "with --emit: CPUs of each pod, requested and limited (a quantity: 2, 500m)")
	fl.StringVar(&e.memory, "memory", "512Mi", "with --emit: memory of each pod, requested and limited (a quantity: 512Mi, 2Gi)")
	fl.DurationVar(&e.startIn, "start-in", time.Minute, "with --emit and no --start-at: start the segments this long after now (time to apply and pull the image)")
}

// given reports whether bench only prints a manifest.
func (e *emitFlags) given() bool { return e.emit != "" }

// check reports the emit flags' usage errors that come before the plan.
func (e *emitFlags) check(seg *segmentFlags) error {
	if !e.given() {
		for _, name := range emitOnly[1:] {
			if e.flags.Changed(name) {
				return usagef("bench: --%s needs --emit kubernetes", name)
			}
		}
		return nil
	}
	switch {
	case e.emit != "kubernetes":
		return usagef("bench: --emit %q: the one manifest is kubernetes", e.emit)
	case !e.flags.Changed("segments"):
		return usagef("bench: --emit kubernetes needs --segments N, the number of pods")
	case seg.segment != "":
		return usagef("bench: --segment i/N is each pod's, from --segments N and its index: not with --emit")
	case e.image == "":
		return usagef("bench: --emit kubernetes needs --image, an image holding gather (build one with deploy/kubernetes/Containerfile)")
	case e.startIn < 0:
		return usagef("bench: --start-in must not be negative, got %v", e.startIn)
	}
	return nil
}

// readBody reads a body file of the targets file, as targets.Options'
// ReadFile, and keeps it to ship: at the same relative path, since the
// targets file names it so.
func (e *emitFlags) readBody(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	clean := filepath.ToSlash(filepath.Clean(name))
	if filepath.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") || strings.HasPrefix(clean, "flags/") {
		return nil, fmt.Errorf("%s: --emit ships body files at the path the targets file gives, which must be inside the current folder (and not under flags/)", name)
	}
	for _, f := range e.bodies {
		if f.Path == clean {
			return b, nil
		}
	}
	e.bodies = append(e.bodies, kubejob.File{Path: clean, Data: b})
	return b, nil
}

// Flags and what --emit does with them, beyond passing them on.
var (
	// Files the run reads: shipped, and the flag pointed at the copy.
	emitFileFlags = []string{"body-file", "targets", "data", "cacert"}
	// Files a pod would write and lose.
	emitLostFiles = map[string]string{
		"hlog":  "an interval log",
		"junit": "JUnit XML (give --junit to the report that collects the run)",
		"html":  "an HTML page (give --html to the report that collects the run)",
	}
	// Set by the manifest itself.
	emitSet = []string{"segments", "segment", "run-id", "start-at", "save"}
)

// emitManifest prints the manifest of the run: every flag given to bench
// (but --emit's own) passed on to each pod, its files shipped, and its
// thresholds moved to the report that merges the segments, where they
// judge the whole run.
func emitManifest(cmd *cobra.Command, f *benchFlags, plan *loadgen.Plan, args []string) error {
	e := &f.emit
	job := &kubejob.Job{
		Image: e.image, Namespace: e.namespace, CPU: e.cpu, Memory: e.memory,
		Segments: plan.Segment.Count, RunID: plan.Segment.Run, StartAt: plan.StartAt,
	}
	if job.RunID == "" {
		job.RunID = report.NewRunID()
	}
	if job.StartAt.IsZero() {
		job.StartAt = time.Now().Add(e.startIn).Truncate(time.Second)
	}
	job.Name = e.name
	if job.Name == "" {
		job.Name = "gather-bench-" + strings.ToLower(job.RunID[:min(8, len(job.RunID))])
	}
	// Every segment must have a connection and a request: the last has
	// the smallest share.
	last := loadgen.Segment{Index: job.Segments - 1, Count: job.Segments}
	if err := last.Check(plan); err != nil {
		return usagef("bench: --segments %d: %v", job.Segments, err)
	}
	command := []string{"gather", "bench"}
	collect := []string{"gather", "report"}
	var fail error
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		values := []string{fl.Value.String()}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
		}
		for _, v := range values {
			command = append(command, "--"+fl.Name+"="+v)
		}
		switch {
		case fail != nil || slices.Contains(emitOnly, fl.Name) || fl.Name == "segments" || fl.Name == "run-id" || fl.Name == "start-at":
			return
		case slices.Contains(emitSet, fl.Name):
			fail = usagef("bench: --%s is set by --emit: each pod saves its run to its log (--save -) for the report to merge", fl.Name)
			return
		case emitLostFiles[fl.Name] != "":
			fail = usagef("bench: --%s: a pod would write %s and lose it: not with --emit", fl.Name, emitLostFiles[fl.Name])
			return
		case fl.Name == "abort-on-fail":
			fail = usagef("bench: --abort-on-fail judges one segment alone: not with --emit (thresholds judge the merge)")
			return
		case fl.Name == "threshold":
			for _, v := range values {
				collect = append(collect, "--threshold", shellQuote(v))
			}
			return
		}
		for _, v := range values {
			if slices.Contains(emitFileFlags, fl.Name) {
				if v == "-" {
					fail = usagef("bench: --%s reads standard input: not with --emit (give a file to ship)", fl.Name)
					return
				}
				data, err := os.ReadFile(v)
				if err != nil {
					fail = usagef("bench: --%s: %v", fl.Name, err)
					return
				}
				path := fmt.Sprintf("flags/%d-%s", len(job.Files), filepath.Base(v))
				job.Files = append(job.Files, kubejob.File{Path: path, Data: data})
				v = path
			}
			job.Args = append(job.Args, "--"+fl.Name+"="+v)
		}
	})
	if fail != nil {
		return fail
	}
	job.Files = append(job.Files, e.bodies...)
	job.Args = append(job.Args, args...)
	command = append(command, args...)
	for i, a := range command {
		command[i] = shellQuote(a)
	}
	collect = append(collect, "-")
	job.Command = strings.Join(command, " ")
	job.Collect = strings.Join(collect, " ")
	// Bounded in time whatever happens: the wait for the start, the run,
	// its last requests' timeouts, and some margin to start the pods and
	// write the logs. A run bounded only by -n gets an hour.
	run := plan.Length()
	if run == 0 {
		run = time.Hour
	}
	job.Deadline = time.Until(job.StartAt).Round(time.Second) + run + 2*plan.Timeout + 2*time.Minute
	if err := job.Check(); err != nil {
		return usagef("bench: --emit: %v", err)
	}
	if err := job.Write(cmd.OutOrStdout()); err != nil {
		return fmt.Errorf("bench: writing the manifest: %w", err)
	}
	return nil
}

// shellQuote returns s as a POSIX shell word: as it is if it is plain,
// else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
