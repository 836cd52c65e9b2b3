package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gather-dev/gather/internal/h1"
	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/targets"
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
	// Host, if set, is sent as the Host header instead of the URL's host
	// (of a target without a Host field of its own).
	Host string
	// Targets, if set, are the run's requests, one picked for each
	// request sent (see the targets package); URL must then be their
	// server ([targets.Set.Server]), and Method, Header and Body are not
	// used. If nil, every request is the one URL, Method, Header and Body
	// describe.
	Targets *targets.Set

	// Connections is the number of workers, each with its own connection.
	Connections int
	// Requests stops the run after that many requests; 0 means no limit.
	Requests int64
	// Duration stops the run after that long: no request is started (closed
	// model) or due (open model) later; requests in flight finish. 0 means
	// no limit. At least one of Requests and Duration must be set.
	Duration time.Duration
	// Rate is the total request rate of the open model, in requests per
	// second; 0 means the closed model, unless RateStages are set.
	Rate float64
	// RateStages, if set, shape the open model's rate over the run (see
	// [Stage]): it starts at Rate, which may then be 0, and goes through
	// the stages in order. The run lasts as long as the stages: Duration
	// and Requests must be 0.
	RateStages []Stage
	// ConnectionStages, if set, ramp the closed model's connections (see
	// [Stage]): Connections at the start, which may then be 0, then
	// through the stages. A connection above the level waits between two
	// requests, its connection kept open, until the level reaches it
	// again. The run lasts as long as the stages: Duration and Requests
	// must be 0.
	ConnectionStages []Stage
	// Timeout bounds each request, connecting included; 0 means none.
	Timeout time.Duration

	// HTTP2 uses HTTP/2: over TLS (ALPN h2), or cleartext with prior
	// knowledge for http://; gather's own client unless NetHTTP is set.
	HTTP2 bool
	// Streams is the number of concurrent streams per HTTP/2 connection
	// (h2load's -m), fewer if the server allows fewer; 0 means 1.
	Streams int
	// Insecure skips the verification of the server's certificate.
	Insecure bool
	// RootCAs, if set, are the authorities the server's certificate must
	// chain to, instead of the system's.
	RootCAs *x509.CertPool
	// TLSVersion, if set (tls.VersionTLS12 or tls.VersionTLS13), is the
	// only TLS version offered; 0 offers 1.2 and 1.3.
	TLSVersion uint16
	// NoKeepAlive opens a new connection for every request, and closes it
	// from the client after the response, whatever the server does.
	NoKeepAlive bool
	// RequestsPerConn, if positive, closes each connection from the client
	// after that many responses and opens a new one.
	RequestsPerConn int
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

	// Interval is the length of the intervals of the run's series (see
	// [report.Series]); 0 means 1 s. It must be at least
	// [report.MinInterval].
	Interval time.Duration
	// OnInterval, if set, receives each interval of the series as it
	// closes, a moment (a tenth of the interval, at most 100 ms) after it
	// ends, in time order, from a goroutine of Run's own; Run returns once
	// the last interval, the one in which the run ended, has been
	// delivered. The run does not wait for it: while it is busy, closed
	// intervals wait for it in the series' compact form.
	OnInterval func(report.Interval)

	// Watches are counted by every recorder as the run goes (see
	// [report.Watch]). Check, if set, is called with their counts every
	// CheckEvery (0 means 250 ms), from a goroutine of Run's own, and with
	// how many requests the run may still send (-1 if it has no bound);
	// when it returns an error the run stops, as if ctx had ended, and
	// the summary's warnings say why. This is how bench --abort-on-fail
	// judges thresholds while the run goes.
	Watches    []report.Watch
	Check      func(counts []report.WatchCount, remaining int64) error
	CheckEvery time.Duration
	// LoopTimer chooses how the event loops wake for the open model's due
	// times, and LoopSpin how long before a due time they wake to spin on
	// the clock (0: 20 µs); for comparisons (see [LoopTimer]).
	LoopTimer LoopTimer
	LoopSpin  time.Duration
	// LoopSlack lets an event loop send a request up to this long before
	// its due time, so that the requests due within it share one wake-up
	// with the first: fewer wake-ups and less CPU per request. A request
	// sent early has its response time from its send, and a send lag of
	// 0. 0 means 500 µs where the run's rate makes at least two requests
	// due within it (4,000 req/s), and none below that rate; negative
	// means none.
	LoopSlack time.Duration
	// LoopWakeOnAnswer makes the event loops of the open model wake for
	// each answer as it comes, as in the closed model, rather than leave
	// the answers that come shortly before their next due time to be read
	// then, timed by the kernel (see loop_reap_linux.go); for comparisons.
	LoopWakeOnAnswer bool

	// Segment, if set, makes the run one share of a distributed run: the
	// fields above describe the whole run, and Run sends the segment's
	// share of it (see [Segment]).
	Segment Segment
	// StartAt, if set, is the wall-clock time the run starts at: Run
	// sets up its connections, waits for it, and counts the schedule and
	// the duration from it, so that segments on several machines run one
	// schedule. A run that could only start later starts at once, counts
	// from StartAt all the same (the requests due before it are late in
	// the open model), and says so in its report.
	StartAt time.Time
	// SourceAddr, if valid, is the local address every connection is
	// made from, instead of the system's choice: one of several addresses
	// of a generator (each has its own ephemeral ports), or a segment's
	// own on a shared machine.
	SourceAddr netip.Addr
	// HostName and NodeName say where the run ran, for the record (see
	// [report.Part]); "" means os.Hostname and unknown.
	HostName, NodeName string

	// newDoer replaces the transport, for tests.
	newDoer func(ctx context.Context, worker int) (Doer, error)
	// single is the one target of a plan without Targets, compiled by check.
	single *targets.Set
}

