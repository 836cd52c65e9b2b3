// Package fetcher is the engine of "gather fetch": it reads URLs one input
// line at a time, fetches them concurrently with per-host limits, retries
// and timeouts, and turns every input line into exactly one [Record],
// whatever happens to it.
//
// The stance is "nothing lost": a malformed line, a refused connection, a
// timeout or an interrupted run each give a record that says so, and the
// run goes on, so the output always has one record per input line. Memory
// is bounded by the concurrency, not by the length of the input.
//
// Plain http:// URLs go through the package's own HTTP/1.1 client, which
// keeps connections per host and reads responses with the same strict
// parser as bench ([h1.Parser]); https://, proxies from the environment
// and anything else it does not do go through net/http. Both follow
// redirects, retry and report errors through the same code, so a record
// reads the same whichever made it.
package fetcher

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gather-dev/gather"
)

// Options configure a [Fetcher]. The zero value fetches one URL at a time,
// with no timeout, no retries and no redirects.
type Options struct {
	// Concurrency is the number of URLs being fetched at once, counting
	// those waiting between retries; <= 0 means 1.
	Concurrency int
	// Order is the order in which [Fetcher.Run] emits records.
	Order gather.Order
	// PerHost limits the requests in flight to any one host (host:port of
	// the input URL, not of a redirect's target); <= 0 means no limit
	// beyond Concurrency. It also bounds the idle connections kept per
	// host.
	PerHost int
	// Rate limits the requests started per second to any one host,
	// retries included, spacing them evenly; <= 0 means no limit.
	Rate float64
	// Timeout bounds each attempt, from sending the request to reading
	// the last byte of the body, redirects included; <= 0 means none.
	Timeout time.Duration
	// Retries is how many times a URL is tried again after a network
	// error, a timeout, or a 408, 429 or 5xx status.
	Retries int
	// Backoff is the wait before the first retry; each further retry
	// doubles it, up to MaxBackoff. Half of each wait is random (jitter).
	// A server's Retry-After replaces it.
	Backoff time.Duration
	// MaxBackoff caps the doubled Backoff; <= 0 means no cap.
	MaxBackoff time.Duration
	// MaxRetryAfter caps a server's Retry-After: a response that asks for a
	// longer wait is not retried, and its record is a failure.
	MaxRetryAfter time.Duration
	// MaxRedirects is how many redirects are followed; a response that
	// redirects once more is a failure of kind [KindRedirects], and so is
	// a redirect to a Location that is not an http or https URL.
	MaxRedirects int
	// Header is added to every request. A "Host" entry sets the Host
	// header. Setting Accept-Encoding turns off the transparent gzip
	// decoding.
	Header http.Header
	// Body puts each body in its record, as text.
	Body bool
	// MaxBody is the most bytes of a body that Body keeps; the rest is
	// read, counted in the record's Bytes, and dropped.
	MaxBody int64
	// Dir, if set, is an existing directory where the body of each
	// successful response is saved, under the name [FileName] gives.
	Dir string
	// Client chooses the HTTP client: [ClientAuto] (the own client for
	// plain http://, net/http for the rest) or [ClientNetHTTP].
	Client Client
	// DNSCache is how long a host name's addresses are used before they
	// are looked up again: 0 means [DefaultDNSCache], < 0 no cache.
	DNSCache time.Duration
	// Stalled, if set, is called by Run in InputOrder when the records it
	// holds behind a slow line have filled its window, with that line and
	// the number of records held: the fetches wait until it ends. It is
	// called once per such line, from Run's goroutine.
	Stalled func(l Line, held int)

	// Transport, if set, makes every request (through net/http's
	// interface; the own client is not used), for tests. nil means a copy
	// of [http.DefaultTransport] (proxy from the environment, HTTP/2 over
	// TLS when the server offers it, transparent gzip) sized for
	// Concurrency, for what the own client does not do.
	Transport http.RoundTripper
	// Dial, if set, makes every connection, given the URL's host:port
	// (the DNS cache is not used), for tests.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Lookup, if set, resolves host names for the DNS cache, for tests.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// A Client is the HTTP client a [Fetcher] uses.
type Client int

const (
	// ClientAuto fetches plain http:// URLs with the own HTTP/1.1 client,
	// unless a proxy from the environment applies to them, and the rest
	// with net/http.
	ClientAuto Client = iota
	// ClientNetHTTP fetches every URL with net/http: for a server whose
	// responses the own client's strict parser rejects, or to compare.
	ClientNetHTTP
)

// A Fetcher fetches URLs as its [Options] say. Its methods may be called
// from any goroutine.
type Fetcher struct {
	opts   Options
	own    *h1Client // nil: net/http only
	net    *netHTTP
	idle   interface{ CloseIdleConnections() }
	hosts  *hosts
	saver  *saver
	host   string // from a "Host" header
	dns    *dnsCache
	proxy  func(*http.Request) (*url.URL, error) // nil: no proxy in the environment for http://
	header http.Header
	// Run's windows in InputOrder, if hold > 0 (for tests).
	hold, softHold int
}

// New returns a Fetcher for opts. It fails only if opts.Dir cannot be
// opened or written to. Call [Fetcher.Close] when done.
func New(opts Options) (*Fetcher, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.DNSCache == 0 {
		opts.DNSCache = DefaultDNSCache
	}
	f := &Fetcher{opts: opts, hosts: newHosts(opts.PerHost, opts.Rate), header: http.Header{}}
	for k, v := range opts.Header {
		if http.CanonicalHeaderKey(k) == "Host" {
			f.host = v[len(v)-1]
			continue
		}
		f.header[http.CanonicalHeaderKey(k)] = append(f.header[http.CanonicalHeaderKey(k)], v...)
	}
	if _, ok := f.header["User-Agent"]; !ok {
		f.header.Set("User-Agent", "gather-fetch")
	}
	f.dns = newDNSCache(opts.Lookup, opts.DNSCache)
	d := &dialer{dns: f.dns, net: net.Dialer{KeepAlive: -1}, dial: opts.Dial}
	idlePerHost := opts.Concurrency
	if opts.PerHost > 0 && opts.PerHost < idlePerHost {
		idlePerHost = opts.PerHost
	}
	tr := opts.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = http.ProxyFromEnvironment
		t.DialContext = d.dialContext
		t.ForceAttemptHTTP2 = true
		t.MaxIdleConnsPerHost = idlePerHost
		t.MaxIdleConns = opts.Concurrency
		tr = t
	}
	f.net = &netHTTP{rt: tr, header: f.header}
	f.idle, _ = tr.(interface{ CloseIdleConnections() })
	if opts.Transport == nil && opts.Client == ClientAuto {
		f.own = newH1Client(f.header, d, opts.Concurrency, idlePerHost)
		if os.Getenv("HTTP_PROXY") != "" || os.Getenv("http_proxy") != "" {
			f.proxy = http.ProxyFromEnvironment
		}
	}
	if opts.Dir != "" {
		s, err := newSaver(opts.Dir)
		if err != nil {
			return nil, err
		}
		if err := s.checkWritable(); err != nil {
			s.close()
			return nil, err
		}
		f.saver = s
	}
	return f, nil
}

