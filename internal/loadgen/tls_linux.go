package loadgen

// TLS on the event loops, without a record layer of our own: crypto/tls
// keeps the handshake, the keys, tickets, key updates and alerts, and the
// loops drive its tls.Conn over a nonblocking socket.
//
// That works because of two things crypto/tls does (Go 1.26, conn.go):
// a read error from the underlying connection that is a net.Error with
// Temporary() true is not made sticky (readRecordOrCCS), and a record
// read in part stays buffered in the tls.Conn until the rest comes. So
// loopTLSConn.Read returns errWouldBlock, such an error, where the socket
// has nothing more, and the loop calls tls.Conn.Read again on the next
// input edge. A write error, on the other hand, is sticky whatever it is,
// so loopTLSConn.Write never fails: what the socket does not take now is
// kept and written when epoll says it may be.
//
// A handshake error is sticky too, so handshakes do not run on the loops:
// a goroutine dials and shakes hands through Go's network poller, then
// duplicates the socket's descriptor, closes the net.Conn (the poller lets
// go of it) and hands the connection over; from then on loopTLSConn reads
// and writes the duplicate with system calls of its own.
//
// Costs, measured: crypto/tls allocates 32 bytes for each Read that goes
// to the socket (the atLeastReader of readFromUntil), so a request over
// TLS costs one allocation where plain HTTP costs none; the handshake
// costs a goroutine, a dup and a wake-up of the loop, per connection.

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// handshakeID marks the events of a loop's handshake eventfd.
const handshakeID = -2

// loopTLSConn is the net.Conn under a loop connection's tls.Conn. During
// the handshake it is Go's own connection; after it, the loop's socket,
// read and written without blocking.
type loopTLSConn struct {
	conn   net.Conn  // during the handshake; nil after
	fd     int       // after it; -1 when closed
	lc     *loopConn // whose readable and hup flags Read keeps
	out    []byte    // written by crypto/tls, not yet taken by the socket
	werr   error     // the socket's write error, reported by flush
	local  net.Addr
	remote net.Addr
}

// Read reads what the socket has, or returns errWouldBlock. A short read
// took all the kernel had, so it clears the connection's readable flag as
// the plain loop does, and a later Read returns errWouldBlock without a
// system call until the next input edge sets it again.
func (a *loopTLSConn) Read(b []byte) (int, error) {
	if a.conn != nil {
		return a.conn.Read(b)
	}
	if !a.lc.readable {
		return 0, errWouldBlock
	}
	for {
		n, err := rawRead(a.fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			a.lc.readable = false
			return 0, errWouldBlock
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			a.lc.readable = false
			return 0, io.EOF
		}
		if n < len(b) && !a.lc.hup {
			a.lc.readable = false
		}
		return n, nil
	}
}

// Write writes b, keeping what the socket does not take for flush. It
// never fails: crypto/tls would keep the error for good. A write error is
// kept for flush to return.
func (a *loopTLSConn) Write(b []byte) (int, error) {
	if a.conn != nil {
		return a.conn.Write(b)
	}
	switch {
	case a.werr != nil:
	case len(a.out) > 0:
		a.out = append(a.out, b...)
	default:
		n, err := a.write(b)
		if err == syscall.EAGAIN {
			a.out = append(a.out[:0], b[n:]...)
		} else if err != nil {
			a.werr = err
		}
	}
	return len(b), nil
}

