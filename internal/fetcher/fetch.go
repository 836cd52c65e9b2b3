// Package fetcher is the engine of "gather fetch": it reads URLs one input
// line at a time, fetches them concurrently with per-host limits, retries
// and timeouts, and turns every input line into exactly one [Record],
// whatever happens to it.
//
// The stance is "nothing lost": a malformed line, a refused connection, a
// timeout or an interrupted run each give a record that says so, and the
// run goes on, so the output always has one record per input line. Memory
// is bounded by the concurrency, not by the length of the input.
package fetcher

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
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
	// beyond Concurrency.
	PerHost int
	// Rate limits the requests started per second to any one host,
	// retries included, spacing them evenly; <= 0 means no limit.
	Rate float64
	// Timeout bounds each attempt, from sending the request to reading
	// the last byte of the body; <= 0 means none.
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
	// decoding of the default transport.
	Header http.Header
	// Body puts each body in its record, as text.
	Body bool
	// MaxBody is the most bytes of a body that Body keeps; the rest is
	// read, counted in the record's Bytes, and dropped.
	MaxBody int64
	// Dir, if set, is an existing directory where the body of each
	// successful response is saved, under the name [FileName] gives.
	Dir string
	// Transport makes the requests; nil means a copy of
	// [http.DefaultTransport] (proxy from the environment, HTTP/2 over TLS
	// when the server offers it, transparent gzip) sized for Concurrency.
	Transport http.RoundTripper
}

// A Fetcher fetches URLs as its [Options] say. Its methods may be called
// from any goroutine.
type Fetcher struct {
	opts   Options
	client *http.Client
	hosts  *hosts
	saver  *saver
	host   string // from a "Host" header
	header http.Header
}

// New returns a Fetcher for opts. It fails only if opts.Dir cannot be
// opened. Call [Fetcher.Close] when done.
func New(opts Options) (*Fetcher, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	f := &Fetcher{opts: opts, hosts: newHosts(opts.PerHost, opts.Rate), header: http.Header{}}
	for k, v := range opts.Header {
		if http.CanonicalHeaderKey(k) == "Host" {
			f.host = v[len(v)-1]
			continue
		}
		f.header[k] = v
	}
	if _, ok := f.header["User-Agent"]; !ok {
		f.header.Set("User-Agent", "gather-fetch")
	}
	tr := opts.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = http.ProxyFromEnvironment
		t.ForceAttemptHTTP2 = true
		idle := opts.Concurrency
		if opts.PerHost > 0 && opts.PerHost < idle {
			idle = opts.PerHost
		}
		t.MaxIdleConnsPerHost = idle
		t.MaxIdleConns = max(opts.Concurrency, 100)
		tr = t
	}
	maxRedirects := opts.MaxRedirects
	f.client = &http.Client{
		Transport: &chainTransport{rt: tr},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return http.ErrUseLastResponse // Fetch reports it
			}
			return nil
		},
	}
	if opts.Dir != "" {
		s, err := newSaver(opts.Dir)
		if err != nil {
			return nil, err
		}
		f.saver = s
	}
	return f, nil
}

// Close releases the Fetcher's idle connections and its directory.
func (f *Fetcher) Close() error {
	f.client.CloseIdleConnections()
	return f.saver.close()
}

// reorderWindow is how many times Concurrency records [Fetcher.Run] may
// hold in InputOrder: a slow line holds back the records after it, and
// without room for them their fetch slots would sit idle until it ends.
const reorderWindow = 4

