// Package demo replays the asyncio tutorial, cell by cell, on the gather
// library, with real timings: the engine of "gather demo".
//
// Time is counted in units, the tutorial's "second", so that the whole
// replay can run in a few seconds or at the tutorial's own pace. The HTTP
// cells talk to a slow server whose delay is 5 units, as the tutorial's
// Flask app took 5 s: by default one that Run starts in-process on a free
// loopback port.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/internal/slowserver"
)

// Options says how to run the demo.
type Options struct {
	// Unit is the time that stands for one of the tutorial's seconds.
	// It must be positive.
	Unit time.Duration

	// URL is what the HTTP cells GET, as given: a server's root, or any
	// slow path of it (http://127.0.0.1:5000/delay/2). The last cell asks
	// /status/500 of the same server for its failures. Empty means a slow
	// server started in-process, whose GET / answers after 5 units.
	URL string

	// Requests is the number of concurrent requests of the last HTTP
	// cell; zero means DefaultRequests.
	Requests int

	// Out receives the demo's report; nil discards it. Run writes to it
	// from one goroutine at a time.
	Out io.Writer
}

// Defaults for [Options].
const (
	// DefaultUnit makes the whole demo take about 15 s: its cells add up
	// to 49 units.
	DefaultUnit     = 300 * time.Millisecond
	DefaultRequests = 1000
	// HTTPDelay is the in-process server's delay, in units: the
	// tutorial's Flask app took 5 s.
	HTTPDelay = 5
)

// A Row is one line of the final table: one scenario run one after
// another and concurrently.
type Row struct {
	Scenario string
	// Sequential is the time the scenario takes one step after another:
	// measured for the 5 HTTP requests, estimated for the many requests
	// as that many times the mean of those 5, and otherwise the sum of
	// the tasks' own times, which is what running them in turn costs.
	Sequential time.Duration
	// Concurrent is the time the scenario took with its tasks running at
	// once.
	Concurrent time.Duration
}

// SpeedUp is Sequential / Concurrent.
func (r Row) SpeedUp() float64 {
	if r.Concurrent <= 0 {
		return 0
	}
	return float64(r.Sequential) / float64(r.Concurrent)
}

// Run replays the tutorial, writing what each cell did and how long it
// took to opt.Out, then the table of its rows, which it also returns.
//
// If ctx ends, Run stops at once and returns ctx's cause, with the rows
// of the cells that finished (the table is printed for them too). A failed
// HTTP request stops the demo with its error. Run leaves no goroutine and
// no server behind.
func Run(ctx context.Context, opt Options) ([]Row, error) {
	if opt.Unit <= 0 {
		return nil, errors.New("demo: the unit must be positive")
	}
	if opt.Requests <= 0 {
		opt.Requests = DefaultRequests
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	d := &demo{
		out:      &lockedWriter{w: opt.Out},
		unit:     opt.Unit,
		requests: opt.Requests,
		url:      opt.URL,
	}
	d.printf("gather demo: the asyncio tutorial replayed on gather\n")
	if d.url == "" {
		s, err := slowserver.Start("127.0.0.1:0", slowserver.Config{Delay: HTTPDelay * opt.Unit})
		if err != nil {
			return nil, fmt.Errorf("demo: starting the slow server: %w", err)
		}
		// Every request has ended when a cell returns, so there is
		// nothing to wait for; an interrupted demo cuts at once.
		defer s.Shutdown(0)
		d.url = s.URL()
		d.printf("1 unit = %v (the tutorial's 1 s); slow server at %s answers after %d units\n", opt.Unit, d.url, HTTPDelay)
	} else {
		d.printf("1 unit = %v (the tutorial's 1 s); HTTP cells use %s, with its own delay\n", opt.Unit, d.url)
		if err := waitForServer(ctx, d.url, 5*time.Second); err != nil {
			return nil, err
		}
	}
	// The failing cell asks the same server, whatever path URL has.
	status, err := url.Parse(d.url)
	if err != nil {
		return nil, fmt.Errorf("demo: bad URL %q: %w", d.url, err)
	}
	status.Path, status.RawPath, status.RawQuery, status.Fragment = "/status/500", "", "", ""
	d.failURL = status.String()
	tr := &http.Transport{
		Proxy: nil, // a demo on loopback must not go through $HTTP_PROXY
		// One connection per concurrent request, kept: otherwise the
		// client, not the server, decides how long the big cell takes.
		MaxConnsPerHost:     0,
		MaxIdleConns:        opt.Requests + 10,
		MaxIdleConnsPerHost: opt.Requests + 10,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	d.client = &http.Client{Transport: tr, Timeout: 20*HTTPDelay*opt.Unit + 30*time.Second}

	for i, cell := range cells {
		d.printf("\n[%d] %s\n", i+1, cell.title)
		start := time.Now()
		// Each cell is a task named after it, so that 'gather ps' on a
		// demo run with --debug-addr shows the cell over its tasks.
		// Awaited past ctx's end: a cell stops on its own when ctx ends.
		task := gather.Go(ctx, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, cell.run(d, ctx)
		}, gather.Name(fmt.Sprintf("cell %d: %s", i+1, cell.title)))
		if _, err := task.Await(context.WithoutCancel(ctx)); err != nil {
			if ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			d.printf("    stopped after %s: %v\n", d.units(time.Since(start)), err)
			d.table()
			return d.rows, err
		}
	}
	d.table()
	return d.rows, nil
}

// demo is one run's state, shared by the cells.
type demo struct {
	out      *lockedWriter
	unit     time.Duration
	requests int
	url      string // what the HTTP cells GET
	failURL  string // what the failing cell GETs: /status/500 on url's server
	client   *http.Client
	rows     []Row
	seq5     time.Duration // the 5 requests one after another, for the table
}

func (d *demo) printf(format string, args ...any) {
	fmt.Fprintf(d.out, format, args...)
}

// units formats t in units, with the real time beside it: "4.0 units
// (1.203s)".
func (d *demo) units(t time.Duration) string {
	return fmt.Sprintf("%s (%v)", d.inUnits(t), roundReal(t))
}

func (d *demo) inUnits(t time.Duration) string {
	return fmt.Sprintf("%.1f units", float64(t)/float64(d.unit))
}

func roundReal(t time.Duration) time.Duration {
	if t < time.Millisecond {
		return t.Round(time.Microsecond)
	}
	return t.Round(time.Millisecond)
}

func (d *demo) table() {
	if len(d.rows) == 0 {
		return
	}
	d.printf("\n%-40s %18s %16s %10s\n", "scenario", "one after another", "concurrently", "speed-up")
	for _, r := range d.rows {
		d.printf("%-40s %18s %16s %9.1fx\n", r.Scenario, d.inUnits(r.Sequential), d.inUnits(r.Concurrent), r.SpeedUp())
	}
	d.printf("\none after another: measured for the 5 HTTP requests, and for the many requests\n")
	d.printf("that many times the mean of those 5; for the other rows, the sum of the tasks' own times\n")
}

// waitForServer waits until the server of rawURL accepts TCP connections,
// for up to limit, so that the demo can be started right after the server.
func waitForServer(ctx context.Context, rawURL string, limit time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("demo: bad URL %q: want http://host:port", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var dialer net.Dialer
	for {
		c, err := dialer.DialContext(ctx, "tcp", host)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("demo: no server at %s after %v: %w", rawURL, limit, err)
			}
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lockedWriter serializes writes: the unretrieved-error handler may write
// from another goroutine than the cells.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