// write writes b until the socket is full: EAGAIN, with the bytes written.
func (a *loopTLSConn) write(b []byte) (int, error) {
	written := 0
	for written < len(b) {
		n, err := rawWrite(a.fd, b[written:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			a.lc.writable = false
			return written, err
		case err != nil:
			return written, os.NewSyscallError("write", err)
		}
		written += n
	}
	return written, nil
}

// flush writes what Write kept; EAGAIN means the socket is full again.
func (a *loopTLSConn) flush() error {
	if a.werr != nil || len(a.out) == 0 {
		return a.werr
	}
	n, err := a.write(a.out)
	a.out = a.out[:copy(a.out, a.out[n:])]
	if err != nil && err != syscall.EAGAIN {
		a.werr = err
	}
	return err
}

func (a *loopTLSConn) Close() error {
	if a.conn != nil {
		return a.conn.Close()
	}
	if a.fd >= 0 {
		syscall.Close(a.fd)
		a.fd = -1
	}
	return nil
}

func (a *loopTLSConn) LocalAddr() net.Addr  { return a.local }
func (a *loopTLSConn) RemoteAddr() net.Addr { return a.remote }

// The deadlines bound the handshake; the loop keeps its own afterwards.
func (a *loopTLSConn) SetDeadline(t time.Time) error {
	if a.conn != nil {
		return a.conn.SetDeadline(t)
	}
	return nil
}

func (a *loopTLSConn) SetReadDeadline(t time.Time) error {
	if a.conn != nil {
		return a.conn.SetReadDeadline(t)
	}
	return nil
}

func (a *loopTLSConn) SetWriteDeadline(t time.Time) error {
	if a.conn != nil {
		return a.conn.SetWriteDeadline(t)
	}
	return nil
}

// loopTLS is a loop's part in the TLS connections: the handshakes its
// goroutines run, and the eventfd by which they wake it when one is done.
type loopTLS struct {
	client *tlsClient
	addr   string   // the address the loops resolved, host:port
	local  net.Addr // Plan.SourceAddr
	ctx    context.Context
	wg     *sync.WaitGroup
	efd    int // eventfd in the loop's epoll set
	mu     sync.Mutex
	done   []handshakeDone
}

// handshakeDone is a handshake's outcome, for the loop to take over.
type handshakeDone struct {
	id    int32
	tc    *tls.Conn
	a     *loopTLSConn
	times connTimes
	err   error
}

// loopTLSEngine is what the loops of one run share for TLS.
type loopTLSEngine struct {
	client *tlsClient
	addr   string
	local  net.Addr // Plan.SourceAddr
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newLoopTLSEngine(p *Plan, sa syscall.Sockaddr, conns int) *loopTLSEngine {
	ctx, cancel := context.WithCancel(context.Background())
	return &loopTLSEngine{client: newTLSClient(p, conns, "http/1.1"), addr: sockaddrString(sa), local: p.localAddr(), ctx: ctx, cancel: cancel}
}

// stop ends the handshakes in flight and waits for their goroutines.
func (e *loopTLSEngine) stop() {
	e.cancel()
	e.wg.Wait()
}

// sockaddrString returns sa as host:port.
func sockaddrString(sa syscall.Sockaddr) string {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	case *syscall.SockaddrInet6:
		return (&net.TCPAddr{IP: a.Addr[:], Port: a.Port}).String()
	}
	return ""
}

// newLoopTLS returns a loop's part, with its eventfd added to epfd.
func (e *loopTLSEngine) newLoopTLS(epfd int) (*loopTLS, error) {
	r1, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		return nil, os.NewSyscallError("eventfd2", errno)
	}
	efd := int(r1)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: handshakeID}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, efd, &ev); err != nil {
		syscall.Close(efd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &loopTLS{client: e.client, addr: e.addr, local: e.local, ctx: e.ctx, wg: &e.wg, efd: efd}, nil
}

// tlsConnect starts c's connection: a goroutine dials and shakes hands,
// and the loop takes it over in handshaken.
func (l *eventLoop) tlsConnect(c *loopConn) error {
	c.state, c.served, c.reused = connHandshaking, 0, false
	c.pending = c.pending[:0]
	t := l.tls
	id, deadline := c.id, c.deadline
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		d := t.dial(id, deadline)
		t.mu.Lock()
		t.done = append(t.done, d)
		t.mu.Unlock()
		one := uint64(1)
		syscall.Write(t.efd, (*[8]byte)(unsafe.Pointer(&one))[:])
	}()
	return nil
}

// dial opens a connection, runs its handshake and readies it for a loop.
func (t *loopTLS) dial(id int32, deadline time.Time) handshakeDone {
	d := handshakeDone{id: id}
	dialer := net.Dialer{KeepAlive: -1, Deadline: deadline, LocalAddr: t.local} // see noProbes
	start := time.Now()
	raw, err := dialer.DialContext(t.ctx, "tcp", t.addr)
	if err != nil {
		d.err = err
		return d
	}
	d.times.connect = time.Since(start)
	// As net does for its connections, and the plain loops for theirs.
	a := &loopTLSConn{conn: raw, fd: -1, local: raw.LocalAddr(), remote: raw.RemoteAddr()}
	tc, took, err := t.client.handshake(t.ctx, a, deadline, "")
	d.times.tls, d.times.handshake = true, took
	if err != nil {
		d.err = err
		d.times.tls = false // a connection without a handshake
		return d
	}
	d.times.resumed = tc.ConnectionState().DidResume
	if d.err = a.detach(); d.err != nil {
		return d
	}
	d.tc, d.a = tc, a
	return d
}

// detach moves a from Go's connection to a duplicate of its descriptor,
// which shares the socket (nonblocking already: the flag belongs to the
// socket, not to the descriptor), and closes Go's.
func (a *loopTLSConn) detach() error {
	sc, ok := a.conn.(syscall.Conn)
	if !ok {
		a.conn.Close()
		return errors.New("loadgen: a connection without a descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		a.conn.Close()
		return err
	}
	fd, dupErr := -1, error(nil)
	err = rc.Control(func(s uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = os.NewSyscallError("fcntl", errno)
			return
		}
		fd = int(r)
	})
	a.conn.Close()
	a.conn = nil
	if err != nil || dupErr != nil {
		if fd >= 0 {
			syscall.Close(fd)
		}
		return errors.Join(err, dupErr)
	}
	a.fd = fd
	return nil
}

