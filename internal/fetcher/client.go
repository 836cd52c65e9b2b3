package fetcher

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A hop is one request of an attempt: the line's URL, then the target of
// each redirect.
type hop struct {
	url     *url.URL
	printed string // url.String()
	key     string // the own client's pool key: url.Host, lower-case
	host    string // the Host field: url.Host, or the one -H gave
	referer string // the URL that redirected here
	strip   bool   // the chain has left the first URL's domain: no sensitive fields
	own     bool   // the own client makes it; net/http otherwise
}

// target returns the request-target of h: path and query. It is a part of
// h.printed, with no allocation, for a URL without a user.
func (h *hop) target() string {
	u, p := h.url, h.printed
	n := len(u.Scheme) + len("://")
	if u.User == nil && len(p) >= n && p[:n-3] == u.Scheme && p[n-3:n] == "://" && strings.HasPrefix(p[n:], u.Host) {
		rest := p[n+len(u.Host):]
		if i := strings.IndexByte(rest, '#'); i >= 0 {
			rest = rest[:i]
		}
		if rest == "" {
			return "/"
		}
		if rest[0] == '/' {
			return rest
		}
	}
	return u.RequestURI()
}

// A response is the head of a hop's response; its body is read, or
// released unread, through body.
type response struct {
	status      int
	contentType string
	location    string
	retryAfter  string
	body        responseBody
}

// A responseBody is the body of a response, read at most once.
type responseBody interface {
	// read copies the rest of the body, decoded, to w (nil: the bytes are
	// counted only) and returns how many bytes it copied.
	read(w io.Writer) (int64, error)
	// release ends the response, read or not: its connection is kept
	// when that is cheap (the body was read, or what is left is short).
	release()
}

// netHTTP makes the hops the own client does not: https://, a proxy from
// the environment, an unusual host, or any hop when Options.Transport or
// Options.Client say so. It goes through a RoundTripper, not an
// http.Client, so that redirects are followed by the same code for both
// clients ([Fetcher.attempt]).
type netHTTP struct {
	rt     http.RoundTripper
	header http.Header // the user's fields and User-Agent
}

// sensitiveFields are the fields a redirect to another domain does not
// carry: net/http's client drops the same ones.
var sensitiveFields = []string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization", "Proxy-Authenticate"}

func (c *netHTTP) roundTrip(ctx context.Context, h *hop, deadline time.Time, resp *response) error {
	cancel := context.CancelFunc(func() {})
	if !deadline.IsZero() {
		ctx, cancel = context.WithDeadline(ctx, deadline)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.printed, nil)
	if err != nil {
		cancel()
		return err
	}
	req.Header = c.header.Clone()
	if h.strip {
		for _, k := range sensitiveFields {
			delete(req.Header, k)
		}
	}
	if h.referer != "" && req.Header.Get("Referer") == "" {
		req.Header.Set("Referer", h.referer)
	}
	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		pass, _ := u.Password()
		req.SetBasicAuth(u.Username(), pass)
	}
	req.Host = h.host
	r, err := c.rt.RoundTrip(req)
	if err != nil {
		cancel()
		return err
	}
	*resp = response{
		status:      r.StatusCode,
		contentType: r.Header.Get("Content-Type"),
		location:    r.Header.Get("Location"),
		retryAfter:  r.Header.Get("Retry-After"),
		body:        &netHTTPBody{r: r, cancel: cancel},
	}
	return nil
}

type netHTTPBody struct {
	r      *http.Response
	cancel context.CancelFunc
}

func (b *netHTTPBody) read(w io.Writer) (int64, error) {
	if w == nil {
		w = io.Discard
	}
	return io.Copy(w, b.r.Body)
}

func (b *netHTTPBody) release() {
	io.CopyN(io.Discard, b.r.Body, drainLimit)
	b.r.Body.Close()
	b.cancel()
}