// check reports what is wrong with p, if anything.
func (p *Plan) check() error {
	switch {
	case p.URL == nil && p.newDoer == nil:
		return errors.New("loadgen: no URL")
	case p.Connections < 0 || p.Connections == 0 && p.ConnectionStages == nil:
		return fmt.Errorf("loadgen: %d connections", p.Connections)
	case p.Requests < 0 || p.Duration < 0 || p.Rate < 0 || p.Timeout < 0:
		return errors.New("loadgen: negative count, duration, rate or timeout")
	case p.Requests == 0 && p.Duration == 0 && p.RateStages == nil && p.ConnectionStages == nil:
		return errors.New("loadgen: neither a request count nor a duration")
	case p.Streams < 0:
		return fmt.Errorf("loadgen: %d streams", p.Streams)
	case p.Streams > 1 && !p.HTTP2:
		return errors.New("loadgen: streams need HTTP/2")
	case p.RequestsPerConn < 0:
		return fmt.Errorf("loadgen: %d requests per connection", p.RequestsPerConn)
	case p.RequestsPerConn > 0 && p.NoKeepAlive:
		return errors.New("loadgen: requests per connection and no keep-alive contradict each other")
	case p.TLSVersion != 0 && p.TLSVersion != tls.VersionTLS12 && p.TLSVersion != tls.VersionTLS13:
		return fmt.Errorf("loadgen: TLS version %#x: want 1.2 or 1.3", p.TLSVersion)
	case p.Interval < 0 || p.Interval > 0 && p.Interval < report.MinInterval:
		return fmt.Errorf("loadgen: interval %v is shorter than %v", p.Interval, report.MinInterval)
	}
	if err := p.CheckProfile(); err != nil {
		return err
	}
	if err := p.CheckRate(); err != nil {
		return err
	}
	if err := p.Segment.Check(p); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if p.URL != nil && p.URL.Scheme != "http" && p.URL.Scheme != "https" {
		return fmt.Errorf("loadgen: unsupported scheme %q", p.URL.Scheme)
	}
	// The fast client writes these bytes as they are: no header may end
	// the header block or frame the body its own way.
	if strings.ContainsAny(p.Method+p.Host, " \t\r\n") {
		return fmt.Errorf("loadgen: bad method %q or host %q", p.Method, p.Host)
	}
	if p.Targets != nil {
		return nil // checked as they were read
	}
	for _, h := range p.Header {
		switch {
		case !h1.IsToken([]byte(h[0])) || h[0] == "" || strings.ContainsAny(h[1], "\r\n"):
			return fmt.Errorf("loadgen: bad header %q: %q", h[0], h[1])
		case strings.EqualFold(h[0], "Host"), strings.EqualFold(h[0], "Content-Length"),
			strings.EqualFold(h[0], "Transfer-Encoding"), strings.EqualFold(h[0], "Connection"):
			return fmt.Errorf("loadgen: header %s is set by the plan, not by Header", h[0])
		}
	}
	_, err := p.compileSingle()
	return err
}

// compileSingle compiles the plan's one target, for a plan without Targets.
func (p *Plan) compileSingle() (*targets.Set, error) {
	u := "http://doer.test/" // test doers send nothing; a target still numbers their requests
	if p.URL != nil {
		u = p.URL.String()
	}
	set, err := targets.Single(p.method(), u, p.Body, false, targets.Options{Header: p.Header})
	if err != nil {
		return nil, fmt.Errorf("loadgen: %v", err)
	}
	p.single = set
	return set, nil
}

// targetSet returns the run's targets: Targets, or the plan's one target.
func (p *Plan) targetSet() *targets.Set {
	switch {
	case p.Targets != nil:
		return p.Targets
	case p.single != nil:
		return p.single
	}
	set, err := p.compileSingle()
	if err != nil {
		panic(err) // Run checks the plan first; only a test skips that
	}
	return set
}

func (p *Plan) method() string {
	if p.Method == "" {
		return "GET"
	}
	return p.Method
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
