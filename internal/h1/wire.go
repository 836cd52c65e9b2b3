package h1

// The bytes of HTTP/1.1: request building and the small parsers the
// response parser uses, none of which allocates.

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

// IsToken reports whether b is a valid header field name (RFC 9110 token).
func IsToken(b []byte) bool {
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

// EqualFold reports whether b equals the lower-case ASCII string s,
// ignoring case.
func EqualFold[T string | []byte](b T, s string) bool {
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
		if EqualFold(trimSpace(item), t) {
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

// A Request is what [AppendRequest] writes. Its fields are written as
// given: checking them (a token for each name, no CR or LF in a value) is
// the caller's job, done once for a run rather than for every request.
type Request struct {
	Method string
	Target string // the request-target: "/path?query"
	Host   string
	// UserAgent is sent unless Header has a User-Agent field.
	UserAgent string
	// Header holds "Name: value" pairs, written in this order.
	Header [][2]string
	Body   []byte
	// Close asks the server to close the connection after its response.
	Close bool
}

// AppendRequest appends the bytes of r to dst and returns the extended
// slice. Content-Length is sent for a body, and for POST, PUT and PATCH
// even without one. It allocates only to grow dst.
func AppendRequest(dst []byte, r *Request) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.Target...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, r.Host...)
	dst = append(dst, "\r\n"...)
	hasUA := r.UserAgent == ""
	for _, h := range r.Header {
		if EqualFold(h[0], "user-agent") {
			hasUA = true
		}
	}
	if !hasUA {
		dst = append(dst, "User-Agent: "...)
		dst = append(dst, r.UserAgent...)
		dst = append(dst, "\r\n"...)
	}
	for _, h := range r.Header {
		dst = append(dst, h[0]...)
		dst = append(dst, ": "...)
		dst = append(dst, h[1]...)
		dst = append(dst, "\r\n"...)
	}
	if len(r.Body) > 0 || r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH" {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
		dst = append(dst, "\r\n"...)
	}
	if r.Close {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, r.Body...)
}
