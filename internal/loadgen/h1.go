package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrProtocol is wrapped by every error the HTTP/1.1 client returns for a
// response it cannot parse: a bad status line, a bad header, a bad
// Content-Length or chunk size, a header line longer than 64 KiB, or bytes
// the server sent that no request asked for.
var ErrProtocol = errors.New("malformed HTTP response")

// The parser's errors are made once, so that a stream of malformed
// responses costs no allocation either.
var (
	errStatusLine    = fmt.Errorf("%w: bad status line", ErrProtocol)
	errHeaderLine    = fmt.Errorf("%w: bad header line", ErrProtocol)
	errLineEnding    = fmt.Errorf("%w: line not ended by CRLF", ErrProtocol)
	errTooLarge      = fmt.Errorf("%w: header line longer than 64 KiB", ErrProtocol)
	errLength        = fmt.Errorf("%w: bad Content-Length", ErrProtocol)
	errEncoding      = fmt.Errorf("%w: unsupported Transfer-Encoding", ErrProtocol)
	errChunk         = fmt.Errorf("%w: bad chunk", ErrProtocol)
	errUnsolicited   = fmt.Errorf("%w: bytes after the response", ErrProtocol)
	errUpgrade       = fmt.Errorf("%w: unexpected 101 Switching Protocols", ErrProtocol)
	errAborted       = errors.New("request aborted")
	aLongTimeAgo     = time.Unix(1, 0)
	minReadBuffer    = 1 << 10
	maxReadBuffer    = 64 << 10
	maxInterimFrames = 8
)

// h1Doer is the fast path for plain http:// HTTP/1.1: one pinned
// keep-alive connection, the request bytes built once, one fixed read
// buffer, and a strict response parser that reads and drops the body. In the
// steady state a request costs one write and one or a few reads, and no
// allocation. It counts the bytes of the response body as net/http's
// Response.Body would yield them: no status line, headers, chunk framing
// or trailers, so that both clients report the same bytes.
//
// It is used by one worker goroutine; only abort may be called from
// another goroutine.
type h1Doer struct {
	addr      string // host:port to dial
	dialer    net.Dialer
	req       []byte // the whole request, body included
	timeout   time.Duration
	closeEach bool // --no-keepalive: a new connection per request
	noBody    bool // HEAD: responses carry no body

	mu      sync.Mutex // guards conn against abort
	conn    net.Conn
	aborted atomic.Bool
	stop    func() bool // unregisters abort from the context

	reused bool   // conn has carried a whole response already
	buf    []byte // read buffer, grown for long lines; buf[r:w] is unread
	r, w   int
	got    bool  // a byte of the current response has arrived
	body   int64 // body bytes of the current response consumed so far
}

// newH1Doer returns a doer for req (a whole HTTP/1.1 request) to addr.
// Cancelling ctx aborts the request in flight, if any, and every later one.
func newH1Doer(ctx context.Context, addr string, req []byte, timeout time.Duration, closeEach, noBody bool) *h1Doer {
	d := &h1Doer{
		addr:      addr,
		dialer:    net.Dialer{KeepAlive: -1}, // see noProbes
		req:       req,
		timeout:   timeout,
		closeEach: closeEach,
		noBody:    noBody,
		buf:       make([]byte, minReadBuffer), // small: -c 10000 holds 10000
	}
	d.stop = context.AfterFunc(ctx, d.abort)
	return d
}

// abort makes the current and every later request fail at once. Do
// checks aborted after it sets its own deadline, so the deadline in the
// past set here is never overwritten by a later request's.
func (d *h1Doer) abort() {
	d.aborted.Store(true)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.SetDeadline(aLongTimeAgo)
	}
}

// Close closes the connection. The doer must not be used afterwards.
func (d *h1Doer) Close() error {
	d.stop()
	d.drop()
	return nil
}

func (d *h1Doer) drop() {
	d.mu.Lock()
	c := d.conn
	d.conn = nil
	d.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (d *h1Doer) dial(ctx context.Context, deadline time.Time) error {
	d.dialer.Deadline = deadline
	c, err := d.dialer.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return err
	}
	d.mu.Lock()
	if d.aborted.Load() {
		d.mu.Unlock()
		c.Close()
		return errAborted
	}
	d.conn = c
	d.mu.Unlock()
	d.reused = false
	return nil
}