// newH1Client returns the own client, sending header (canonical names)
// with every request.
func newH1Client(header http.Header, d *dialer, maxConns, maxIdlePerHost int) *h1Client {
	c := &h1Client{pool: newPool(maxConns, maxIdlePerHost), dialer: d}
	for _, k := range slices.Sorted(maps.Keys(header)) {
		for _, v := range header[k] {
			c.header = append(c.header, [2]string{k, v})
			sensitive := false
			for _, s := range sensitiveFields {
				sensitive = sensitive || s == k
			}
			c.sensitive = append(c.sensitive, sensitive)
		}
	}
	_, userEncoding := header["Accept-Encoding"]
	_, ranged := header["Range"]
	if !userEncoding && !ranged {
		// As net/http's transport: gzip asked for, and decoded, unless
		// the user chose the encodings or asked for a range of bytes.
		c.header = append(c.header, [2]string{"Accept-Encoding", "gzip"})
		c.sensitive = append(c.sensitive, false)
		c.gzip = true
	}
	_, c.referer = header["Referer"]
	_, c.auth = header["Authorization"]
	return c
}

// Close releases the Fetcher's idle connections and its directory.
func (f *Fetcher) Close() error {
	if f.own != nil {
		f.own.pool.close()
	}
	if f.idle != nil {
		f.idle.CloseIdleConnections()
	}
	return f.saver.close()
}

// Fetch fetches one input line and returns its record. It never fails: an
// invalid line, a network error or an ended ctx is in the record.
func (f *Fetcher) Fetch(ctx context.Context, l Line) Record {
	var w worker
	return w.fetch(ctx, f, &l, nil)
}

// A worker fetches lines one at a time, with what it keeps between them.
type worker struct {
	body []byte // --body: the body read so far
}

// fetch fetches l; run, if not nil, is the Run whose end aborts the own
// client's requests, else ctx's end does.
func (w *worker) fetch(ctx context.Context, f *Fetcher, l *Line, run *runState) (rec Record) {
	rec = Record{Line: l.Number, URL: l.Text}
	if l.Err != nil {
		rec.Error, rec.Message = KindInvalid, l.Err.Error()
		return rec
	}
	if ctx.Err() != nil {
		rec.Error, rec.Message = KindCancelled, cancelMessage(ctx)
		return rec
	}
	start := time.Now()
	defer func() { rec.DurationMS = float64(time.Since(start).Microseconds()) / 1000 }()
	hostKey := strings.ToLower(l.URL.Host)
	for attempt := 1; ; attempt++ {
		if err := f.hosts.acquire(ctx, hostKey); err != nil {
			rec.Error, rec.Message = KindCancelled, cancelMessage(ctx)
			return rec
		}
		rec.Attempts = attempt
		wait, retry := w.attempt(ctx, f, l, &rec, attempt, run)
		f.hosts.release(hostKey)
		if !retry {
			return rec
		}
		if err := gather.Sleep(ctx, wait); err != nil {
			rec.Error, rec.Message = KindCancelled, cancelMessage(ctx)
			return rec
		}
	}
}

func cancelMessage(ctx context.Context) string {
	return "not fetched: " + context.Cause(ctx).Error()
}

// drainLimit is how much of an unwanted body is read so that its
// connection can be reused; a longer body costs a new connection instead.
const drainLimit = 64 << 10

// readBody reads the body whole, keeping at most MaxBody bytes of it, cut
// at a character boundary, as rec.Body.
func (w *worker) readBody(f *Fetcher, body responseBody, rec *Record) error {
	c := capture{b: w.body[:0], max: f.opts.MaxBody}
	n, err := body.read(&c)
	w.body = c.b[:0]
	rec.Bytes = n
	b := c.b
	rec.BodyTruncated = n > int64(len(b))
	if rec.BodyTruncated {
		// Do not cut a character in two: drop the incomplete tail.
		for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	s := string(b)
	rec.Body = &s
	return err
}

// capture keeps the first max bytes written to it and drops the rest.
type capture struct {
	b   []byte
	max int64
}

func (c *capture) Write(p []byte) (int, error) {
	if room := c.max - int64(len(c.b)); room > 0 {
		c.b = append(c.b, p[:min(int64(len(p)), room)]...)
	}
	return len(p), nil
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}
