// Package loadgen is the engine of gather bench: connections paced by a
// closed or an open model, recorders merged at the end, and a minimal
// HTTP/1.1 client for the common case.
//
// Nothing is shared on the hot path but one atomic counter from which
// requests are claimed (one atomic add per request): no channel send, lock
// or allocation per request. Two engines send the requests:
//
//   - The event loops (Linux, plain http://, closed model): one goroutine
//     per CPU drives its share of the connections through its own epoll
//     set, as wrk does, and records into its own [report.Recorder].
//   - The workers (everything else): one goroutine per connection, each
//     with its own [Doer], as children of a gather Group. Up to 128
//     connections each worker owns a recorder; beyond that, workers share
//     128 recorders, each behind a mutex, so that memory and the final
//     merge stay bounded (see maxRecorders).
//
// Plain http:// goes through this package's HTTP/1.1 client, whose
// response [parser] takes bytes as they come, for both engines; HTTPS and
// HTTP/2 go through net/http.
//
// In the closed model (no Rate) each connection sends its next request as
// soon as the previous one ends. In the open model request i is due at
// t0 + i/Rate whatever the server does; a request sent after its due time
// because every connection was busy is counted as late, and its response
// time runs from the due time, not from the send (coordinated omission is
// counted, not hidden).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/internal/report"
)

// UserAgent is sent with every request unless a header sets another.
const UserAgent = "gather-bench/1"

// A Plan describes one run. The zero value of every optional field means
// its default.
type Plan struct {
	// URL is the target: http:// or https://.
	URL *url.URL
	// Method is the HTTP method; "" means GET.
	Method string
	// Header holds extra request headers as name/value pairs, in order.
	// Host, Content-Length, Transfer-Encoding and Connection are not
	// allowed here: Host and the others come from the fields below.
	Header [][2]string
	// Body is sent with every request.
	Body []byte
	// Host, if set, is sent as the Host header instead of the URL's host.
	Host string

	// Connections is the number of workers, each with its own connection.
	Connections int
	// Requests stops the run after that many requests; 0 means no limit.
	Requests int64
	// Duration stops the run after that long: no request is started (closed
	// model) or due (open model) later; requests in flight finish. 0 means
	// no limit. At least one of Requests and Duration must be set.
	Duration time.Duration
	// Rate is the total request rate of the open model, in requests per
	// second; 0 means the closed model.
	Rate float64
	// Timeout bounds each request, connecting included; 0 means none.
	Timeout time.Duration

	// HTTP2 uses HTTP/2 (over TLS, or cleartext with prior knowledge for
	// http://) through net/http.
	HTTP2 bool
	// Insecure skips the verification of the server's certificate.
	Insecure bool
	// NoKeepAlive opens a new connection for every request.
	NoKeepAlive bool
	// NetHTTP forces net/http even where the fast HTTP/1.1 client applies;
	// for comparisons.
	NetHTTP bool
	// Goroutines forces one worker goroutine per connection even where the
	// event loops apply; for comparisons.
	Goroutines bool

	// Progress, if set, is called every ProgressEvery from a goroutine of
	// Run's own, until the workers stop. It reads the recorders' atomic
	// counters, so it costs the workers nothing.
	Progress func(Progress)
	// ProgressEvery is the interval between Progress calls; 0 means 1 s.
	ProgressEvery time.Duration

	// newDoer replaces the transport, for tests.
	newDoer func(ctx context.Context, worker int) (Doer, error)
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Requests int64         // requests finished or failed so far
	Errors   int64         // of which failed
	Elapsed  time.Duration // since the run started
}

// A Doer sends one request and reads its response on a connection that one
// worker owns. Do must be safe to call again after an error (a failed
// connection is replaced) and must return soon after ctx ends. It returns
// the HTTP status and the number of response body bytes read (decoded:
// without headers, chunk framing or trailers).
type Doer interface {
	Do(ctx context.Context) (status int, bytes int64, err error)
	Close() error
}

// maxRecorders bounds the number of recorders (about 380 KiB of address
// space each, and tens of µs each to merge). Up to this many connections
// every worker owns its recorder; beyond it, workers share recorders
// behind a mutex each, which at that many connections is held for about
// 50 ns per request of ones that last far longer.
const maxRecorders = 128

// lateSlack is how far past its due time a request may be sent before it
// counts as late: scheduling noise, not a busy connection.
const lateSlack = time.Millisecond

