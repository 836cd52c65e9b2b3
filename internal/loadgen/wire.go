package loadgen

// The request bytes of a run over HTTP/1.1, built once by [h1.AppendRequest].

import "github.com/gather-dev/gather/internal/h1"

// h1Request is what every request of a run over HTTP/1.1 shares.
type h1Request struct {
	bytes     []byte // the whole request, body included
	closeEach bool   // --no-keepalive: a new connection per request
	perConn   int    // --requests-per-conn: close after that many; 0: no limit
	noBody    bool   // HEAD: responses carry no body
	// replay allows sending the request once more on a new connection when
	// a reused one turns out to have been closed by the server while idle.
	replay bool
}

// h1Request returns the plan's request for the HTTP/1.1 clients.
func (p *Plan) h1Request() *h1Request {
	m := p.method()
	return &h1Request{
		bytes:     buildRequest(m, requestTarget(p.URL), p.host(), p.Header, p.Body, p.NoKeepAlive),
		closeEach: p.NoKeepAlive,
		perConn:   p.RequestsPerConn,
		noBody:    m == "HEAD",
		replay:    replayable(m, p.Header),
	}
}

// replayable reports whether a request may be sent twice without asking:
// an idempotent method (RFC 9110, 9.2.2), or any method with an
// Idempotency-Key header. A POST whose connection was closed under it may
// have been acted on, so it is counted as failed, not sent again.
func replayable(method string, header [][2]string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	for _, h := range header {
		if h1.EqualFold(h[0], "idempotency-key") {
			return true
		}
	}
	return false
}

// buildRequest returns the bytes of one HTTP/1.1 request. header holds
// "Name: value" pairs in the order given; Host, User-Agent and
// Content-Length are added unless header sets them.
func buildRequest(method, target, host string, header [][2]string, body []byte, closeEach bool) []byte {
	return h1.AppendRequest(nil, &h1.Request{Method: method, Target: target, Host: host,
		UserAgent: UserAgent, Header: header, Body: body, Close: closeEach})
}
