package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gather-dev/gather/internal/loadgen"
	"github.com/gather-dev/gather/internal/targets"
)

// benchFlags holds the bench command's flags as parsed.
type benchFlags struct {
	requests    int64
	conns       int
	duration    time.Duration
	rate        float64
	method      string
	headers     []string
	body        string
	bodyFile    string
	timeout     time.Duration
	http2       bool
	insecure    bool
	noKeepAlive bool
	host        string
	output      string
	save        string
	netHTTP     bool
	goroutines  bool
	conn        connFlags
	series      seriesFlags
	targets     targetFlags
	thresholds  thresholdFlags
	pace        paceFlags
	view        viewFlags
	push        pushFlags
	segment     segmentFlags
	findMax     findMaxFlags
	emit        emitFlags
}

// benchSpareFiles is how many open files bench keeps for itself beyond one
// per connection: standard streams, the poller, --save, -D.
const benchSpareFiles = 32

// defaultRequests is the request count when neither -n nor -z is given,
// as in hey.
const defaultRequests = 200

func newBenchCmd() *cobra.Command {
	cmd, _ := newBenchCmdFlags()
	return cmd
}

// newBenchCmdFlags returns the bench command and the flags it parses into.
func newBenchCmdFlags() (*cobra.Command, *benchFlags) {
	f := new(benchFlags)
	cmd := &cobra.Command{
		Use:   "bench [flags] URL | --targets FILE [URL]",
		Short: "Load-test an HTTP server and report throughput and latency percentiles",
		Long: `bench sends HTTP requests to URL over many connections at once and reports
requests/s, bytes/s, latency percentiles (p50 to p99.9, from HdrHistograms),
status codes, errors by kind and a latency histogram.

Closed model (default): -c connections each send their next request as soon
as the previous one ends, until -n requests are done or -z has passed.

Open model (-q RATE): requests are due at a fixed total RATE per second,
whatever the server does. A request due while every connection was busy is
sent late and counted as late, and its response time runs from when it was
due (service time runs from when it was sent), so a stalling server shows
in the percentiles instead of being hidden. -z bounds the run: at -z nothing
more is sent, requests in flight get at most -t, and requests that were due
but never sent are counted as dropped.

Load profiles (--stage DURATION:TARGET, repeatable, in order): each stage
ramps linearly from where the last one left off to TARGET over DURATION;
DURATION:=TARGET steps to TARGET at once and holds it. With -q the stages
shape the rate, starting at -q (0 to start from nothing), and request i is
due where the integral of the rate reaches i. Without -q they ramp the
closed model's connections, starting at -c if given, else 0; connections
above the level wait, kept open. The stages set the run's length.

Capacity search (--find-max with --slo-p99 and/or --slo-errors): open-model
runs from -q (1000 req/s), each held for -z (10 s), doubling the rate while
it holds, then bisecting to within --find-precision (5%); it prints each
step and the highest rate that held. A rate holds when its p99 (from the
due times) and its share of failed or 5xx requests meet the SLO and it was
sent in full; a step the generator or too few connections could not send
ends the search, saying so. No rate held is exit status 1.

http:// and https:// use gather's own HTTP/1.1 client: one keep-alive
connection per -c, no allocation per request, and on Linux one event loop
per CPU driving the connections through epoll, as wrk does (in the open
model each loop sends at the due times to within microseconds, woken by a
timerfd); TLS 1.2 and 1.3 through crypto/tls, a replaced connection resuming
its session. --http2 uses gather's own HTTP/2 client (over TLS with ALPN h2,
or cleartext with prior knowledge for http://), with --streams requests in
flight on each connection.
Both count the bytes of response bodies only, not headers. The report's
Generator block checks the generator itself: achieved versus target rate,
send lag, GC pauses, CPU time per request, and a WARNING when the generator
rather than the server may have been the bottleneck, or when an open-model
run did not keep its schedule (under 99% of the rate, over 1% late, or any
dropped), naming the limit: the generator, the connections or the server.
The run is kept as a time series too: counters and latency histograms for
every --interval (1 s), on wall-clock boundaries so that runs from several
machines line up; it is in -o json ("series"), in --save files (merged by
'gather report'), and with --hlog FILE as an HdrHistogram interval log.
--prometheus URL streams it while the run goes, at every interval, to a
Prometheus remote-write endpoint (--otlp URL: an OpenTelemetry collector),
labelled with the run's id and --tag name=value labels; a slow or absent
receiver never holds the run up, and the report counts what it missed.
--targets FILE sends many requests instead of one: vegeta's HTTP format or
JSON Lines (url, method, header, body, body_file, name, weight), picked
round-robin, at random or by weight (--pick), all to one server. The URL,
header values and bodies may hold templates: {{.seq}}, {{randInt 1 100}},
{{uuid}}, {{.time}}, {{.unix_ms}}, fields of a --data file ({{.user}}) and
{{urlquery ...}}. The report then splits requests, errors, status codes
and percentiles by target name (100 names at most; the rest as "(other)").
--threshold EXPR judges the run: p99<250ms, mean<50ms, errors<1%,
status5xx<0.1%, rps>=1000, achieved>=99%, login:p95<100ms; a failed one
makes the exit status 3, --abort-on-fail stops the run as soon as one has
failed beyond doubt, and --junit FILE writes the verdicts as JUnit XML.
On a terminal, a live view shows the run as it goes: the rate, the latency
percentiles of the last interval and of the run, errors, status codes and
small charts; q or Ctrl-C stops the run. --no-tui keeps a one-line progress
instead; with -o json to the terminal the view shows only with --tui.
--html PAGE also writes the run as a self-contained HTML page of charts.
The full guide is docs/bench.md.
Ctrl-C stops the run and still prints the report of what was done (exit
status 130). Failed requests are counted in the report, not in the exit
status, unless a --threshold judges them.

Examples:
  gather bench -n 5 -c 5 http://127.0.0.1:5000/
  gather bench -z 10s -c 50 http://127.0.0.1:8080/index.html
  gather bench -z 30s -q 1000 -c 100 -o json http://127.0.0.1:8080/api
  gather bench -q 0 --stage 30s:5000 --stage 2m:5000 --stage 30s:0 http://127.0.0.1:8080/
  gather bench --stage 1m:200 --stage 5m:200 http://127.0.0.1:8080/   # 0 to 200 connections
  gather bench --find-max --slo-p99 50ms --slo-errors 0.1% -c 200 http://127.0.0.1:8080/
  gather bench -m POST -H 'Content-Type: application/json' -d '{"a":1}' http://127.0.0.1:8080/
  gather bench -z 10s --save run1.json http://127.0.0.1:8080/ && gather report run1.json
  gather bench -z 30s --targets api.txt --data users.csv --threshold 'p99<250ms' --threshold 'errors<1%'
  gather bench -n 1000 'http://127.0.0.1:8080/items/{{.seq}}' -H 'X-Request-Id: {{uuid}}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0 && !f.targets.given():
				return usagef("bench: missing URL (see 'gather bench --help')")
			case len(args) <= 1:
				return nil
			case f.targets.given():
				return usagef("bench: want at most one URL with --targets (the server of targets given as paths), got %d arguments", len(args))
			}
			return usagef("bench: want one URL, got %d arguments", len(args))
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			rawURL := ""
			if len(args) > 0 {
				rawURL = args[0]
			}
			if err := f.emit.check(&f.segment); err != nil {
				return err
			}
			if err := checkNotStdout("bench", cmd, "html", "junit", "hlog"); err != nil {
				return err
			}
			if f.findMax.on && (f.segment.segment != "" || cmd.Flags().Changed("segments")) {
				return usagef("bench: --find-max searches from one machine: not with --segment, --segments or --emit")
			}
			if f.emit.given() {
				f.targets.readFile = f.emit.readBody // to ship the body files it names
			}
			// Ctrl-C ends a wait on stdin (--targets -, --data -) at once.
			plan, err := untilInterrupted(cmd.Context(), func() (*loadgen.Plan, error) {
				return f.plan(rawURL, cmd.Flags().Changed("requests"), cmd.InOrStdin())
			})
			if errors.Is(err, errInterrupted) {
				return fmt.Errorf("bench: %w while reading the run's input: no request sent", err)
			}
			if err != nil {
				return err
			}
			if f.emit.given() {
				return emitManifest(cmd, f, plan, args)
			}
			if f.findMax.on {
				return runFindMax(cmd, f, plan)
			}
			return runBench(cmd, f, plan)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.Int64VarP(&f.requests, "requests", "n", 0, "number of requests (200 if neither -n nor -z is given)")
	fl.IntVarP(&f.conns, "connections", "c", 50, "number of concurrent connections")
	fl.DurationVarP(&f.duration, "duration", "z", 0, "run for this long (e.g. 10s); with -n, whichever ends first")
	fl.Float64VarP(&f.rate, "rate", "q", 0, "open model: total requests per second (0: closed model)")
	fl.StringVarP(&f.method, "method", "m", "GET", "HTTP method")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, `request header "Name: value" (repeatable)`)
	fl.StringVarP(&f.body, "body", "d", "", "request body")
	fl.StringVarP(&f.bodyFile, "body-file", "D", "", "read the request body from this file")
	fl.DurationVarP(&f.timeout, "timeout", "t", 20*time.Second, "per-request timeout, connecting included (0: none)")
	fl.BoolVar(&f.http2, "http2", false, "use HTTP/2 (TLS, or cleartext prior knowledge for http://)")
	fl.BoolVar(&f.insecure, "insecure", false, "do not verify the server's TLS certificate")
	fl.BoolVar(&f.noKeepAlive, "no-keepalive", false, "open a new connection for every request")
	fl.StringVar(&f.host, "host", "", "Host header to send instead of the URL's host")
	fl.StringVarP(&f.output, "output", "o", "text", "report format: text or json")
	cmd.RegisterFlagCompletionFunc("output", completeReportFormats)
	fl.StringVar(&f.save, "save", "", "also save the histograms and counters to `FILE`, for 'gather report' (-: to stdout, one line, the report going to stderr)")
	f.series.register(fl)
	f.pace.register(fl)
	f.push.register(fl)
	f.findMax.register(fl)
	fl.BoolVar(&f.netHTTP, "nethttp", false, "use net/http even for plain HTTP/1.1 (for comparisons)")
	fl.MarkHidden("nethttp")
	fl.BoolVar(&f.goroutines, "goroutines", false, "one goroutine per connection instead of event loops (for comparisons)")
	fl.MarkHidden("goroutines")
	f.conn.register(fl)
	f.targets.register(fl)
	f.thresholds.register(fl, "bench")
	f.view.register(fl)
	f.segment.register(fl)
	f.emit.register(fl)
	cmd.RegisterFlagCompletionFunc("emit", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"kubernetes"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd, f
}

// plan validates the flags and the URL and returns the run they describe;
// every error is a usage error.
func (f *benchFlags) plan(rawURL string, nSet bool, stdin io.Reader) (*loadgen.Plan, error) {
	if err := f.targets.conflicts(f); err != nil {
		return nil, err
	}
	var u *url.URL
	if rawURL != "" || !f.targets.given() {
		var err error
		if u, err = benchURL(rawURL); err != nil {
			return nil, err
		}
	}
	switch {
	case nSet && f.requests < 1:
		return nil, usagef("bench: -n must be at least 1, got %d", f.requests)
	case f.conns < 1:
		return nil, usagef("bench: -c must be at least 1, got %d", f.conns)
	case f.duration < 0:
		return nil, usagef("bench: -z must not be negative, got %v", f.duration)
	case f.rate < 0 || math.IsNaN(f.rate) || math.IsInf(f.rate, 0):
		return nil, usagef("bench: -q must be a positive rate, got %v", f.rate)
	case f.rate > 0 && f.rate < 1e-3:
		return nil, usagef("bench: -q %v is below one request per 1000 s", f.rate)
	case f.rate > loadgen.MaxRate:
		return nil, usagef("bench: -q %v is above the limit of %v req/s", f.rate, loadgen.MaxRate)
	case f.timeout < 0:
		return nil, usagef("bench: -t must not be negative, got %v", f.timeout)
	case !slices.Contains(reportFormats, f.output):
		return nil, usagef("bench: -o must be text or json, got %q", f.output)
	case f.body != "" && f.bodyFile != "":
		return nil, usagef("bench: -d and -D cannot be used together")
	case !benchToken(f.method):
		return nil, usagef("bench: bad method %q", f.method)
	}
	plan := &loadgen.Plan{
		Connections: f.conns,
		Requests:    f.requests,
		Duration:    f.duration,
		Rate:        f.rate,
		Timeout:     f.timeout,
		HTTP2:       f.http2,
		Insecure:    f.insecure,
		NoKeepAlive: f.noKeepAlive,
		NetHTTP:     f.netHTTP,
		Goroutines:  f.goroutines,
	}
	if err := f.pace.apply(plan, nSet); err != nil {
		return nil, err
	}
	if _, _, err := f.findMax.search(f, nSet); err != nil {
		return nil, err
	}
	if plan.Requests == 0 && plan.Duration == 0 && !f.pace.staged() {
		plan.Requests = defaultRequests
	}
	if err := plan.CheckRate(); err != nil {
		return nil, usagef("bench: -q with -z or -n: %s", strings.TrimPrefix(err.Error(), "loadgen: "))
	}
	if err := f.series.apply(plan); err != nil {
		return nil, err
	}
	if err := f.push.check(); err != nil {
		return nil, err
	}
	if err := f.segment.apply(plan, f.emit.given()); err != nil {
		return nil, err
	}
	conns := int64(plan.PeakConnections())
	var lim syscall.Rlimit
	// Go raises the soft limit to the hard one at start-up, so Cur is what
	// the connections can have.
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && conns+benchSpareFiles > int64(lim.Cur) {
		return nil, usagef("bench: -c %d needs %d open files, the limit is %d (raise it with ulimit -n)",
			conns, conns+benchSpareFiles, lim.Cur)
	}
	host := f.host
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok || !benchToken(name):
			return nil, usagef(`bench: bad header %q: want "Name: value"`, h)
		case strings.ContainsAny(value, "\r\n\x00"):
			return nil, usagef("bench: bad header %q: value holds a line break or NUL", h)
		}
		switch strings.ToLower(name) {
		case "host":
			if host != "" && host != value {
				return nil, usagef("bench: two Host values: %q and %q", host, value)
			}
			host = value
			continue
		case "content-length", "transfer-encoding":
			return nil, usagef("bench: header %s is set by gather from the body", name)
		case "connection":
			return nil, usagef("bench: header Connection is set by gather (see --no-keepalive)")
		}
		plan.Header = append(plan.Header, [2]string{name, value})
	}
	if strings.ContainsAny(host, " \t\r\n\x00") {
		return nil, usagef("bench: bad --host %q", host)
	}
	plan.Host = host
	var body []byte
	switch {
	case f.body != "":
		body = []byte(f.body)
	case f.bodyFile != "":
		b, err := os.ReadFile(f.bodyFile)
		if err != nil {
			return nil, usagef("bench: -D: %v", err)
		}
		body = b
	}
	// The requests: a targets file, or the URL, -m, -H and -d as one
	// target; either may hold templates.
	var err error
	if f.targets.given() {
		var opt targets.Options
		if opt, err = f.targets.options(u, plan.Header, stdin); err != nil {
			return nil, err
		}
		plan.Targets, err = f.targets.load(opt, stdin)
	} else {
		plan.Targets, err = f.targets.single(f.method, rawURL, plan.Header, body, f.bodyFile == "" || f.targets.bodyTemplates, stdin)
	}
	if err != nil {
		return nil, err
	}
	if err := f.targets.unused(plan.Targets, f.bodyFile != ""); err != nil {
		return nil, err
	}
	plan.URL = plan.Targets.Server()
	plan.Header, plan.Method = nil, "" // in the targets now
	if err := f.conn.apply(plan, f); err != nil {
		return nil, err
	}
	names := plan.Targets.Names()
	if err := f.thresholds.parse(plan.Rate > 0, names); err != nil {
		return nil, err
	}
	if err := f.thresholds.watch(plan, names); err != nil {
		return nil, err
	}
	return plan, nil
}

// benchURL parses and checks bench's URL argument; every error is a
// usage error.
func benchURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	switch {
	case !strings.Contains(rawURL, "://"):
		return nil, usagef("bench: bad URL %q: want http://host[:port]/path or https://...", rawURL)
	case err != nil:
		return nil, usagef("bench: bad URL %q: %v", rawURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, usagef("bench: bad URL %q: scheme must be http or https", rawURL)
	case u.Host == "" || u.Hostname() == "":
		return nil, usagef("bench: bad URL %q: no host", rawURL)
	case u.User != nil:
		return nil, usagef("bench: bad URL %q: credentials in URLs are not sent; use -H 'Authorization: ...'", rawURL)
	}
	if p := u.Port(); p != "" {
		if !validPort(p) {
			return nil, usagef("bench: bad URL %q: bad port %q", rawURL, p)
		}
	}
	return u, nil
}

// validPort reports whether s, the port of a URL, is a port one can
// connect to: a decimal number from 1 to 65535.
func validPort(s string) bool {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' || n > 65535 {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return s != "" && n >= 1 && n <= 65535
}

// benchToken reports whether s is a non-empty HTTP token (a method or a
// header name).
func benchToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// runBench runs the plan and writes its report; on Ctrl-C the report
// covers what was done and the exit status is 130 (143 for SIGTERM).
func runBench(cmd *cobra.Command, f *benchFlags, plan *loadgen.Plan) error {
	out := cmd.OutOrStdout()
	save, err := openSave(f.save, out, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer save.abandon()
	if f.save == "-" {
		out = cmd.ErrOrStderr() // stdout is the saved run's
	}
	hlog, err := prepareOutput("bench: --hlog", f.series.hlog, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer hlog.abandon()
	junit, err := f.thresholds.prepareJUnit(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer junit.abandon()
	page, err := prepareOutput("bench: --html", f.view.html, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer page.abandon()
	stderr := cmd.ErrOrStderr()
	ctx, display, err := f.view.start(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), stderr, f.output, plan)
	if err != nil {
		return err
	}
	defer display.stop() // on every way out, a panic too: the terminal comes back
	finishPush, err := f.push.start(plan, stderr)
	if err != nil {
		return err
	}
	started := time.Now()
	sum, err := loadgen.Run(ctx, plan)
	display.stop()
	finishPush(sum)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	f.thresholds.judge(sum)
	if f.output == "json" {
		err = sum.WriteJSON(out)
	} else {
		err = sum.WriteText(out)
	}
	if err != nil {
		return fmt.Errorf("bench: writing the report: %w", err)
	}
	// An output that cannot be written is an error whatever the run's
	// ending; interrupted, it is said after the interruption, and the
	// exit status is still 130 (main's rule: the signal wins). One that
	// fails does not keep the others from being written: each is tried,
	// and each failure said on a line of its own.
	var failed []error
	for _, write := range []func() error{
		func() error { return save.write(sum) },
		func() error { return hlog.write(sum.WriteIntervalLog) },
		func() error { return page.write(func(w io.Writer) error { return writeHTML(w, sum) }) },
		func() error { return f.thresholds.writeJUnit(junit, sum, started) },
	} {
		if err := write(); err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		if interruptStatus(ctx) != 0 {
			fmt.Fprintln(stderr, "gather: bench interrupted: the report covers the requests that finished")
		}
		for _, err := range failed[:len(failed)-1] {
			fmt.Fprintf(stderr, "gather: %v\n", err)
		}
		return failed[len(failed)-1] // main says the last, as every error
	}
	judged := f.thresholds.verdict(sum, stderr)
	if status := interruptStatus(ctx); status != 0 {
		fmt.Fprintln(stderr, "gather: bench interrupted: the report covers the requests that finished")
		return status
	}
	if judged != nil {
		return judged
	}
	return runFailed(sum, stderr)
}