// Run fetches each line of lines, at most Options.Concurrency at once, and
// calls emit with each line's record, from the calling goroutine, in the
// order Options.Order says. It returns when every line has its record, or
// with emit's error as soon as emit fails.
//
// When ctx ends, Run goes on reading lines: the requests under way end,
// and every line not yet fetched gets a record of kind [KindCancelled] at
// once, so the output is complete. The caller decides how long the input
// lasts: a file ends soon, a pipe when its writer closes it.
//
// Run holds at most Options.Concurrency lines in CompletionOrder, and
// 4 x Options.Concurrency in InputOrder, each on its own goroutine,
// whatever the length of the input: a slow line holds back the records
// after it, but not the fetches. A record is emitted as soon as the
// records before it are, except while Run waits for the next line:
// [gather.Stream] yields nothing then, so a slow pipe delays the records
// of lines already fetched until it gives a line or ends.
func (f *Fetcher) Run(ctx context.Context, lines iter.Seq[Line], emit func(*Record) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	window := f.opts.Concurrency
	var fetching chan struct{}
	if f.opts.Order == gather.InputOrder {
		// Stream holds more lines than may be fetched at once, so fetching
		// bounds the fetches. Its slots go to the lines in input order, each
		// line taking its turn after the line before it: in whatever order
		// the calls happened to run, a later line could take a slot first
		// and make the wait for the earliest longer.
		window *= reorderWindow
		fetching = make(chan struct{}, f.opts.Concurrency)
	}
	jobs := func(yield func(job) bool) {
		turn := make(chan struct{})
		close(turn)
		for l := range lines {
			j := job{line: l}
			if fetching != nil {
				j.turn, j.next = turn, make(chan struct{})
				turn = j.next
			}
			if !yield(j) {
				return
			}
		}
	}
	// Stream stops taking input when its context ends, so it gets one that
	// does not end with ctx: each call looks at ctx itself, and answers
	// "cancelled" at once when it has ended.
	results := gather.Stream(context.WithoutCancel(ctx), jobs, window, f.opts.Order,
		func(_ context.Context, j job) (Record, error) {
			if fetching != nil && j.takeSlot(ctx, fetching) {
				defer func() { <-fetching }()
			}
			return f.Fetch(ctx, j.line), nil
		})
	for _, r := range results {
		if r.Err != nil {
			// Only a panic in Fetch gets here: a bug, not an outcome.
			cancel(r.Err)
			return r.Err
		}
		if err := emit(&r.Value); err != nil {
			cancel(err) // the calls under way must end before Stream returns
			return err
		}
	}
	return nil
}

// A job is a line for Run's calls. In InputOrder it takes a fetch slot
// when turn is closed, and closes next to hand the turn on.
type job struct {
	line       Line
	turn, next chan struct{}
}

