package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/internal/fetcher"
)

// fetchGCPercent is the garbage collector's GOGC while fetch runs, unless
// the environment sets GOGC. See docs/fetch.md.
const fetchGCPercent = 50

// fetchSpareFiles is how many open files fetch keeps for itself beyond
// one per connection (and one per body being saved, with --dir): standard
// streams, the input, the poller, the resolver.
const fetchSpareFiles = 32

func newFetchCmd() *cobra.Command {
	var (
		input    string
		opts     fetcher.Options
		order    string
		client   string
		headers  []string
		quiet    bool
		dnsCache time.Duration
		shard    shardFlags
	)
	cmd := &cobra.Command{
		Use:   "fetch [URL...] | fetch --merge [-i FILE] OUTPUT...",
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
error (its kind) and message. Error kinds: invalid (not an http(s) URL,
or a port out of range), dns, refused, timeout, tls, connection,
redirects (over --max-redirects, or to a Location that is not an http(s)
URL), status (final status >= 400), save (--dir write failed), cancelled.
With --keep-body a record has the body as text ("body"), cut at --max-body
bytes with "body_truncated": true; with --dir the body of each success is
saved under DIR with a name made from the URL (host, cleaned path, short
hash; never outside DIR) and the record has "file".

Network errors, timeouts, 408, 429 and 5xx are retried (--retries) after
an exponential backoff with jitter, or after the server's Retry-After
(seconds or date) up to --max-retry-after. Plain http:// goes through
gather's own HTTP/1.1 client (keep-alive connections per host, a strict
parser); https://, and http:// when HTTP_PROXY applies, through Go's
net/http (HTTPS_PROXY and NO_PROXY are honoured, HTTP/2 is used when a
TLS server offers it). --client net/http sends everything through
net/http, which reads some malformed responses the own client rejects.
gzip is decoded unless -H sets Accept-Encoding. A host name's addresses
are looked up once per --dns-cache.

Order: --order input (the default) writes the records in input order,
like gather; --order done as they finish, like as_completed. In input
order a slow line holds back the records after it, not their fetches:
up to 64 MiB of records (65,536 of them, fewer with --keep-body) wait
behind it while the fetches go on. Past that the fetches wait too, and a
note on stderr names the line: one unreachable host, with the 30 s
timeout and 2 retries, can hold a run for a minute and a half. Use
--order done, a shorter -t, or fewer --retries where that matters.

Nothing is lost: every input line gives exactly one record. On Ctrl-C the
requests under way stop, and the remaining input (a file, or stdin up to
its end) is still read so that each line gets a "cancelled" record, and
fetch exits 130; a second Ctrl-C exits at once and output may then end
early.

Across machines: --shard i/N fetches only the lines whose host hashes to
i, so that --per-host and --host-rate hold for the whole crawl (each host
is fetched from one machine), and every line is in one shard; records keep
the input's line numbers. 'gather fetch --merge -i FILE OUT...' then puts
the shards' outputs back in input order, checking that every line of FILE
has exactly one record, of its URL (a problem is an error naming the line,
exit status 2, and nothing is written).

A summary goes to stderr at the end (--quiet drops it), and a progress
line while running when stderr is a terminal.
Exit status: 0 if every URL succeeded, 1 if any failed, 2 for usage
errors (found before any request), 130 after Ctrl-C.`,
		Example: `  gather fetch https://example.com/ https://example.org/
  gather fetch -i urls.txt -c 200 --per-host 8 > results.jsonl
  seq 1000 | sed 's|^|http://127.0.0.1:8080/delay/50ms?i=|' | gather fetch --order done
  gather fetch -i urls.txt --dir pages/ -H 'Authorization: Bearer TOKEN'
  gather fetch -i urls.txt | jq -r 'select(.error) | [.line, .url, .error] | @tsv'
  gather fetch -i urls.txt --shard 0/2 > a.jsonl   # machine A; machine B: --shard 1/2 > b.jsonl
  gather fetch --merge -i urls.txt a.jsonl b.jsonl > all.jsonl`,
		Args: func(cmd *cobra.Command, args []string) error {
			if shard.merge {
				return nil // the arguments are the outputs to merge
			}
			if len(args) > 0 && input != "" {
				return usagef("give URLs as arguments or with -i, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sh, err := shard.parse()
			if err != nil {
				return err
			}
			if shard.merge {
				return runMerge(cmd, args, input, quiet)
			}
			if err := checkFetchFlags(&opts, order, client, headers, dnsCache); err != nil {
				return err
			}
			if err := checkIdleFetchFlags(cmd, &opts); err != nil {
				return err
			}
			var in *fetcher.Input
			var count func() (int, error) // lines to fetch, for the progress bar; nil: not known
			typed := false                // the URLs are typed at the terminal stderr shows
			switch {
			case len(args) > 0:
				in = fetcher.Args(args)
				count = func() (int, error) {
					n := 0
					for range fetcher.Args(args).All() {
						n++
					}
					return n, nil
				}
			case input != "" && input != "-":
				f, err := openInput(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in, count = fetcher.Lines(f), lineCounter(f)
			default:
				r := cmd.InOrStdin()
				if f, ok := r.(*os.File); ok {
					if isTerminal(f) && !quiet {
						fmt.Fprintln(cmd.ErrOrStderr(), "gather fetch: reading URLs from stdin, one per line (Ctrl-D ends them; URLs can also be arguments, or -i FILE)")
					}
					typed = isTerminal(f)
					count = lineCounter(f)
				}
				in = fetcher.Lines(r)
			}
			if err := checkOpenFiles(opts); err != nil {
				return err
			}
			if sh.Count > 1 {
				count = nil // the shard's share of the lines is not known before
			}
			stderr := cmd.ErrOrStderr()
			var progress *fetcher.Progress
			// A progress line redrawn over what the user types would garble
			// it: typed URLs get the records and the summary only.
			if !quiet && isTerminal(stderr) && !typed {
				progress = fetcher.StartProgress(stderr, 250*time.Millisecond)
				defer progress.Stop()
				if count != nil {
					done := make(chan struct{})
					defer func() { <-done }()
					go func() {
						defer close(done)
						if n, err := count(); err == nil {
							progress.SetTotal(n)
						}
					}()
				}
			}
			opts.Stalled = func(l fetcher.Line, held int) {
				note := fmt.Sprintf("gather fetch: line %d (%s) holds back %d records: with --order input the run waits for it (--order done would not)", l.Number, l.Text, held)
				if progress != nil {
					progress.Note(note)
				} else {
					fmt.Fprintln(stderr, note)
				}
			}
			f, err := fetcher.New(opts)
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the probe file's name would only confuse
				}
				return usagef("--dir %s: cannot create files in it: %v", opts.Dir, err)
			}
			defer f.Close()
			return runFetch(cmd, f, in, sh, progress, quiet)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&input, "input", "i", "", "read URLs from `FILE`, one per line (- for stdin)")
	shard.register(fl)
	fl.IntVarP(&opts.Concurrency, "concurrency", "c", 50, "URLs in flight at once")
	fl.IntVar(&opts.PerHost, "per-host", 0, "requests in flight to any one host (0: no limit but -c)")
	fl.Float64Var(&opts.Rate, "host-rate", 0, "requests started per second to any one host (0: no limit)")
	fl.DurationVarP(&opts.Timeout, "timeout", "t", 30*time.Second, "limit for each attempt, body and redirects included (0: none)")
	fl.IntVar(&opts.Retries, "retries", 2, "retries after a network error, timeout, 408, 429 or 5xx")
	fl.DurationVar(&opts.Backoff, "backoff", 250*time.Millisecond, "wait before the first retry, doubled for each next one, with jitter")
	fl.DurationVar(&opts.MaxBackoff, "max-backoff", 10*time.Second, "longest wait between retries")
	fl.DurationVar(&opts.MaxRetryAfter, "max-retry-after", 30*time.Second, "longest Retry-After honoured; a longer one is not retried")
	fl.IntVar(&opts.MaxRedirects, "max-redirects", 10, "redirects followed; one more is an error")
	fl.StringArrayVarP(&headers, "header", "H", nil, "add a request header `Name: value` (repeatable)")
	fl.StringVar(&order, "order", "input", "record order: input (like gather) or done (like as_completed)")
	cmd.RegisterFlagCompletionFunc("order", fixedCompletions("input\tin input order, like gather", "done\tas they finish, like as_completed"))
	fl.BoolVar(&opts.Body, "keep-body", false, "put each body in its record as text")
	fl.Int64Var(&opts.MaxBody, "max-body", 64<<10, "with --keep-body, the most bytes of a body kept")
	fl.StringVar(&opts.Dir, "dir", "", "save the body of each success into existing directory `DIR`")
	fl.StringVar(&client, "client", "auto", "auto (gather's own HTTP/1.1 client for http://, net/http for the rest) or net/http (for everything)")
	cmd.RegisterFlagCompletionFunc("client", fixedCompletions("auto\tgather's own client for http://, net/http for the rest", "net/http\tGo's net/http for everything"))
	fl.DurationVar(&dnsCache, "dns-cache", fetcher.DefaultDNSCache, "how long a host name's addresses are used before they are looked up again (0: every connection)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "no summary or progress on stderr")

	// The spellings of the last release, which meant something else in
	// bench (-q: the request rate; --body: the request body; --rate: the
	// total rate): they still work, with a note on stderr, for one release.
	// pflag writes its deprecation notes to the flag set's output, which
	// cobra prints to stdout: stderr keeps stdout for the records.
	fl.SetOutput(stderrOf{cmd})
	fl.MarkShorthandDeprecated("quiet", "use --quiet (in bench, -q is the request rate); -q goes away in the next release")
	fl.BoolVar(&opts.Body, "body", false, "")
	fl.MarkDeprecated("body", "use --keep-body (in bench, --body is the request body); --body goes away in the next release")
	fl.Float64Var(&opts.Rate, "rate", 0, "")
	fl.MarkDeprecated("rate", "use --host-rate (in bench, --rate is the total rate); --rate goes away in the next release")
	// Every error names the command, as bench's and report's do.
	args, runE := cmd.Args, cmd.RunE
	cmd.Args = func(cmd *cobra.Command, a []string) error { return fetchError(args(cmd, a)) }
	cmd.RunE = func(cmd *cobra.Command, a []string) error { return fetchError(runE(cmd, a)) }
	return cmd
}

// fetchError prefixes err with "fetch: ", keeping its kind (a usage error
// stays one); an exit status passes as it is.
func fetchError(err error) error {
	var status exitStatus
	var usage *usageError
	switch {
	case err == nil || errors.As(err, &status):
		return err
	case errors.As(err, &usage):
		return &usageError{err: fmt.Errorf("fetch: %w", usage.err)}
	}
	return fmt.Errorf("fetch: %w", err)
}

// stderrOf writes to the command's stderr as it is when written to.
type stderrOf struct{ cmd *cobra.Command }

func (w stderrOf) Write(p []byte) (int, error) { return w.cmd.ErrOrStderr().Write(p) }

// checkIdleFetchFlags returns a usage error for a flag given that would
// change nothing: --max-body without --keep-body, or how to wait between
// retries with --retries 0.
func checkIdleFetchFlags(cmd *cobra.Command, opts *fetcher.Options) error {
	fl := cmd.Flags()
	if fl.Changed("max-body") && !opts.Body {
		return usagef("--max-body needs --keep-body: it cuts the bodies kept in records")
	}
	if opts.Retries == 0 {
		for _, name := range []string{"backoff", "max-backoff", "max-retry-after"} {
			if fl.Changed(name) {
				return usagef("--%s has nothing to do with --retries 0", name)
			}
		}
	}
	return nil
}

// checkFetchFlags checks the flags' values and fills opts from the ones
// that need parsing. Each error names its flag.
func checkFetchFlags(opts *fetcher.Options, order, client string, headers []string, dnsCache time.Duration) error {
	switch {
	case opts.Concurrency < 1:
		return usagef("-c must be at least 1, got %d", opts.Concurrency)
	case opts.PerHost < 0:
		return usagef("--per-host must not be negative, got %d", opts.PerHost)
	case opts.Rate < 0 || math.IsNaN(opts.Rate):
		return usagef("--host-rate must be a number, 0 or more, got %v", opts.Rate)
	case opts.Retries < 0:
		return usagef("--retries must not be negative, got %d", opts.Retries)
	case opts.MaxRedirects < 0:
		return usagef("--max-redirects must not be negative, got %d", opts.MaxRedirects)
	case opts.MaxBody < 0:
		return usagef("--max-body must not be negative, got %d", opts.MaxBody)
	case opts.Body && opts.Dir != "":
		return usagef("--keep-body and --dir cannot be used together")
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"-t", opts.Timeout}, {"--backoff", opts.Backoff}, {"--max-backoff", opts.MaxBackoff},
		{"--max-retry-after", opts.MaxRetryAfter}, {"--dns-cache", dnsCache},
	} {
		if d.value < 0 {
			return usagef("%s must not be negative, got %v", d.flag, d.value)
		}
	}
	opts.DNSCache = dnsCache
	if dnsCache == 0 {
		opts.DNSCache = -1 // fetcher's "no cache"
	}
	switch order {
	case "input":
		opts.Order = gather.InputOrder
	case "done":
		opts.Order = gather.CompletionOrder
	default:
		return usagef("--order must be input or done, got %q", order)
	}
	switch client {
	case "auto":
		opts.Client = fetcher.ClientAuto
	case "net/http":
		opts.Client = fetcher.ClientNetHTTP
	default:
		return usagef("--client must be auto or net/http, got %q", client)
	}
	opts.Header = http.Header{}
	for _, h := range headers {
		name, value, err := fetcher.ParseHeader(h)
		if err != nil {
			return usagef("-H: %v", err)
		}
		opts.Header.Add(name, value)
	}
	// As in bench: a length for a body fetch never sends would leave the
	// server waiting for it until -t.
	for _, name := range []string{"Content-Length", "Transfer-Encoding"} {
		if len(opts.Header.Values(name)) > 0 {
			return usagef("-H: header %s is set by fetch, whose requests have no body", name)
		}
	}
	if hosts := opts.Header.Values("Host"); len(hosts) > 1 {
		return usagef("-H: two Host values: %q and %q", hosts[0], hosts[1])
	}
	if opts.Dir != "" {
		if fi, err := os.Stat(opts.Dir); err != nil || !fi.IsDir() {
			return usagef("--dir %s: not an existing directory", opts.Dir)
		}
	}
	return nil
}

// checkOpenFiles reports a usage error if the open-files limit is too low
// for the run: a connection per URL in flight, a file per body being
// saved, and a few to spare. Past the limit every further connection
// would fail with "too many open files".
func checkOpenFiles(opts fetcher.Options) error {
	need := int64(opts.Concurrency + fetchSpareFiles)
	if opts.Dir != "" {
		need += int64(opts.Concurrency)
	}
	var lim syscall.Rlimit
	// Go raises the soft limit to the hard one at start-up, so Cur is what
	// the run can have.
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && uint64(need) > lim.Cur {
		return usagef("-c %d needs %d open files, the limit is %d (raise it with ulimit -n, or lower -c)",
			opts.Concurrency, need, lim.Cur)
	}
	return nil
}

// openInput opens -i FILE; a file that cannot be opened or is a
// directory is a usage error.
func openInput(name string) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, usagef("-i: %v", err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, usagef("-i %s: is a directory, not a file of URLs", name)
	}
	return f, nil
}

// lineCounter returns a function that counts the lines of f to fetch,
// if f is a regular file, through ReadAt, which leaves alone the offset
// the run reads from; nil for a pipe or a terminal.
func lineCounter(f *os.File) func() (int, error) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	return func() (int, error) {
		return fetcher.CountLines(io.NewSectionReader(f, 0, fi.Size()))
	}
}

// fixedCompletions offers a flag's values, each "value\tdescription", to
// the shell's completion.
func fixedCompletions(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// runFetch fetches in's lines with f, writes the records to stdout, counts
// them in progress (if not nil) and writes the summary to stderr, and
// returns exitStatus(1) if any line failed.
func runFetch(cmd *cobra.Command, f *fetcher.Fetcher, in *fetcher.Input, shard fetcher.Shard, progress *fetcher.Progress, quiet bool) error {
	if _, set := os.LookupEnv("GOGC"); !set {
		defer debug.SetGCPercent(debug.SetGCPercent(fetchGCPercent))
	}
	stderr := cmd.ErrOrStderr()
	out := fetcher.NewWriter(cmd.OutOrStdout(), 100*time.Millisecond)
	var sum fetcher.Summary
	start := time.Now()
	err := f.Run(cmd.Context(), shard.Lines(in.All()), func(r *fetcher.Record) error {
		sum.Add(r)
		if err := out.Write(r); err != nil {
			return err
		}
		if progress != nil {
			progress.Add(r)
		}
		return nil
	})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if progress != nil {
		progress.Stop()
	}
	if err != nil {
		return fmt.Errorf("writing the records: %w", err)
	}
	inErr := in.Err()
	if inErr != nil && sum.Total == 0 {
		// Nothing was fetched: an input that cannot be read is bad input,
		// as one that cannot be opened is.
		return usagef("reading input: %v", inErr)
	}
	if !quiet {
		sum.Format(stderr, time.Since(start))
	}
	if inErr != nil {
		return fmt.Errorf("reading input: %w (the lines after it have no record)", inErr)
	}
	if sum.Failed > 0 {
		return exitStatus(1)
	}
	return nil
}