// handshaken takes over the connections whose handshake is done.
func (l *eventLoop) handshaken() {
	t := l.tls
	var buf [8]byte
	syscall.Read(t.efd, buf[:]) // the eventfd counts; one read resets it
	t.mu.Lock()
	done := t.done
	t.done = t.done[len(t.done):]
	t.mu.Unlock()
	for i := range done {
		d := &done[i]
		c := &l.conns[d.id]
		if d.err != nil {
			if d.times.connect > 0 {
				l.rec.RecordConn(d.times.sample())
			}
			l.fail(c, d.err)
			l.step(c)
			continue
		}
		if err := l.adopt(c, d); err != nil {
			l.fail(c, err)
		}
		l.step(c)
	}
}

// adopt makes d's connection c's, registered in the loop's epoll set.
func (l *eventLoop) adopt(c *loopConn, d *handshakeDone) error {
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | syscall.EPOLLET&0xffffffff,
		Fd:     c.id,
	}
	d.a.lc = c
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, d.a.fd, &ev); err != nil {
		d.a.Close()
		return os.NewSyscallError("epoll_ctl", err)
	}
	c.fd, c.tc, c.ta = d.a.fd, d.tc, d.a
	// The handshake may have left bytes unread in the socket: read first.
	c.readable, c.writable, c.hup = true, true, false
	l.rec.RecordConn(d.times.sample())
	c.sent = time.Now()
	c.state = connWriting
	return nil
}

// tlsWrite writes the request through c's tls.Conn, which encrypts it
// whole; EAGAIN means some of it waits for room in the socket.
func (l *eventLoop) tlsWrite(c *loopConn) error {
	if c.written == 0 {
		c.tc.Write(c.bytes) // cannot fail: see loopTLSConn.Write
		c.written = len(c.bytes)
	}
	if !c.writable {
		return syscall.EAGAIN
	}
	return c.ta.flush()
}

// tlsRead reads through c's tls.Conn what has come of the response. It
// returns nil when the response is complete and EAGAIN when more must come
// first. It calls Read until the response is complete or the socket has
// no more, so that no record it needs stays buffered in the tls.Conn
// without an input edge to come for it.
//
// Read returns one record at a time, which may be a single byte, so the
// bytes the parser has not consumed (a line cut by a record) stay where
// they are in the loop's buffer, l.buf[r:w], rather than being copied
// again for each record, and go to c.pending only when the loop moves on.
func (l *eventLoop) tlsRead(c *loopConn) error {
	r, w := 0, copy(l.buf, c.pending)
	for full := 0; ; full++ {
		if err := l.lookUp(c, full); err != nil {
			return err
		}
		if w == len(l.buf) { // r > 0: no line is as long as the buffer
			w = copy(l.buf, l.buf[r:w])
			r = 0
		}
		n, err := c.tc.Read(l.buf[w:])
		if len(c.ta.out) > 0 && c.writable {
			c.ta.flush() // what crypto/tls wrote while reading: a key update's answer
		}
		if n > 0 {
			first := !c.p.Started()
			if first {
				c.first = time.Now()
			}
			k, ferr := c.p.Feed(l.buf[r : w+n])
			if ferr != nil {
				return ferr
			}
			w += n
			r += k
			if c.p.Done() {
				c.pending = c.pending[:0]
				c.firstOnly = first
				return nil
			}
		}
		switch {
		case err == nil:
			continue
		case err == errWouldBlock:
			err = syscall.EAGAIN
		case err == io.EOF:
			c.firstOnly = false
			err = c.p.EOF()
		}
		c.pending = append(c.pending[:0], l.buf[r:w]...)
		return err
	}
}

// closeTLS closes c's TLS connection, with a close_notify alert.
func (l *eventLoop) closeTLS(c *loopConn) {
	c.tc.Close() // the alert is one nonblocking write; then the descriptor is closed
	c.tc, c.ta = nil, nil
}

// closeLoopTLS releases a loop's TLS part once its handshakes have ended,
// with the connections handed over that no loop took.
func (t *loopTLS) close() {
	t.mu.Lock()
	for _, d := range t.done {
		if d.a != nil {
			d.a.Close() // no loop has it: no close_notify either
		}
	}
	t.done = nil
	t.mu.Unlock()
	syscall.Close(t.efd)
}
