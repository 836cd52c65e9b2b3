package push

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// newRecordingTransport checks a sink's URL and returns the transport of
// its own connections to it.
func newRecordingTransport(rawURL string) (*recordingTransport, error) {
	u, err := url.Parse(rawURL)
	switch {
	case !strings.HasPrefix(rawURL, "http://") && !strings.HasPrefix(rawURL, "https://"):
		return nil, fmt.Errorf("bad URL %q: want http:// or https://", rawURL)
	case err != nil:
		return nil, fmt.Errorf("bad URL %q: %v", rawURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("bad URL %q: want http:// or https://", rawURL)
	case u.Host == "":
		return nil, fmt.Errorf("bad URL %q: no host", rawURL)
	}
	return &recordingTransport{next: http.DefaultTransport.(*http.Transport).Clone()}, nil
}

// recordingTransport notes the body size and the status of the last
// request it carried, for the sink's report and its choice of histograms.
// One write at a time goes through it (the outlet's goroutine).
type recordingTransport struct {
	next          *http.Transport
	bytes, status int
}

func (t *recordingTransport) reset() { t.bytes, t.status = 0, 0 }

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context()) // a RoundTripper must not change the caller's request
	req.Header.Set("User-Agent", "gather-bench")
	t.bytes = 0
	if req.Body != nil {
		req.Body = &countingBody{ReadCloser: req.Body, n: &t.bytes}
	}
	resp, err := t.next.RoundTrip(req)
	if resp != nil {
		t.status = resp.StatusCode
	}
	return resp, err
}

// countingBody counts the bytes read from a request body: what went on
// the wire, whatever the sender knew of its length.
type countingBody struct {
	io.ReadCloser
	n *int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	*b.n += n
	return n, err
}
