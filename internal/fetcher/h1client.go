package fetcher

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gather-dev/gather/internal/h1"
)

// h1Client is fetch's own HTTP/1.1 client for plain http://, the path of
// almost every URL in a crawl of http sites: keep-alive connections pooled
// per host ([pool]), the request written into the connection's buffer,
// and the response read by the same strict parser as bench's clients
// ([h1.Parser]), its fields and body seen through the parser's hooks. In
// the steady state a request costs one write, one or a few reads and no
// allocation but the strings a record keeps. What it does not do (TLS,
// HTTP/2, proxies) net/http does; see [Fetcher].
type h1Client struct {
	pool   *pool
	dialer *dialer
	// header is sent with every request, in this order: the user's -H
	// fields, User-Agent, and Accept-Encoding unless the user set one.
	header [][2]string
	// sensitive marks the fields of header that a redirect to another
	// domain does not carry, as net/http's client drops them.
	sensitive []bool
	gzip      bool // Accept-Encoding: gzip is ours to ask for, and to decode
	referer   bool // the user set a Referer: redirects keep it
	auth      bool // the user set an Authorization: a URL's user does not replace it
}

// h1Conn is one connection of the own client and the response it is
// reading. It is used by one goroutine at a time: the pool hands it out.
type h1Conn struct {
	client *h1Client
	nc     net.Conn
	key    string // the pool's key: the URL's host, lower-case
	reused bool   // it has carried a whole response already
	broken bool   // reading the response failed: it cannot carry another

	buf  []byte // read buffer: buf[r:w] is read and not yet fed
	r, w int
	p    h1.Parser
	req  []byte      // the request's bytes
	hdr  [][2]string // the request's fields, built per request

	// The fields of the response being read that fetch looks at. Byte
	// slices, reused: only a record's Content-Type becomes a string, and
	// it is the string of the last response while it repeats.
	contentType, location, retryAfter []byte
	haveType, gzipped                 bool
	lastType                          string
	sink                              io.Writer // where body bytes go; nil: counted only
	pend                              []byte    // body bytes fed, not yet read (gzip)
	toPend                            bool

	// For the pool: its lists, and the run whose requests it carries.
	prev, next *h1Conn
	run        *runState
	idleSince  time.Time
	unwatch    func() bool // stops ctx's abort of a request outside a Run
}

// stopWatching ends the watch of a request's context, if any.
func (c *h1Conn) stopWatching() {
	if c.unwatch != nil {
		c.unwatch()
		c.unwatch = nil
	}
}

// minConnBuffer is a connection's read buffer at first: -c 1000 holds a
// thousand of them, and a small response fits. It grows for a header line
// that does not fit (up to the parser's line limit), and for a body that
// fills it read after read (up to bodyConnBuffer).
const (
	minConnBuffer  = 1 << 10
	bodyConnBuffer = 64 << 10
)

// gzipReaders are reused: a gzip.Reader holds a 32 KiB window.
var gzipReaders sync.Pool

// roundTrip sends h and reads the response's head into resp, whose body
// is then read through resp.body (the connection). deadline bounds
// everything (zero: none); run, if not nil, aborts the connection when
// the run ends, else ctx does. A connection from the pool that the server
// had closed while it was idle (nothing of the response came) is replaced
// and the request sent again, once, as net/http does.
func (c *h1Client) roundTrip(ctx context.Context, h *hop, deadline time.Time, run *runState, resp *response) error {
	key := h.key
	for try := 0; ; try++ {
		conn := c.pool.get(key, run)
		if conn == nil {
			var err error
			if conn, err = c.dial(ctx, h, deadline, run); err != nil {
				return err
			}
		}
		if err := conn.nc.SetDeadline(deadline); err != nil {
			c.pool.drop(conn)
			return err
		}
		if ctx.Err() != nil { // after SetDeadline, which an abort may precede
			c.pool.drop(conn)
			return context.Cause(ctx)
		}
		if run == nil {
			// No run aborts this one: ctx does, until the response is released.
			nc := conn.nc
			conn.unwatch = context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
		}
		err := conn.exchange(h)
		if err != nil {
			stale := conn.reused && !conn.p.Started() && try == 0 && !isTimeout(err) && ctx.Err() == nil
			conn.stopWatching()
			c.pool.drop(conn)
			if stale {
				continue
			}
			return err
		}
		*resp = response{status: conn.p.Status(), contentType: conn.typeString(), body: conn}
		if len(conn.location) > 0 {
			resp.location = string(conn.location)
		}
		if len(conn.retryAfter) > 0 {
			resp.retryAfter = string(conn.retryAfter)
		}
		return nil
	}
}