// takeSlot waits for j's turn, takes a slot of fetching if j's line is to
// be fetched, and hands the turn on, whatever happens. It reports whether
// it took a slot; it gives up waiting when ctx ends.
func (j job) takeSlot(ctx context.Context, fetching chan struct{}) bool {
	defer close(j.next)
	select {
	case <-j.turn:
	case <-ctx.Done():
		return false
	}
	if j.line.Err != nil {
		return false
	}
	select {
	case fetching <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Fetch fetches one input line and returns its record. It never fails: an
// invalid line, a network error or an ended ctx is in the record.
func (f *Fetcher) Fetch(ctx context.Context, l Line) (rec Record) {
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
		wait, retry := f.attempt(ctx, l.URL, &rec, attempt)
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

// attempt makes one request for u and fills rec with its outcome. It
// reports whether to retry, and after how long.
func (f *Fetcher) attempt(ctx context.Context, u *url.URL, rec *Record, n int) (wait time.Duration, retry bool) {
	*rec = Record{Line: rec.Line, URL: rec.URL, Attempts: rec.Attempts}
	last := n > f.opts.Retries
	actx := ctx
	if f.opts.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, f.opts.Timeout)
		defer cancel()
	}
	var ch chain
	req, err := http.NewRequestWithContext(withChain(actx, &ch), http.MethodGet, u.String(), nil)
	if err != nil {
		rec.Error, rec.Message = KindInvalid, err.Error()
		return 0, false
	}
	req.Header = f.header.Clone()
	if f.host != "" {
		req.Host = f.host
	}
	resp, err := f.client.Do(req)
	if err != nil {
		// Once a response has come, the failure is at the end of a chain
		// of redirects: say where it broke.
		if ch.responses > 0 {
			rec.FinalURL = ch.last.String()
		}
		var re *redirectError
		if errors.As(err, &re) {
			rec.Status = re.status
		}
		return f.failed(ctx, rec, err, n, last)
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	rec.FinalURL = resp.Request.URL.String()
	rec.ContentType = resp.Header.Get("Content-Type")

	if loc := resp.Header.Get("Location"); loc != "" && isRedirect(resp.StatusCode) {
		io.CopyN(io.Discard, resp.Body, drainLimit)
		rec.Error = KindRedirects
		rec.Message = fmt.Sprintf("more than %d redirects; next: %s", f.opts.MaxRedirects, loc)
		return 0, false
	}
	var tooLong string
	if retryStatus(resp.StatusCode) && !last {
		d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		switch {
		case !ok:
			d = backoff(n, f.opts.Backoff, f.opts.MaxBackoff)
			ok = true
		case d > f.opts.MaxRetryAfter:
			tooLong = fmt.Sprintf(" (not retried: Retry-After %v is over the %v limit)", d, f.opts.MaxRetryAfter)
			ok = false
		}
		if ok {
			io.CopyN(io.Discard, resp.Body, drainLimit)
			return d, true
		}
	}

	ok := resp.StatusCode < 400
	switch {
	case ok && f.saver != nil:
		rec.File, rec.Bytes, err = f.saver.save(u, resp.Body)
	case f.opts.Body:
		err = f.readBody(resp.Body, rec)
	default:
		rec.Bytes, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return f.failed(ctx, rec, err, n, last)
	}
	if !ok {
		rec.Error, rec.Message = KindStatus, resp.Status+tooLong
	}
	return 0, false
}

// readBody reads body whole, keeping at most MaxBody bytes of it, cut at a
// character boundary, as rec.Body.
func (f *Fetcher) readBody(body io.Reader, rec *Record) error {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(body, f.opts.MaxBody))
	rec.Bytes = n
	if err == nil {
		var rest int64
		rest, err = io.Copy(io.Discard, body)
		rec.Bytes += rest
		rec.BodyTruncated = rest > 0
	}
	b := buf.Bytes()
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

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// failed fills rec from an attempt's error and says whether to retry.
func (f *Fetcher) failed(ctx context.Context, rec *Record, err error, n int, last bool) (time.Duration, bool) {
	kind, msg, retryable := f.classify(ctx, err)
	rec.Error, rec.Message = kind, msg
	if retryable && !last {
		return backoff(n, f.opts.Backoff, f.opts.MaxBackoff), true
	}
	return 0, false
}

// classify names the kind of a request's error, gives its message without
// the "Get URL:" prefix the record already says, and reports whether it is
// worth retrying.
func (f *Fetcher) classify(ctx context.Context, err error) (kind, msg string, retryable bool) {
	if ctx.Err() != nil {
		return KindCancelled, "interrupted: " + context.Cause(ctx).Error(), false
	}
	msg = err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	var (
		se      *saveError
		ne      net.Error
		dns     *net.DNSError
		rh      tls.RecordHeaderError
		cv      *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		badName x509.HostnameError
		invalid x509.CertificateInvalidError
		re      *redirectError
	)
	switch {
	case errors.As(err, &se):
		return KindSave, se.Error(), false
	case errors.As(err, &re):
		return KindRedirects, re.Error(), false
	case errors.Is(err, context.DeadlineExceeded) && f.opts.Timeout > 0:
		return KindTimeout, fmt.Sprintf("attempt took longer than %v", f.opts.Timeout), true
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout, msg, true
	case errors.As(err, &dns):
		return KindDNS, msg, !dns.IsNotFound
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused, msg, true
	case errors.As(err, &rh), errors.As(err, &cv), errors.As(err, &unknown),
		errors.As(err, &badName), errors.As(err, &invalid):
		return KindTLS, msg, false
	case errors.As(err, &ne) && ne.Timeout():
		return KindTimeout, msg, true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindConnection, "connection closed before the response was complete (" + msg + ")", true
	}
	return KindConnection, msg, true
}
