package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// A chain follows one attempt through its redirects. The client calls the
// transport from the goroutine that called Do, one request after the
// other, so the chain is read without a lock once Do has returned.
type chain struct {
	last      *url.URL // the last URL requested
	responses int      // responses received, redirects included
}

type chainKey struct{}

// withChain returns ctx carrying c, for [chainTransport] to fill.
func withChain(ctx context.Context, c *chain) context.Context {
	return context.WithValue(ctx, chainKey{}, c)
}

// A chainTransport is the transport of a Fetcher's client. It notes in the
// request's [chain] each URL requested and each response received, so that
// a failure after a redirect can say where it happened.
//
// It also refuses a redirect that fetch would not take as an input line: a
// Location that does not parse, or is not an http or https URL with a
// host. The client would fail on it too, but with an error that says
// neither that a redirect was at fault nor, for a scheme it cannot fetch,
// which Location it was; and a transport with more protocols registered
// ([http.Transport.RegisterProtocol]) would follow one to file://.
type chainTransport struct {
	rt http.RoundTripper
}

func (t *chainTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := req.Context().Value(chainKey{}).(*chain)
	if c == nil {
		return t.rt.RoundTrip(req)
	}
	c.last = req.URL
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	c.responses++
	if loc := resp.Header.Get("Location"); loc != "" && isRedirect(resp.StatusCode) {
		if err := checkLocation(req.URL, loc); err != nil {
			io.CopyN(io.Discard, resp.Body, drainLimit)
			resp.Body.Close()
			return nil, &redirectError{status: resp.StatusCode, location: loc, err: err}
		}
	}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the transport
// underneath, if it keeps any.
func (t *chainTransport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// checkLocation reports why the redirect from base to loc cannot be
// followed, or nil if it can. A relative loc resolves against base, as the
// client resolves it.
func checkLocation(base *url.URL, loc string) error {
	u, err := base.Parse(loc)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return errors.New("no host")
	}
	return nil
}

// A redirectError is a redirect [chainTransport] refused to follow.
type redirectError struct {
	status   int    // of the response that redirected
	location string // its Location, as sent
	err      error  // why it cannot be followed
}

func (e *redirectError) Error() string {
	return fmt.Sprintf("bad redirect Location %q: %v", e.location, e.err)
}

func (e *redirectError) Unwrap() error { return e.err }