// check reports what is wrong with p, if anything.
func (p *Plan) check() error {
	switch {
	case p.URL == nil && p.newDoer == nil:
		return errors.New("loadgen: no URL")
	case p.Connections < 1:
		return fmt.Errorf("loadgen: %d connections", p.Connections)
	case p.Requests < 0 || p.Duration < 0 || p.Rate < 0 || p.Timeout < 0:
		return errors.New("loadgen: negative count, duration, rate or timeout")
	case p.Requests == 0 && p.Duration == 0:
		return errors.New("loadgen: neither a request count nor a duration")
	}
	if p.URL != nil && p.URL.Scheme != "http" && p.URL.Scheme != "https" {
		return fmt.Errorf("loadgen: unsupported scheme %q", p.URL.Scheme)
	}
	// The fast client writes these bytes as they are: no header may end
	// the header block or frame the body its own way.
	if strings.ContainsAny(p.Method+p.Host, " \t\r\n") {
		return fmt.Errorf("loadgen: bad method %q or host %q", p.Method, p.Host)
	}
	for _, h := range p.Header {
		switch {
		case !isToken([]byte(h[0])) || h[0] == "" || strings.ContainsAny(h[1], "\r\n"):
			return fmt.Errorf("loadgen: bad header %q: %q", h[0], h[1])
		case strings.EqualFold(h[0], "Host"), strings.EqualFold(h[0], "Content-Length"),
			strings.EqualFold(h[0], "Transfer-Encoding"), strings.EqualFold(h[0], "Connection"):
			return fmt.Errorf("loadgen: header %s is set by the plan, not by Header", h[0])
		}
	}
	return nil
}

// run is the state the workers share, read-only after start but for next.
type run struct {
	plan     *Plan
	t0       time.Time
	interval float64 // ns between due times in the open model
	next     atomic.Int64
}

// workerStats is a worker's own measure of its pacing, merged after the run.
type workerStats struct {
	lag       lagHistogram  // send minus due time, every request (open model)
	overshoot time.Duration // timer wake-ups past the due time, summed
	wakeups   int64
	lastSent  time.Time // of the worker's last request (open model)
}

// Run carries out the plan and returns its summary. It returns when the
// requests are done, the duration has passed, or ctx ends; in the last
// case the summary covers the requests that finished, and the requests
// interrupted in flight are not counted. The error is non-nil only if the
// plan is invalid or a transport could not be set up; failed requests are
// counted in the summary, not returned.
func Run(ctx context.Context, p *Plan) (*report.Summary, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	conns := p.Connections
	if p.Requests > 0 && int64(conns) > p.Requests {
		conns = int(p.Requests)
	}
	e, err := newEngine(ctx, p, conns)
	if err != nil {
		return nil, err
	}
	recs := e.recorders()

	var gc0 runtime.MemStats
	runtime.ReadMemStats(&gc0)
	cpu0 := cpuTime()
	r := &run{plan: p, t0: time.Now()}
	if p.Rate > 0 {
		r.interval = float64(time.Second) / p.Rate
	}
	stopProgress := r.progress(recs)
	stats := e.run(ctx, r)
	elapsed := time.Since(r.t0)
	cpu := cpuTime() - cpu0
	var gc1 runtime.MemStats
	runtime.ReadMemStats(&gc1)
	stopProgress()
	e.close() // after the clock stops: closing is not the server's time

	s := report.Merge(recs...)
	if p.URL != nil {
		s.Target = p.URL.String()
	}
	s.Method = p.method()
	s.Connections = conns
	s.Rate = p.Rate
	s.Elapsed = elapsed
	s.Generator = r.judge(s, stats, time.Duration(gc1.PauseTotalNs-gc0.PauseTotalNs), cpu, elapsed)
	s.Generator.Engine = e.String()
	s.Generator.Warnings = append(s.Generator.Warnings, e.problems()...)
	return s, nil
}

// An engine sends a run's requests: goroutine workers over [Doer]s, or
// the event loops of the closed model over plain HTTP/1.1.
type engine interface {
	// recorders returns what the engine records into; their counters may
	// be read while it runs.
	recorders() []*report.Recorder
	// run carries out r's plan and returns when it is done or ctx ends,
	// with the workers' pacing statistics (none for the event loops,
	// which serve only the closed model).
	run(ctx context.Context, r *run) []workerStats
	// close releases the connections, after the clock has stopped.
	close()
	// String says how the engine sends requests, for the report.
	String() string
	// problems explains, one line each, what went wrong with the engine
	// itself during the run, for the report's warnings.
	problems() []string
}

// newEngine returns the engine for p: the event loops where they apply
// (see [Plan.EventLoops]), else one worker goroutine per connection.
func newEngine(ctx context.Context, p *Plan, conns int) (engine, error) {
	if p.newDoer == nil && p.EventLoops() {
		if e := newLoopEngine(ctx, p, conns); e != nil {
			return e, nil
		}
	}
	newDoer := p.newDoer
	if newDoer == nil {
		var err error
		if newDoer, err = transport(p, conns); err != nil {
			return nil, err
		}
	}
	client := "own HTTP/1.1 client"
	switch {
	case p.newDoer != nil:
		client = "test doers"
	case !p.FastPath():
		client = "net/http"
	}
	return newWorkers(ctx, conns, client, newDoer)
}

