package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gather-dev/gather/internal/h1"
	"github.com/gather-dev/gather/internal/targets"
)

var (
	errAborted   = errors.New("request aborted")
	aLongTimeAgo = time.Unix(1, 0)
)

// h1Doer is the HTTP/1.1 client where the event loops do not apply (the
// open model, or a system without epoll): one pinned keep-alive
// connection, plain or over TLS, the request bytes built once, one read
// buffer, and the strict response parser, [h1.Parser]. In the steady state
// a request costs one write and one or a few reads, and no allocation of
// its own (crypto/tls makes one of 32 bytes per read that reaches the
// socket). It counts the bytes of
// the response body as net/http's Response.Body would yield them: no status
// line, headers, chunk framing or trailers, so that every client reports the
// same bytes.
//
// It is used by one worker goroutine; only abort may be called from
// another goroutine.
type h1Doer struct {
	addr    string     // host:port to dial
	tls     *tlsClient // nil: plain TCP
	dialer  net.Dialer
	req     *h1Request
	timeout time.Duration

	mu      sync.Mutex // guards conn against abort
	conn    net.Conn
	aborted atomic.Bool
	stop    func() bool // unregisters abort from the context

	bufs  h1Buffers // the request rendered, when it varies
	bytes []byte    // the request being sent

	reused bool   // conn has carried a whole response already
	served int    // responses conn has carried
	buf    []byte // read buffer
	p      h1.Parser
	times  doTimings // of the last Do
}

// newH1Doer returns a doer that sends req to addr. Cancelling ctx aborts
// the request in flight, if any, and every later one.
func newH1Doer(ctx context.Context, addr string, req *h1Request, timeout time.Duration) *h1Doer {
	d := &h1Doer{
		addr:    addr,
		dialer:  net.Dialer{KeepAlive: -1}, // see noProbes
		req:     req,
		timeout: timeout,
		buf:     make([]byte, minReadBuffer),
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
	start := time.Now()
	c, err := d.dialer.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return err
	}
	ct := d.times.opened()
	ct.connect = time.Since(start)
	if d.tls != nil {
		tc, took, err := d.tls.handshake(ctx, c, deadline, "")
		if err != nil {
			return err
		}
		ct.tls, ct.handshake, ct.resumed = true, took, tc.ConnectionState().DidResume
		c = tc
	}
	d.mu.Lock()
	if d.aborted.Load() {
		d.mu.Unlock()
		c.Close()
		return errAborted
	}
	d.conn = c
	d.mu.Unlock()
	d.reused, d.served = false, 0
	return nil
}

// timings returns what the last Do measured besides its outcome.
func (d *h1Doer) timings() *doTimings { return &d.times }

// client names the client for the report's Engine line.
func (d *h1Doer) client() string {
	if d.tls != nil {
		return "own HTTP/1.1 client over " + d.tls.String()
	}
	return "own HTTP/1.1 client"
}

// Do sends the request and reads the whole response. A connection that
// the server closed while it was idle (nothing of the response arrived on
// a connection that had carried one before) is replaced and an idempotent
// request sent once more, as net/http does; any other failure drops the
// connection and is returned. The timeout bounds the whole of Do:
// connecting, the retry and reading the response.
func (d *h1Doer) Do(ctx context.Context, r *targets.Request) (status int, body int64, err error) {
	t := &d.req.targets[r.Target.Index()]
	d.bytes = t.render(&d.bufs, r)
	d.p.NoBody = t.noBody
	var deadline time.Time
	if d.timeout > 0 {
		deadline = time.Now().Add(d.timeout)
	}
	d.times.reset()
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
		d.p.Reset()
		keepable, err := d.exchange()
		if err != nil {
			stale := d.reused && !d.p.Started() && attempt == 0 && t.replay && !isTimeout(err)
			d.drop()
			if stale && ctx.Err() == nil {
				continue
			}
			return d.p.Status(), d.p.BodyBytes(), err
		}
		d.reused = true
		d.served++
		if !d.p.KeepAlive() || d.req.closeEach || !keepable || d.served == d.req.perConn {
			d.drop()
		}
		return d.p.Status(), d.p.BodyBytes(), nil
	}
}

// concurrentWriteAbove is the request size above which the request is
// written while the response is read.
const concurrentWriteAbove = 64 << 10

// exchange writes the request and reads the response. A server may answer
// before it has read all of a large request (an early 413, an echo that
// streams the body back): written first, such a request would leave both
// ends waiting for each other. So a request larger than a socket buffer
// is written from a goroutine of its own while the response is read, one
// goroutine per such request. keepable is false when the response came
// before the request was all written: the server is in the middle of it,
// and the connection cannot carry another.
func (d *h1Doer) exchange() (keepable bool, err error) {
	d.times.sent = time.Now()
	if len(d.bytes) <= concurrentWriteAbove {
		if _, err := d.conn.Write(d.bytes); err != nil {
			return false, err
		}
		return true, d.response()
	}
	c, b := d.conn, d.bytes
	written := make(chan error, 1)
	go func() {
		_, err := c.Write(b)
		written <- err
	}()
	err = d.response()
	select {
	case werr := <-written:
		keepable = werr == nil
	default:
		c.SetWriteDeadline(aLongTimeAgo) // the writer must not outlive Do
		<-written
	}
	return keepable, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// response reads one response, skipping interim 1xx ones. The read
// buffer starts small, since -c 10000 holds 10,000 of them, and grows for
// a line that does not fit, up to the parser's limit.
func (d *h1Doer) response() error {
	d.p.Reset()
	r, w := 0, 0 // d.buf[r:w] is fed to the parser but not consumed
	for !d.p.Done() {
		if w == len(d.buf) {
			if r > 0 {
				w = copy(d.buf, d.buf[r:w])
				r = 0
			} else {
				d.buf = append(d.buf, make([]byte, len(d.buf))...)
			}
		}
		n, err := d.conn.Read(d.buf[w:])
		if n > 0 {
			if !d.p.Started() {
				d.times.firstByte = time.Since(d.times.sent)
			}
			w += n
			k, err := d.p.Feed(d.buf[r:w])
			if err != nil {
				return err
			}
			if r += k; r == w {
				r, w = 0, 0
			}
			continue // an error with the bytes comes again from the next Read
		}
		switch err {
		case nil:
			return io.ErrNoProgress
		case io.EOF:
			return d.p.EOF()
		default:
			return err
		}
	}
	return nil
}

// minReadBuffer is an h1Doer's read buffer at first: -c 10000 holds 10,000.
const minReadBuffer = 1 << 10

// ErrProtocol is wrapped by every error the HTTP/1.1 clients return for a
// response they cannot parse; it is [h1.ErrProtocol].
var ErrProtocol = h1.ErrProtocol
