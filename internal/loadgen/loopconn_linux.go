package loadgen

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/gather-dev/gather/internal/h1"
	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/targets"
)

// connState is where a connection is in its request.
type connState uint8

const (
	connIdle        connState = iota // between requests
	connConnecting                   // waiting for connect to complete
	connHandshaking                  // a goroutine connects and shakes hands (TLS)
	connWriting                      // writing the request
	connReading                      // reading the response
	connRetired                      // no request left for it
)

// loopConn is one connection of a loop and its request in flight.
type loopConn struct {
	id       int32 // index in the loop's conns, the epoll event's data
	fd       int   // -1 when closed
	state    connState
	readable bool // an input edge has come that a read has not drained
	hup      bool // the peer has closed or reset: reads go on to EOF
	writable bool // the socket may take more bytes
	reused   bool // the connection has carried a whole response
	retried  bool // the request was sent again on a new connection
	held     bool // in its loop's pacer's idle connections (see loopPacer.hold)
	written  int  // bytes of the request written
	served   int  // responses the connection has carried
	start    time.Time
	due      time.Time // the open model's due time; zero in the closed model
	late     bool      // the request was sent more than lateSlack after due
	deadline time.Time // zero without a timeout
	dialed   time.Time // when the connection was begun
	sent     time.Time // when the request's first byte could be written
	first    time.Time // when the response's first byte came
	last     time.Time // when its last bytes came, as the kernel timed them; zero if it did not
	// freed: when the connection's last answer ended, by the kernel's
	// receive time where the loop reaps (else when the loop read it);
	// zero for a connection that carried none, or failed. The pacer
	// counts the connection free from then (see loopPacer.park).
	freed time.Time
	// firstOnly: the read that brought the response's first byte also
	// completed it, so first is the response's end too.
	firstOnly bool
	p         h1.Parser
	tc        *tls.Conn    // over ta, for https
	ta        *loopTLSConn // the socket under tc
	pending   []byte       // the start of a line that the last read cut
	// The request: its target on the wire and its bytes, rendered into
	// bufs when they vary; req picks and numbers it (nil when every
	// request is the same).
	target *h1Target
	bytes  []byte
	req    *targets.Request
	bufs   h1Buffers
}

// step moves c on until it has to wait for the kernel.
func (l *eventLoop) step(c *loopConn) {
	for {
		switch c.state {
		case connIdle:
			now := time.Now()
			if l.pace != nil && l.pace.hold(l, c, now) {
				return
			}
			seq, ok := l.claim(now)
			if !ok {
				l.retire(c)
				return
			}
			l.begin(c, now, seq, time.Time{}, false)
		case connHandshaking:
			return // until the goroutine hands the connection over
		case connConnecting:
			if !c.writable {
				return
			}
			if err := soError(c.fd); err != nil {
				l.fail(c, l.dialError(err))
				continue
			}
			l.connected(c)
		case connWriting:
			if c.writable {
				if err := l.write(c); err == nil {
					c.state = connReading
					continue
				} else if err != syscall.EAGAIN {
					l.fail(c, err)
					continue
				}
				c.writable = false
			}
			// The request waits for room in the socket. The server may
			// answer before it has read all of it (an early error, or an
			// echo that streams the body back as it reads it): read
			// meanwhile, or both ends wait for each other for ever.
			if l.receive(c) {
				return
			}
		case connReading:
			if l.receive(c) {
				return
			}
		case connRetired:
			return
		}
	}
}

// begin starts c's request number seq at now. In the open model due is
// the request's due time, from which its response time runs, and late
// says whether it was sent late; in the closed model due is zero.
func (l *eventLoop) begin(c *loopConn, now time.Time, seq int64, due time.Time, late bool) {
	c.target, c.bytes = l.req.next(c.req, &c.bufs, seq, now)
	c.p.NoBody = c.target.noBody
	c.start, c.sent, c.retried = now, now, false
	c.last = time.Time{} // set by the read that completes the response; a response ended by its close has none
	if due.After(now) {
		due = now // sent early, within the loop's slack: its wait starts at its send
	}
	c.due, c.late = due, late
	if t := l.run.plan.Timeout; t > 0 {
		c.deadline = now.Add(t)
		if l.sweep.IsZero() { // later deadlines come later: only set the first
			l.sweep = c.deadline
		}
	}
	l.send(c)
}