// workers is the engine of one goroutine per connection, each with its
// own Doer, as children of a gather Group.
type workers struct {
	client string // what the doers are, for String
	doers  []Doer
	recs   []*report.Recorder
	locks  []sync.Mutex // one per recorder, used if workers share them
	stats  []workerStats
}

func newWorkers(ctx context.Context, conns int, client string, newDoer func(context.Context, int) (Doer, error)) (*workers, error) {
	nrec := min(conns, maxRecorders)
	w := &workers{
		client: client,
		doers:  make([]Doer, conns),
		recs:   make([]*report.Recorder, nrec),
		locks:  make([]sync.Mutex, nrec),
		stats:  make([]workerStats, conns),
	}
	for i := range w.recs {
		w.recs[i] = report.NewRecorder()
	}
	for i := range w.doers {
		d, err := newDoer(ctx, i)
		if err != nil {
			for _, d := range w.doers[:i] {
				d.Close()
			}
			return nil, err
		}
		w.doers[i] = d
	}
	return w, nil
}

func (w *workers) String() string {
	return count(len(w.doers), "goroutine") + ", " + w.client
}

func (w *workers) problems() []string { return nil }

func (w *workers) recorders() []*report.Recorder { return w.recs }

func (w *workers) run(ctx context.Context, r *run) []workerStats {
	nrec := len(w.recs)
	shared := len(w.doers) > nrec
	g := gather.NewGroup(ctx)
	for i, d := range w.doers {
		rec := w.recs[i%nrec]
		var mu *sync.Mutex
		if shared {
			mu = &w.locks[i%nrec]
		}
		st := &w.stats[i]
		// Go fails only once ctx has ended: the run is over then, and the
		// workers not started have nothing to report.
		_ = g.Go(func(ctx context.Context) error {
			r.work(ctx, d, rec, mu, st)
			return nil
		})
	}
	g.Wait() // workers return nil: interruption is not a failure here
	return w.stats
}

func (w *workers) close() {
	for _, d := range w.doers {
		d.Close()
	}
}

// count returns "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func (p *Plan) method() string {
	if p.Method == "" {
		return "GET"
	}
	return p.Method
}

// work is one worker's loop: claim a request, wait for its due time (open
// model), send it, record it.
func (r *run) work(ctx context.Context, d Doer, rec *report.Recorder, mu *sync.Mutex, st *workerStats) {
	p := r.plan
	var timer *time.Timer
	if p.Rate > 0 {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	var deadline time.Time
	if p.Duration > 0 {
		deadline = r.t0.Add(p.Duration)
	}
	now := time.Now()
	for ctx.Err() == nil {
		var due time.Time
		late := false
		if p.Rate > 0 {
			i := r.next.Add(1) - 1
			if p.Requests > 0 && i >= p.Requests {
				return
			}
			off := time.Duration(float64(i) * r.interval)
			if p.Duration > 0 && off >= p.Duration {
				return
			}
			due = r.t0.Add(off)
			if wait := due.Sub(now); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
				now = time.Now()
				st.overshoot += now.Sub(due)
				st.wakeups++
			} else if -wait > lateSlack {
				late = true
			}
			st.lag.add(now.Sub(due))
			st.lastSent = now
		} else {
			if p.Requests > 0 && r.next.Add(1) > p.Requests {
				return
			}
			if !deadline.IsZero() && !now.Before(deadline) {
				return
			}
			due = now
		}
		sent := now
		status, n, err := d.Do(ctx)
		now = time.Now()
		if err != nil && ended(ctx, now) {
			return // interrupted, not failed
		}
		s := report.Sample{
			Response: now.Sub(due),
			Service:  now.Sub(sent),
			Status:   status,
			Bytes:    n,
			Err:      Classify(err),
			Late:     late,
		}
		if s.Err != report.ErrNone {
			s.Status = 0
		}
		if mu != nil {
			mu.Lock()
			rec.Record(s)
			mu.Unlock()
		} else {
			rec.Record(s)
		}
	}
}

// ended reports whether ctx has ended by now. A dial or a read on a
// connection sees a deadline of ctx pass, and fails with a timeout, a
// moment before ctx itself reports it.
func ended(ctx context.Context, now time.Time) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !now.Before(d)
}

// progress starts reporting progress if the plan asks for it and returns
// the function that stops it and waits for it.
func (r *run) progress(recs []*report.Recorder) (stop func()) {
	p := r.plan
	if p.Progress == nil {
		return func() {}
	}
	every := p.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var pr Progress
				for _, rec := range recs {
					pr.Requests += rec.Requests()
					pr.Errors += rec.Errors()
				}
				pr.Elapsed = time.Since(r.t0)
				p.Progress(pr)
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// hostPort returns the address to dial for u.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// requestTarget returns u's request-target: path and query, "/" if empty.
func requestTarget(u *url.URL) string {
	t := u.RequestURI()
	if t == "" || t[0] != '/' && t != "*" {
		t = "/" + strings.TrimPrefix(t, "/")
	}
	return t
}
