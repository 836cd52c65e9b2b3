package fetcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// attempt makes one request for l, following its redirects, and fills rec
// with its outcome. It reports whether to retry, and after how long.
func (w *worker) attempt(ctx context.Context, f *Fetcher, l *Line, rec *Record, n int, run *runState) (wait time.Duration, retry bool) {
	*rec = Record{Line: rec.Line, URL: rec.URL, Attempts: rec.Attempts}
	last := n > f.opts.Retries
	var deadline time.Time
	if f.opts.Timeout > 0 {
		deadline = time.Now().Add(f.opts.Timeout)
	}
	h := f.firstHop(l)
	var resp response
	for redirects := 0; ; redirects++ {
		if err := f.roundTrip(ctx, &h, deadline, run, &resp); err != nil {
			// Once a response has come, the failure is at the end of a
			// chain of redirects: say where it broke.
			rec.Status, rec.ContentType = 0, ""
			if redirects > 0 {
				rec.FinalURL = h.printed
			}
			return f.failed(ctx, rec, err, n, last)
		}
		rec.Status, rec.FinalURL, rec.ContentType = resp.status, h.printed, resp.contentType
		if resp.location == "" || !isRedirect(resp.status) {
			break
		}
		next, err := f.nextHop(&h, resp.location)
		resp.body.release()
		switch {
		case err != nil:
			rec.Error, rec.Message = KindRedirects, err.Error()
			return 0, false
		case redirects == f.opts.MaxRedirects:
			rec.Error = KindRedirects
			rec.Message = fmt.Sprintf("more than %d redirects; next: %s", f.opts.MaxRedirects, resp.location)
			return 0, false
		}
		h = next
	}
	body := resp.body
	defer body.release()

	var tooLong string
	if retryStatus(resp.status) && !last {
		d, ok := retryAfter(resp.retryAfter, time.Now())
		switch {
		case !ok:
			d = backoff(n, f.opts.Backoff, f.opts.MaxBackoff)
			ok = true
		case d > f.opts.MaxRetryAfter:
			tooLong = fmt.Sprintf(" (not retried: Retry-After %v is over the %v limit)", d, f.opts.MaxRetryAfter)
			ok = false
		}
		if ok {
			return d, true
		}
	}

	ok := resp.status < 400
	var err error
	switch {
	case ok && f.saver != nil:
		err = f.save(l, body, rec)
	case f.opts.Body:
		err = w.readBody(f, body, rec)
	default:
		rec.Bytes, err = body.read(nil)
	}
	if err != nil {
		return f.failed(ctx, rec, err, n, last)
	}
	if !ok {
		rec.Error, rec.Message = KindStatus, statusText(resp.status)+tooLong
	}
	return 0, false
}

// save writes the body to its file under --dir. If the file cannot be
// written, the rest of the body is still read, so that the record tells
// its length.
func (f *Fetcher) save(l *Line, body responseBody, rec *Record) error {
	pf, err := f.saver.create(l.URL)
	if err == nil {
		rec.Bytes, err = body.read(pf)
		if err == nil {
			rec.File, err = pf.commit()
			return err
		}
		pf.abort()
	}
	var se *saveError
	if errors.As(err, &se) {
		n, rerr := body.read(nil)
		rec.Bytes += n
		if rerr != nil {
			return rerr
		}
	}
	return err
}

// statusText is a status for a record's message: "503 Service
// Unavailable". It gives the standard reason phrase, not the server's, so
// that both clients say the same.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

// firstHop returns the hop of l's URL.
func (f *Fetcher) firstHop(l *Line) hop {
	h := hop{url: l.URL, printed: l.urlString(), host: l.URL.Host}
	if f.host != "" {
		h.host = f.host
	}
	f.route(&h)
	return h
}

// nextHop returns the hop a redirect from h to loc leads to, as net/http's
// client would make it: a relative Location keeps a Host the user set,
// and a chain that leaves the first URL's domain stops sending the
// sensitive fields. It refuses a Location that fetch would not take as an
// input line: one that does not parse, or is not an http or https URL
// with a host (the client would fail on it too, but with an error that
// says neither that a redirect was at fault nor which Location it was).
func (f *Fetcher) nextHop(h *hop, loc string) (hop, error) {
	u, err := h.url.Parse(loc)
	switch {
	case err != nil:
	case u.Scheme != "http" && u.Scheme != "https":
		err = fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		err = errors.New("no host")
	}
	if err != nil {
		return hop{}, &redirectError{location: loc, err: err}
	}
	next := hop{url: u, printed: u.String(), host: u.Host, strip: h.strip}
	if h.host != h.url.Host {
		if rel, _ := url.Parse(loc); rel != nil && !rel.IsAbs() {
			next.host = h.host
		}
	}
	if !next.strip && u.Host != h.url.Host && !sameDomain(u.Hostname(), h.url.Hostname()) {
		next.strip = true
	}
	if !(h.url.Scheme == "https" && u.Scheme == "http") {
		ref := *h.url
		ref.User = nil
		ref.Fragment, ref.RawFragment = "", ""
		next.referer = ref.String()
	}
	f.route(&next)
	return next, nil
}

// sameDomain reports whether host is domain or one of its subdomains, as
// net/http's client decides whether a redirect keeps the sensitive fields.
func sameDomain(host, domain string) bool {
	host, domain = strings.ToLower(host), strings.ToLower(domain)
	if host == domain {
		return true
	}
	if strings.ContainsAny(host, ":%") {
		return false // an IPv6 address, not a name
	}
	return strings.HasSuffix(host, "."+domain)
}

// route picks the client for h: the own one for plain http:// to a host
// it can name as written, unless a proxy applies.
func (f *Fetcher) route(h *hop) {
	h.key = strings.ToLower(h.url.Host)
	h.own = f.own != nil && h.url.Scheme == "http" && simpleHost(h.url.Host)
	if h.own && f.proxy != nil {
		if p, err := f.proxy(&http.Request{URL: h.url}); err != nil || p != nil {
			h.own = false
		}
	}
}

// simpleHost reports whether host is ASCII letters, digits, dots,
// hyphens, a port and IPv6 brackets: what the own client sends as it is.
// Anything else (a zone, an international name) goes to net/http, which
// knows how to write it.
func simpleHost(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return host != ""
}

// roundTrip makes h with the client route chose.
func (f *Fetcher) roundTrip(ctx context.Context, h *hop, deadline time.Time, run *runState, resp *response) error {
	if h.own {
		return f.own.roundTrip(ctx, h, deadline, run, resp)
	}
	return f.net.roundTrip(ctx, h, deadline, resp)
}

// A redirectError is a redirect the Fetcher refused to follow.
type redirectError struct {
	location string // its Location, as sent
	err      error  // why it cannot be followed
}

func (e *redirectError) Error() string {
	return fmt.Sprintf("bad redirect Location %q: %v", e.location, e.err)
}

func (e *redirectError) Unwrap() error { return e.err }
