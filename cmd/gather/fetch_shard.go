package main

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/fetcher"
)

// shardFlags are fetch's flags for an input split over machines: which
// shard this one fetches, and the merge of the shards' outputs.
type shardFlags struct {
	shard string
	merge bool
	flags *pflag.FlagSet
}

func (s *shardFlags) register(fl *pflag.FlagSet) {
	s.flags = fl
	fl.StringVar(&s.shard, "shard", "", "fetch only shard `i/N` of the input: the lines whose host hashes to i (records keep the input's line numbers)")
	fl.BoolVar(&s.merge, "merge", false, "merge the outputs of the shards (FILE arguments) into input order, checking one record per line (against -i, if given)")
}

// parse returns the shard to fetch.
func (s *shardFlags) parse() (fetcher.Shard, error) {
	if s.shard == "" {
		return fetcher.Shard{}, nil
	}
	if s.merge {
		return fetcher.Shard{}, usagef("--shard and --merge cannot be used together")
	}
	sh, err := fetcher.ParseShard(s.shard)
	if err != nil {
		return sh, usagef("--shard: %v", err)
	}
	return sh, nil
}

// runMerge merges the shard outputs files, checked against the input file
// (if not ""), to stdout. Problems with what was given are usage errors
// (exit status 2, nothing written); a record that failed makes the exit
// status 1, as it made fetch's.
func runMerge(cmd *cobra.Command, files []string, input string, quiet bool) error {
	if len(files) == 0 {
		return usagef("--merge: give the shards' outputs as FILE arguments")
	}
	if slices.Contains(files, "-") {
		// Said so, not "open -: no such file or directory".
		return usagef("--merge: - is not read from stdin: the merge reads each shard's output twice (a check, then the merge); give files")
	}
	// Every flag but these is about fetching (--shard has its own error).
	var idle string
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		switch f.Name {
		case "merge", "input", "quiet", "shard":
		default:
			if f.Changed && idle == "" {
				idle = f.Name
			}
		}
	})
	if idle != "" {
		return usagef("--merge fetches nothing: --%s has nothing to do", idle)
	}
	var in *fetcher.Input
	if input != "" {
		if input == "-" {
			in = fetcher.Lines(cmd.InOrStdin())
		} else {
			f, err := openInput(input)
			if err != nil {
				return err
			}
			defer f.Close()
			in = fetcher.Lines(f)
		}
	}
	// Ctrl-C ends a wait on stdin (-i -) at once, and gather exits
	// before the merge left behind writes more.
	out := &checkedWriter{w: cmd.OutOrStdout()}
	sum, err := untilInterrupted(cmd.Context(), func() (fetcher.MergeSummary, error) {
		return fetcher.Merge(files, in, out)
	})
	var me *fetcher.MergeError
	var pe *os.PathError
	switch {
	case errors.Is(err, errInterrupted):
		return fmt.Errorf("--merge: %w before the merge was written whole", err)
	case err != nil && out.Err() != nil:
		// Not the input's fault: an operational failure.
		return fmt.Errorf("--merge: writing the records: %w", out.Err())
	case errors.As(err, &me):
		return usagef("--merge: %v", err)
	case errors.As(err, &pe):
		return usagef("--merge: %v", err)
	case err != nil:
		return fmt.Errorf("--merge: %w", err)
	}
	if !quiet {
		checked := "checked against " + input
		if input == "" {
			checked = "no line twice (give -i FILE to check that every line has one)"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "merged %d records from %d files (%s): %d ok, %d failed\n",
			sum.Records, len(files), checked, sum.Records-sum.Failed, sum.Failed)
	}
	if sum.Failed > 0 {
		return exitStatus(1)
	}
	return nil
}