// receive reads what has come of c's response, and records the response
// or its failure once there is one. It reports whether c must wait for
// more to come.
func (l *eventLoop) receive(c *loopConn) (wait bool) {
	if !c.readable {
		return true
	}
	switch err := l.read(c); err {
	case syscall.EAGAIN:
		return true
	case nil:
		l.complete(c)
	default:
		l.fail(c, err)
	}
	return false
}

// send starts c's request: on its open connection, or on a new one.
func (l *eventLoop) send(c *loopConn) {
	c.p.Reset()
	c.written = 0
	if c.fd >= 0 {
		c.state, c.writable = connWriting, true
		return
	}
	if err := l.connect(c); err != nil {
		l.fail(c, err)
	}
}

// connect opens a nonblocking connection for c and leaves it connecting,
// or writing if the kernel connected it at once.
func (l *eventLoop) connect(c *loopConn) error {
	if l.tls != nil {
		return l.tlsConnect(c)
	}
	fd, err := syscall.Socket(l.family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if err := bindSource(fd, l.run.plan.SourceAddr); err != nil {
		syscall.Close(fd)
		return l.dialError(err)
	}
	// As net does: a request written in pieces is not held back.
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if l.reap != nil {
		enableStamps(fd) // the answers' receive times
	}
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | syscall.EPOLLET&0xffffffff,
		Fd:     c.id,
	}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		syscall.Close(fd)
		return os.NewSyscallError("epoll_ctl", err)
	}
	c.fd, c.readable, c.writable, c.hup, c.reused, c.served = fd, false, false, false, false, 0
	c.pending = c.pending[:0]
	c.dialed = time.Now()
	switch err := syscall.Connect(fd, l.sa); err {
	case nil:
		c.writable = true
		l.connected(c)
	case syscall.EINPROGRESS, syscall.EINTR:
		c.state = connConnecting
	default:
		return l.dialError(os.NewSyscallError("connect", err))
	}
	return nil
}

// dialError says where a connection failed, as net.Dial does ("dial tcp
// 10.0.0.5:8080: connect: connection refused"), for the report's sample
// messages; it costs an allocation on a path that already has one.
func (l *eventLoop) dialError(err error) error {
	var addr net.Addr
	switch a := l.sa.(type) {
	case *syscall.SockaddrInet4:
		addr = &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *syscall.SockaddrInet6:
		addr = &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	}
	return &net.OpError{Op: "dial", Net: "tcp", Addr: addr, Err: err}
}

// connected records c's connection, now open, and starts its request.
func (l *eventLoop) connected(c *loopConn) {
	now := time.Now()
	l.rec.RecordConn(report.ConnSample{Connect: now.Sub(c.dialed)})
	c.sent = now
	c.state = connWriting
}

// soError returns the outcome of a nonblocking connect.
func soError(fd int) error {
	v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if v != 0 {
		return os.NewSyscallError("connect", syscall.Errno(v))
	}
	return nil
}