func (c *h1Client) dial(ctx context.Context, h *hop, deadline time.Time, run *runState) (*h1Conn, error) {
	dctx := ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		dctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	addr := h.url.Host
	if h.url.Port() == "" {
		addr = net.JoinHostPort(h.url.Hostname(), "80")
	}
	nc, err := c.dialer.dialContext(dctx, "tcp", addr)
	if err != nil {
		c.pool.drop(nil)
		if ctx.Err() == nil && dctx.Err() != nil {
			err = errAttemptTimeout
		}
		return nil, err
	}
	conn := &h1Conn{client: c, nc: nc, key: h.key, buf: make([]byte, minConnBuffer)}
	conn.p.PauseAfterHeader = true
	conn.p.Field = conn.field
	conn.p.Body = conn.body
	if !c.pool.dialled(ctx, conn, run) {
		c.pool.drop(conn)
		return nil, context.Cause(ctx)
	}
	return conn, nil
}

// exchange writes h's request and reads the response up to its body.
func (c *h1Conn) exchange(h *hop) error {
	c.req = h1.AppendRequest(c.req[:0], &h1.Request{Method: "GET", Target: h.target(), Host: h.host, Header: c.fields(h)})
	if _, err := c.nc.Write(c.req); err != nil {
		return err
	}
	c.p.Reset()
	c.contentType, c.location, c.retryAfter = c.contentType[:0], c.location[:0], c.retryAfter[:0]
	c.haveType, c.gzipped = false, false
	c.sink, c.toPend, c.pend = nil, false, c.pend[:0]
	for !c.p.HeaderDone() {
		if err := c.fill(); err != nil {
			return err
		}
	}
	c.gzipped = c.gzipped && c.client.gzip
	return nil
}

// fields returns the request's fields: the client's, less the sensitive
// ones after a redirect to another domain, then those of this hop.
func (c *h1Conn) fields(h *hop) [][2]string {
	hdr := c.hdr[:0]
	for i, f := range c.client.header {
		if !(h.strip && c.client.sensitive[i]) {
			hdr = append(hdr, f)
		}
	}
	if h.referer != "" && !c.client.referer {
		hdr = append(hdr, [2]string{"Referer", h.referer})
	}
	if u := h.url.User; u != nil && !c.client.auth {
		pass, _ := u.Password()
		hdr = append(hdr, [2]string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass))})
	}
	c.hdr = hdr
	return hdr
}

// fill reads once from the connection and feeds the parser what it has.
func (c *h1Conn) fill() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	if c.w == len(c.buf) {
		if c.r > 0 {
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
		} else {
			// A line that does not fit yet, or a body coming fast.
			c.buf = append(c.buf, make([]byte, min(len(c.buf), h1.LineLimit))...)
		}
	}
	n, err := c.nc.Read(c.buf[c.w:])
	if n > 0 {
		full := c.w+n == len(c.buf)
		c.w += n
		if full && c.p.HeaderDone() && len(c.buf) < bodyConnBuffer {
			// A body coming faster than the buffer takes it: fewer, larger reads.
			c.buf = append(c.buf, make([]byte, len(c.buf))...)
		}
		k, err := c.p.Feed(c.buf[c.r:c.w])
		c.r += k
		return err // an error with the bytes comes again from the next Read
	}
	switch err {
	case nil:
		return io.ErrNoProgress
	case io.EOF:
		return c.p.EOF()
	}
	return err
}

// field is the parser's Field hook.
func (c *h1Conn) field(name, value []byte) {
	switch {
	case h1.EqualFold(name, "content-type"):
		if !c.haveType { // the first, as net/http's Header.Get
			c.contentType, c.haveType = append(c.contentType[:0], value...), true
		}
	case h1.EqualFold(name, "location"):
		if len(c.location) == 0 {
			c.location = append(c.location, value...)
		}
	case h1.EqualFold(name, "retry-after"):
		if len(c.retryAfter) == 0 {
			c.retryAfter = append(c.retryAfter, value...)
		}
	case h1.EqualFold(name, "content-encoding"):
		c.gzipped = h1.EqualFold(value, "gzip")
	}
}

