package main

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/internal/fetcher"
)

func newFetchCmd() *cobra.Command {
	var (
		input   string
		opts    fetcher.Options
		order   string
		headers []string
		quiet   bool
	)
	cmd := &cobra.Command{
		Use:   "fetch [URL...]",
		Short: "Fetch many URLs concurrently, one JSON line per input line",
		Long: `Fetch URLs concurrently and write one JSON record per input line on
stdout, like a hand-written aiohttp crawler, "xargs -P curl" or
"curl --parallel".

URLs come from the arguments, from a file (-i FILE) or from stdin, one per
line; blank lines and lines starting with '#' are skipped but counted in
line numbers. Input is streamed: memory depends on -c, not on its length.

Each record has: line, url, final_url (the last URL requested: after
redirects, or where a chain of redirects broke), status, bytes,
content_type, duration_ms (all attempts), attempts, and for a failure
error (its kind) and message. Error kinds: invalid (not an http(s) URL),
dns, refused, timeout, tls, connection, redirects (over --max-redirects,
or to a Location that is not an http(s) URL), status (final status >=
400), save (--dir write failed), cancelled.
With --body a record has the body as text ("body"), cut at --max-body bytes
with "body_truncated": true; with --dir the body of each success is saved
under DIR with a name made from the URL (host, cleaned path, short hash;
never outside DIR) and the record has "file".

Network errors, timeouts, 408, 429 and 5xx are retried (--retries) after
an exponential backoff with jitter, or after the server's Retry-After
(seconds or date) up to --max-retry-after. Proxies come from HTTP_PROXY,
HTTPS_PROXY and NO_PROXY; HTTP/2 is used when a TLS server offers it; gzip
is decoded unless -H sets Accept-Encoding.

Nothing is lost: every input line gives exactly one record. On Ctrl-C the
requests under way stop, and the remaining input (a file, or stdin up to
its end) is still read so that each line gets a "cancelled" record; a
second Ctrl-C exits at once (status 130) and output may then end early.

A summary goes to stderr at the end (-q drops it), and a progress line
while running when stderr is a terminal.
Exit status: 0 if every URL succeeded, 1 if any failed (an interrupted run
has failed), 2 for usage errors.`,
		Example: `  gather fetch https://example.com/ https://example.org/
  gather fetch -i urls.txt -c 200 --per-host 8 > results.jsonl
  seq 1000 | sed 's|^|http://127.0.0.1:8080/delay/50ms?i=|' | gather fetch --order done
  gather fetch -i urls.txt --dir pages/ -H 'Authorization: Bearer TOKEN'
  gather fetch -i urls.txt | jq -r 'select(.error) | [.line, .url, .error] | @tsv'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && input != "" {
				return usagef("give URLs as arguments or with -i, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case opts.Concurrency < 1:
				return usagef("-c must be at least 1, not %d", opts.Concurrency)
			case opts.PerHost < 0:
				return usagef("--per-host must not be negative")
			case opts.Rate < 0 || math.IsNaN(opts.Rate):
				return usagef("--rate must be a number, 0 or more")
			case opts.Timeout < 0, opts.Backoff < 0, opts.MaxBackoff < 0, opts.MaxRetryAfter < 0:
				return usagef("durations must not be negative")
			case opts.Retries < 0:
				return usagef("--retries must not be negative")
			case opts.MaxRedirects < 0:
				return usagef("--max-redirects must not be negative")
			case opts.MaxBody < 0:
				return usagef("--max-body must not be negative")
			case opts.Body && opts.Dir != "":
				return usagef("--body and --dir cannot be used together")
			}
			switch order {
			case "input":
				opts.Order = gather.InputOrder
			case "done":
				opts.Order = gather.CompletionOrder
			default:
				return usagef("--order must be input or done, not %q", order)
			}
			opts.Header = http.Header{}
			for _, h := range headers {
				name, value, err := fetcher.ParseHeader(h)
				if err != nil {
					return usagef("-H: %v", err)
				}
				opts.Header.Add(name, value)
			}
			if opts.Dir != "" {
				if fi, err := os.Stat(opts.Dir); err != nil || !fi.IsDir() {
					return usagef("--dir %s: not an existing directory", opts.Dir)
				}
			}

			var in *fetcher.Input
			var size int64 // of a regular-file input, for the progress bar
			switch {
			case len(args) > 0:
				in = fetcher.Args(args)
			case input != "" && input != "-":
				f, err := os.Open(input)
				if err != nil {
					return usagef("-i: %v", err)
				}
				defer f.Close()
				size = regularSize(f)
				in = fetcher.Lines(f)
			default:
				r := cmd.InOrStdin()
				if f, ok := r.(*os.File); ok {
					size = regularSize(f)
				}
				in = fetcher.Lines(r)
			}

			f, err := fetcher.New(opts)
			if err != nil {
				return usagef("--dir: %v", err)
			}
			defer f.Close()
			return runFetch(cmd, f, in, size, quiet)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&input, "input", "i", "", "read URLs from `FILE`, one per line (- for stdin)")
	fl.IntVarP(&opts.Concurrency, "concurrency", "c", 50, "URLs in flight at once")
	fl.IntVar(&opts.PerHost, "per-host", 0, "requests in flight to any one host (0: no limit but -c)")
	fl.Float64Var(&opts.Rate, "rate", 0, "requests started per second to any one host (0: no limit)")
	fl.DurationVarP(&opts.Timeout, "timeout", "t", 30*time.Second, "limit for each attempt, body included (0: none)")
	fl.IntVar(&opts.Retries, "retries", 2, "retries after a network error, timeout, 408, 429 or 5xx")
	fl.DurationVar(&opts.Backoff, "backoff", 250*time.Millisecond, "wait before the first retry, doubled for each next one, with jitter")
	fl.DurationVar(&opts.MaxBackoff, "max-backoff", 10*time.Second, "longest wait between retries")
	fl.DurationVar(&opts.MaxRetryAfter, "max-retry-after", 30*time.Second, "longest Retry-After honoured; a longer one is not retried")
	fl.IntVar(&opts.MaxRedirects, "max-redirects", 10, "redirects followed; one more is an error")
	fl.StringArrayVarP(&headers, "header", "H", nil, "add a request header `Name: value` (repeatable)")
	fl.StringVar(&order, "order", "input", "record order: input (like gather) or done (like as_completed)")
	fl.BoolVar(&opts.Body, "body", false, "put each body in its record as text")
	fl.Int64Var(&opts.MaxBody, "max-body", 64<<10, "with --body, the most bytes of a body kept")
	fl.StringVar(&opts.Dir, "dir", "", "save the body of each success into existing directory `DIR`")
	fl.BoolVarP(&quiet, "quiet", "q", false, "no summary or progress on stderr")
	return cmd
}

// runFetch fetches in's lines with f, writes the records to stdout and the
// summary to stderr, and returns exitStatus(1) if any line failed.
func runFetch(cmd *cobra.Command, f *fetcher.Fetcher, in *fetcher.Input, size int64, quiet bool) error {
	stderr := cmd.ErrOrStderr()
	out := fetcher.NewWriter(cmd.OutOrStdout(), 100*time.Millisecond)
	var progress *fetcher.Progress
	if !quiet && isTerminal(stderr) {
		var fraction func() float64
		if size > 0 {
			fraction = func() float64 { return float64(in.BytesRead()) / float64(size) }
		}
		progress = fetcher.StartProgress(stderr, 250*time.Millisecond, fraction)
	}
	var sum fetcher.Summary
	start := time.Now()
	err := f.Run(cmd.Context(), in.All(), func(r *fetcher.Record) error {
		sum.Add(r)
		if progress != nil {
			progress.Add(r)
		}
		return out.Write(r)
	})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if progress != nil {
		progress.Stop()
	}
	if err != nil {
		return fmt.Errorf("writing records: %w", err)
	}
	if !quiet {
		sum.Format(stderr, time.Since(start))
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("reading input: %w (the lines after it have no record)", err)
	}
	if sum.Failed > 0 {
		return exitStatus(1)
	}
	return nil
}

// regularSize returns the size of f if it is a regular file, else 0.
func regularSize(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return fi.Size()
}