// write writes what is left of the request; EAGAIN means the socket is full.
func (l *eventLoop) write(c *loopConn) error {
	if c.tc != nil {
		return l.tlsWrite(c)
	}
	b := c.bytes
	for c.written < len(b) {
		n, err := rawWrite(c.fd, b[c.written:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return err
		case err != nil:
			return os.NewSyscallError("write", err)
		}
		c.written += n
	}
	return nil
}

// read reads and parses what has come of the response. It returns nil
// when the response is complete, and EAGAIN when more must come first.
func (l *eventLoop) read(c *loopConn) error {
	if c.tc != nil {
		return l.tlsRead(c)
	}
	for full := 0; ; full++ {
		// A server that writes faster than the loop reads keeps every read
		// full: look up from time to time for the request's deadline and
		// the end of the run, which the loop cannot check meanwhile.
		if err := l.lookUp(c, full); err != nil {
			return err
		}
		off := copy(l.buf, c.pending)
		var n int
		var err error
		var stamp int64
		if l.reap != nil {
			n, stamp, err = rawReadStamped(c.fd, l.buf[off:], l.reap.oob[:])
		} else {
			n, err = rawRead(c.fd, l.buf[off:])
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			c.readable = false
			return err
		case err != nil:
			return os.NewSyscallError("read", err)
		case n == 0:
			c.readable, c.firstOnly = false, false
			return c.p.EOF()
		}
		// A short read took all the kernel had: the next bytes bring a
		// new edge, and the next request need not try a read first. Not
		// so for the end of the stream: a FIN that came with the last
		// bytes brings no edge of its own, so once the peer has closed,
		// reads go on until they see it.
		short := off+n < len(l.buf) && !c.hup
		if short {
			c.readable = false
		}
		first := !c.p.Started()
		var at time.Time // the kernel's receive time, with reaping
		if l.reap != nil {
			at = received(stamp, c.sent)
		}
		if first {
			c.first = at
			if at.IsZero() {
				c.first = time.Now()
			}
		}
		k, err := c.p.Feed(l.buf[:off+n])
		if err != nil {
			return err
		}
		if c.p.Done() {
			c.pending = c.pending[:0]
			c.firstOnly = first
			c.last = at
			return nil
		}
		c.pending = append(c.pending[:0], l.buf[k:off+n]...)
		if short {
			return syscall.EAGAIN
		}
	}
}

// lookUp returns why c's read must stop, if it must: every
// readsBetweenChecks reads, the end of the run or of c's deadline.
func (l *eventLoop) lookUp(c *loopConn, reads int) error {
	if reads%readsBetweenChecks != readsBetweenChecks-1 {
		return nil
	}
	if l.stop.Load() {
		return errStopped
	}
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return errTimeout
	}
	return nil
}

// response returns the response time of c's request ending at now, which
// took d since its send: from its due time in the open model.
func (c *loopConn) response(now time.Time, d time.Duration) time.Duration {
	if c.due.IsZero() {
		return d
	}
	return now.Sub(c.due)
}

// complete records c's response and makes c ready for the next request.
func (l *eventLoop) complete(c *loopConn) {
	now := c.last // the kernel's receive time, if the loop reaps
	switch {
	case !now.IsZero():
	case c.firstOnly:
		now = c.first
	default:
		now = time.Now()
	}
	if l.reap != nil {
		l.reap.answered(c.p.BodyBytes())
	}
	d := now.Sub(c.start)
	c.freed = now
	l.rec.Record(report.Sample{Response: c.response(now, d), Service: d, Status: c.p.Status(), Bytes: c.p.BodyBytes(),
		FirstByte: c.first.Sub(c.sent), Late: c.late, End: now, Target: c.target.name})
	c.reused = true
	c.served++
	// A response that came before the whole request was written leaves
	// the server in the middle of it: the connection cannot carry another
	// (as net/http does).
	if !c.p.KeepAlive() || l.req.closeEach || c.state == connWriting || c.served == l.req.perConn {
		l.closeConn(c)
	}
	c.state = connIdle
}

// fail ends c's request with err: sent once more on a new connection if
// the connection turned out stale (see h1Doer.Do), else recorded as
// failed. Either way the connection is closed.
func (l *eventLoop) fail(c *loopConn, err error) {
	c.freed = time.Time{} // free from the loop's own clock: the failure has no kernel time
	stale := c.reused && !c.p.Started() && !c.retried && c.target.replay && !errors.Is(err, os.ErrDeadlineExceeded)
	l.closeConn(c)
	if l.stop.Load() {
		c.state = connIdle // interrupted, not failed: the loop is ending
		l.cut++
		return
	}
	if stale {
		c.retried = true
		if err = l.connect(c); err == nil {
			c.p.Reset()
			c.written = 0
			return
		}
		l.closeConn(c)
	}
	now := time.Now()
	d := now.Sub(c.start)
	l.rec.Record(report.Sample{Response: c.response(now, d), Service: d, Bytes: c.p.BodyBytes(), Err: Classify(err), Error: err,
		Late: c.late, End: now, Target: c.target.name})
	c.state = connIdle
}

// closeConn closes c's connection, if open; closing takes it out of the
// epoll set.
func (l *eventLoop) closeConn(c *loopConn) {
	if c.tc != nil {
		l.closeTLS(c)
		c.fd = -1
	} else if c.fd >= 0 {
		syscall.Close(c.fd)
		c.fd = -1
	}
	c.reused = false
	c.pending = c.pending[:0]
}
