package slowserver

import (
	"bytes"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The lean path (Config.Lean) answers the tutorial's request, GET / over
// HTTP/1.1 with no body, on a connection loop of its own, and hands every
// other request, with its connection, to net/http.
//
// Why: at --delay 20ms and -c 200, net/http spent 65 to 87 µs of CPU a
// request on the server's one core (a background read goroutine per
// request to notice a client that goes away, a context, a response and
// its header maps, sorted header writing), so 200 requests arriving
// together queued for each other and a client reached 0.92 of the
// 200 / 20 ms ceiling. The lean loop reads the request, waits, and writes
// one preformatted answer: 50 to 54 µs against net/http's 71 to 75 in
// bench/fetch.sh's run, most of it the kernel's read and write
// (docs/fetch.md has the profile and the figures).
//
// What it gives up, on the requests it serves: a client that goes away
// during the delay is noticed when the answer is written, not at once (the
// loop does not read while it waits; a write to a connection the client
// has just closed can succeed, so Stats may count such a request 200
// rather than gone). Everything else, routes, bodies, HTTP/1.0, HEAD,
// Expect, Connection and Upgrade headers, oversized or malformed heads,
// goes to net/http unchanged, with the bytes already read.

// leanConns is the lean path's connections, for Shutdown.
type leanConns struct {
	mu       sync.Mutex
	conns    map[net.Conn]bool // true while serving a request
	stopping bool
	wg       sync.WaitGroup // one per connection goroutine
}

// handoff is the listener net/http serves in lean mode: the connections
// the lean loop passes on.
type handoff struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoff) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoff) Addr() net.Addr { return l.addr }

// give passes c to net/http; false if the listener is closed.
func (l *handoff) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// replayConn is a connection handed to net/http with the bytes the lean
// loop had read and not answered: they are read first.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets net/http half-close the connection as it does a
// *net.TCPConn's, to flush an error answer before closing.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// acceptLean accepts connections for the lean loop until ln is closed.
// A failure other than the shutdown's close or a temporary one ends it
// with that error.
func (s *Server) acceptLean() error {
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.lean.mu.Lock()
			stopping := s.lean.stopping
			s.lean.mu.Unlock()
			if stopping {
				return nil
			}
			// As net/http's Server.Serve: a temporary error (out of file
			// descriptors, EMFILE or ENFILE) passes, after a back-off of
			// 5 ms doubling to 1 s, logged once per back-off; any other
			// ends the loop, where retrying it would spin.
			var ne net.Error
			//lint:ignore SA1019 Temporary is what net/http's Serve tests
			if !errors.As(err, &ne) || !ne.Temporary() {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logf("http: Accept error: %v; retrying in %v", err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.lean.add(c) {
			c.Close()
			continue
		}
		go s.serveLean(c)
	}
}

// add registers a new connection; false once shutting down.
func (l *leanConns) add(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return false
	}
	l.conns[c] = false
	l.wg.Add(1)
	return true
}

// setBusy marks c as serving a request or not. It reports false, and
// the connection must close, once shutting down.
func (l *leanConns) setBusy(c net.Conn, busy bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return false
	}
	l.conns[c] = busy
	return true
}

func (l *leanConns) remove(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.wg.Done()
}

// stop refuses new requests and closes the connections not serving one.
func (l *leanConns) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopping = true
	for c, busy := range l.conns {
		if !busy {
			c.Close()
		}
	}
}

// wait waits for every connection goroutine to end, or for ctx.
func (l *leanConns) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeAll closes every connection and waits for their goroutines, which
// end at once: their delays are cut and their reads fail.
func (l *leanConns) closeAll() {
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// serveLean is one connection's loop: read a request head, answer it if
// it is the lean path's, else hand the connection to net/http.
func (s *Server) serveLean(c net.Conn) {
	buf := make([]byte, 0, 1024)
	out := make([]byte, 0, 256)
	handedOff := false
	defer func() {
		if !handedOff {
			c.Close()
		}
		s.lean.remove(c)
	}()
	for {
		end := bytes.Index(buf, crlfcrlf)
		headerDeadline := false
		for end < 0 {
			if len(buf) > MaxHeaderBytes || hasBareLF(buf) {
				// net/http answers 431, or reads lines that end in a
				// bare LF as it reads those that end in CRLF.
				handedOff = s.handOff(c, buf)
				return
			}
			// Idle between requests, then the header timeout from the
			// request's first byte, set once: net/http's limits. Set
			// again at each read, it would let a client that sends a
			// byte every few seconds hold the connection for days.
			if len(buf) == 0 {
				c.SetReadDeadline(time.Now().Add(IdleTimeout))
			} else if !headerDeadline {
				c.SetReadDeadline(time.Now().Add(ReadHeaderTimeout))
				headerDeadline = true
			}
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := c.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				return
			}
			end = bytes.Index(buf, crlfcrlf)
		}
		if !isLean(buf[:end+2]) {
			handedOff = s.handOff(c, buf)
			return
		}
		if !s.lean.setBusy(c, true) {
			return
		}
		var ok bool
		out, ok = s.answerLean(c, out)
		if !ok || !s.lean.setBusy(c, false) {
			return
		}
		buf = buf[:copy(buf, buf[end+4:])]
	}
}

