package loadgen

// The bytes of HTTP/1.1: request building and the small parsers the
// response reader uses, none of which allocates.

import (
	"bytes"
	"strconv"
	"strings"
)

// tokenChars marks the bytes allowed in an RFC 9110 token: one load per
// byte, for a check that runs on every header of every response.
var tokenChars = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
	}
	return t
}()

// isToken reports whether b is a valid header field name (RFC 9110 token).
func isToken(b []byte) bool {
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b equals the lower-case ASCII string s,
// ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token t.
func hasToken(v []byte, t string) bool {
	for len(v) > 0 {
		item := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if equalFold(trimSpace(item), t) {
			return true
		}
	}
	return false
}

func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | int64(c)
	}
	return n, true
}

// h1Request is what every request of a run over HTTP/1.1 shares.
type h1Request struct {
	bytes     []byte // the whole request, body included
	closeEach bool   // --no-keepalive: a new connection per request
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
		if equalFold([]byte(h[0]), "idempotency-key") {
			return true
		}
	}
	return false
}

// buildRequest returns the bytes of one HTTP/1.1 request. header holds
// "Name: value" pairs in the order given; Host, User-Agent and
// Content-Length are added unless header sets them.
func buildRequest(method, target, host string, header [][2]string, body []byte, closeEach bool) []byte {
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	b.WriteString("Host: " + host + "\r\n")
	hasUA := false
	for _, h := range header {
		if equalFold([]byte(h[0]), "user-agent") {
			hasUA = true
		}
	}
	if !hasUA {
		b.WriteString("User-Agent: " + UserAgent + "\r\n")
	}
	for _, h := range header {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	if len(body) > 0 || method == "POST" || method == "PUT" || method == "PATCH" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	if closeEach {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}