// Do sends the request and reads the whole response. A connection that
// the server closed while it was idle (nothing of the response arrived on
// a connection that had carried one before) is replaced and the request
// sent once more, as net/http does; any other failure drops the connection
// and is returned. The timeout bounds the whole of Do: connecting, the
// retry and reading the response.
func (d *h1Doer) Do(ctx context.Context) (status int, body int64, err error) {
	var deadline time.Time
	if d.timeout > 0 {
		deadline = time.Now().Add(d.timeout)
	}
	for attempt := 0; ; attempt++ {
		if d.conn == nil {
			if err := d.dial(ctx, deadline); err != nil {
				return 0, 0, err
			}
		}
		if d.timeout > 0 {
			d.conn.SetDeadline(deadline)
			if d.aborted.Load() {
				d.drop()
				return 0, 0, errAborted
			}
		}
		d.r, d.w, d.got, d.body = 0, 0, false, 0
		var keep bool
		_, err = d.conn.Write(d.req)
		if err == nil {
			status, keep, err = d.response()
		}
		if err != nil {
			stale := d.reused && !d.got && attempt == 0 && !isTimeout(err)
			d.drop()
			if stale && ctx.Err() == nil {
				continue
			}
			return status, d.body, err
		}
		d.reused = true
		if !keep || d.closeEach {
			d.drop()
		}
		return status, d.body, nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// response reads one response, skipping interim 1xx ones, and reports
// whether the connection may carry another request. Bytes after the final
// response are an error: no request asked for them, and they would be
// taken for the start of the next response.
func (d *h1Doer) response() (status int, keep bool, err error) {
	for range maxInterimFrames {
		status, keep, err = d.head()
		if err != nil || status >= 200 {
			break
		}
		if status == 101 {
			return status, false, errUpgrade
		}
	}
	if err != nil {
		return status, false, err
	}
	if status < 200 {
		return status, false, errStatusLine
	}
	if d.r != d.w {
		return status, false, errUnsolicited
	}
	return status, keep, nil
}

// head parses a status line and header block, then consumes the body the
// headers announce.
func (d *h1Doer) head() (status int, keep bool, err error) {
	line, err := d.line()
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.x NNN[ reason]"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) ||
		(line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return 0, false, errStatusLine
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false, errStatusLine
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return 0, false, errStatusLine
	}
	keep = line[7] == '1'
	length := int64(-1)
	chunked := false
	for {
		line, err := d.line()
		if err != nil {
			return status, false, err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return status, false, errHeaderLine
		}
		name, value := line[:colon], trimSpace(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseLength(value)
			if !ok || (length >= 0 && n != length) {
				return status, false, errLength
			}
			length = n
		case equalFold(name, "transfer-encoding"):
			if !equalFold(value, "chunked") {
				return status, false, errEncoding
			}
			chunked = true
		case equalFold(name, "connection"):
			if hasToken(value, "close") {
				keep = false
			} else if hasToken(value, "keep-alive") {
				keep = true
			}
		}
	}
	switch {
	case status < 200 || status == 204 || status == 304 || d.noBody:
		return status, keep, nil
	case chunked:
		return status, keep, d.chunks()
	case length >= 0:
		if err := d.discard(length); err != nil {
			return status, false, err
		}
		return status, keep, nil
	default:
		// No length: the body runs to the end of the connection.
		for {
			d.body += int64(d.w - d.r)
			d.r, d.w = 0, 0
			if err := d.fill(); err == io.EOF {
				return status, false, nil
			} else if err != nil {
				return status, false, err
			}
		}
	}
}

func (d *h1Doer) chunks() error {
	for {
		line, err := d.line()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, ok := parseHex(trimSpace(line))
		if !ok {
			return errChunk
		}
		if size == 0 {
			break
		}
		if err := d.discard(size); err != nil {
			return err
		}
		if line, err := d.line(); err != nil {
			return err
		} else if len(line) != 0 {
			return errChunk
		}
	}
	for { // trailers
		line, err := d.line()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// line returns the next CRLF-terminated line without its CRLF. The slice
// is valid until the next call that reads.
func (d *h1Doer) line() ([]byte, error) {
	scanned := d.r
	for {
		if i := bytes.IndexByte(d.buf[scanned:d.w], '\n'); i >= 0 {
			end := scanned + i
			if end == d.r || d.buf[end-1] != '\r' {
				return nil, errLineEnding
			}
			line := d.buf[d.r : end-1]
			d.r = end + 1
			return line, nil
		}
		if d.r == 0 && d.w == len(d.buf) {
			// A line longer than the buffer: grow it once, for good.
			if len(d.buf) >= maxReadBuffer {
				return nil, errTooLarge
			}
			d.buf = append(d.buf, make([]byte, len(d.buf))...)
		}
		scanned = d.w - d.r // after fill moves the unread bytes to the front
		if err := d.fill(); err != nil {
			if err == io.EOF && d.got {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		scanned += d.r
	}
}

// discard consumes n body bytes.
func (d *h1Doer) discard(n int64) error {
	for n > 0 {
		if d.r == d.w {
			d.r, d.w = 0, 0
			if err := d.fill(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := min(int64(d.w-d.r), n)
		d.r += int(k)
		d.body += k
		n -= k
	}
	return nil
}

// fill moves the unread bytes to the front of the buffer and reads more
// after them.
func (d *h1Doer) fill() error {
	if d.r > 0 {
		d.w = copy(d.buf, d.buf[d.r:d.w])
		d.r = 0
	}
	n, err := d.conn.Read(d.buf[d.w:])
	d.w += n
	if n > 0 {
		d.got = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}