var crlfcrlf = []byte("\r\n\r\n")

// hasBareLF reports whether b has a line feed not preceded by a carriage
// return. It runs only on a request head not yet complete, most often an
// empty one.
func hasBareLF(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// handOff passes c, and what was read of it, to net/http. It reports
// whether net/http took it.
func (s *Server) handOff(c net.Conn, read []byte) bool {
	c.SetReadDeadline(time.Time{})
	return s.handoff.give(&replayConn{Conn: c, pending: bytes.Clone(read)})
}

// isLean reports whether head, a request line and its header lines each
// ending in CRLF, is one the lean path answers as net/http would: GET of
// / (any query) in HTTP/1.1 with one valid Host, no body and nothing that
// asks for more than an answer. Anything it does not recognize, a control
// byte where net/http refuses one (a bare CR or LF, a NUL) or a header
// name that is not a token among them, is net/http's to answer (400).
// It allocates nothing (TestLeanHeadAllocs).
func isLean(head []byte) bool {
	line, rest, _ := bytes.Cut(head, crlf)
	target, ok := bytes.CutPrefix(line, []byte("GET "))
	if !ok {
		return false
	}
	target, ok = bytes.CutSuffix(target, []byte(" HTTP/1.1"))
	if !ok || len(target) == 0 || target[0] != '/' || (len(target) > 1 && target[1] != '?') ||
		bytes.IndexByte(target, ' ') >= 0 || bytes.IndexByte(target, '#') >= 0 || hasCTL(target, false) {
		return false
	}
	host := false
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !httpguts.ValidHeaderFieldName(string(name)) || hasCTL(value, true) {
			return false // malformed or folded: net/http's answer
		}
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			if host || !httpguts.ValidHostHeader(string(bytes.Trim(value, " \t"))) {
				return false // net/http refuses two, or a malformed one
			}
			host = true
		case bytes.EqualFold(name, []byte("Content-Length")), bytes.EqualFold(name, []byte("Transfer-Encoding")),
			bytes.EqualFold(name, []byte("Expect")), bytes.EqualFold(name, []byte("Connection")),
			bytes.EqualFold(name, []byte("Upgrade")), bytes.EqualFold(name, []byte("Http2-Settings")):
			return false
		}
	}
	return host
}

var crlf = []byte("\r\n")

// hasCTL reports whether b has a control byte net/http refuses in a
// request target (any) or a header value (any but a tab, tabOK).
func hasCTL(b []byte, tabOK bool) bool {
	for _, c := range b {
		if (c < ' ' && !(tabOK && c == '\t')) || c == 0x7f {
			return true
		}
	}
	return false
}

// answerLean waits for the delay and the jitter, writes the answer to
// GET /, and counts it. It reports false if the connection must close:
// the delay was cut or the write failed.
func (s *Server) answerLean(c net.Conn, out []byte) ([]byte, bool) {
	h := s.handler
	h.stats.begin()
	rec := recorder{}
	jitter, fail := h.roll()
	if !h.sleep(s.base, addSat(h.cfg.Delay, jitter)) {
		h.stats.end(&rec, s.base)
		return out, false
	}
	code, body := http.StatusOK, "hello!"
	if fail {
		code, body = http.StatusInternalServerError, "injected failure\n"
	}
	out = appendText(out[:0], code, body, time.Now())
	rec.status = code
	_, err := c.Write(out)
	rec.broken = err != nil
	h.stats.end(&rec, s.base)
	return out, err == nil
}

// appendText appends the answer net/http writes for recorder.text(code,
// body): the same status line, headers in the same order, and body.
func appendText(b []byte, code int, body string, now time.Time) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// logf logs as net/http's server does: to its ErrorLog, or the standard
// logger.
func (s *Server) logf(format string, args ...any) {
	if l := s.srv.ErrorLog; l != nil {
		l.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}