// body is the parser's Body hook.
func (c *h1Conn) body(b []byte) error {
	if c.toPend {
		c.pend = append(c.pend, b...)
		return nil
	}
	if c.sink != nil {
		_, err := c.sink.Write(b)
		return err
	}
	return nil
}

func (c *h1Conn) typeString() string {
	if string(c.contentType) != c.lastType {
		c.lastType = string(c.contentType)
	}
	return c.lastType
}

// read copies the rest of the body, decoded, to w (nil: counted only) and
// returns its length.
func (c *h1Conn) read(w io.Writer) (int64, error) {
	if c.gzipped {
		return c.readGzip(w)
	}
	c.sink = w
	defer func() { c.sink = nil }()
	n, err := c.readIdentity()
	c.broken = c.broken || err != nil
	return n, err
}

func (c *h1Conn) readIdentity() (int64, error) {
	start := c.p.BodyBytes()
	// The bytes that came with the head first.
	if !c.p.Done() && c.r < c.w {
		k, err := c.p.Feed(c.buf[c.r:c.w])
		c.r += k
		if err != nil {
			return c.p.BodyBytes() - start, err
		}
	}
	for !c.p.Done() {
		if err := c.fill(); err != nil {
			return c.p.BodyBytes() - start, err
		}
	}
	return c.p.BodyBytes() - start, c.finish()
}

// finish checks a complete response: bytes after it are an error (no
// request asked for them).
func (c *h1Conn) finish() error {
	if c.r < c.w {
		_, err := c.p.Feed(c.buf[c.r:c.w])
		c.r = c.w
		return err
	}
	return nil
}

func (c *h1Conn) readGzip(w io.Writer) (int64, error) {
	n, err := c.gunzip(w)
	c.broken = c.broken || err != nil
	return n, err
}

func (c *h1Conn) gunzip(w io.Writer) (int64, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(compressed{c})
	} else {
		err = zr.Reset(compressed{c})
	}
	if err != nil {
		return 0, err
	}
	defer gzipReaders.Put(zr)
	if w == nil {
		w = io.Discard
	}
	n, err := io.Copy(w, zr)
	if err != nil {
		return n, err
	}
	// The gzip stream ended: the body must end with it.
	var one [1]byte
	if k, _ := (compressed{c}).Read(one[:]); k > 0 {
		return n, errors.New("gzip: bytes after the compressed body")
	}
	return n, c.finish()
}

// compressed reads the body as it came, before decoding: the gzip path.
type compressed struct{ c *h1Conn }

func (z compressed) Read(p []byte) (int, error) {
	c := z.c
	c.toPend = true
	defer func() { c.toPend = false }()
	for len(c.pend) == 0 {
		if c.p.Done() {
			return 0, io.EOF
		}
		var err error
		if c.r < c.w {
			var k int
			k, err = c.p.Feed(c.buf[c.r:c.w])
			c.r += k
		} else {
			err = c.fill()
		}
		if err != nil && len(c.pend) == 0 {
			return 0, err
		}
	}
	n := copy(p, c.pend)
	c.pend = c.pend[:copy(c.pend, c.pend[n:])]
	return n, nil
}

// release ends the response: the connection goes back to the pool if the
// response is complete and the connection may carry another, after
// reading what is left of the body if that is short (drainLimit), and is
// closed otherwise.
func (c *h1Conn) release() {
	defer c.stopWatching()
	if c.broken || !c.p.Done() && !c.drain() {
		c.client.pool.drop(c)
		return
	}
	if !c.p.KeepAlive() || c.r < c.w {
		c.client.pool.drop(c)
		return
	}
	c.reused = true
	c.client.pool.put(c)
}

// drain reads the rest of an unwanted body, up to drainLimit bytes, and
// reports whether the response is now complete.
func (c *h1Conn) drain() bool {
	c.sink, c.toPend = nil, false
	limit := c.p.BodyBytes() + drainLimit
	if c.r < c.w {
		k, err := c.p.Feed(c.buf[c.r:c.w])
		c.r += k
		if err != nil {
			return false
		}
	}
	for !c.p.Done() && c.p.BodyBytes() < limit {
		if c.fill() != nil {
			return false
		}
	}
	return c.p.Done()
}

// errAttemptTimeout is the error of an attempt whose time ran out.
var errAttemptTimeout = errors.New("attempt timed out")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
