package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/internal/h1"
	"github.com/gather-dev/gather/internal/report"
)

// The event loops drive HTTP/1.1 (http://, and https:// through
// tls_linux.go) the way wrk does, in the closed and the open model (see
// loop_pace_linux.go): one loop per CPU, each owning a share of the
// connections as nonblocking sockets in its own epoll set. A request costs one write
// and, once epoll says its answer has come, one read; the loop records it
// and writes the next request on the same connection. Through Go's
// network poller (the goroutine workers) the same request costs a write, a
// read that finds nothing, a park, a wake-up from the poller and the read
// again.
//
// Each loop is one goroutine with its own recorder, so nothing is shared
// on the hot path but the atomic request counter. Sockets are registered
// edge-triggered for input and output once, so no epoll_ctl runs per
// request. A loop reads until the kernel has no more (a short read), and
// remembers an input edge that arrived while it was not reading.

// loopsSupported: the event loops use epoll, which only Linux has.
const loopsSupported = true

// errStopped ends a request that the end of the run interrupted.
var errStopped = errors.New("run stopped")

// readsBetweenChecks is how many full reads of one response (about 1 MiB)
// the loop makes between two looks at the clock and the stop flag.
const readsBetweenChecks = 16

// loopReadBuffer is each loop's read buffer: large enough to take a big
// body in few reads, shared by its connections since a loop reads one at
// a time. It must exceed the parser's line limit.
const loopReadBuffer = h1.LineLimit + 1<<10

// loopEngine runs the event loops.
type loopEngine struct {
	loops  []*eventLoop
	recs   []*report.Recorder
	stop   atomic.Bool    // ctx ended: drop what is in flight and return
	mu     sync.Mutex     // guards wake against a late wake-up after close
	wake   [2]int         // a pipe whose read end is in every loop's set
	tls    *loopTLSEngine // for https; nil for http
	failed error          // a loop's panic, as the group reported it
}

// newLoopEngine returns the event loops for p's conns connections, or nil
// if they cannot serve p: the target's address is not known without
// connecting and connecting failed, or the system refused an epoll set.
// The goroutine workers then take the run and report its failures request
// by request.
func newLoopEngine(ctx context.Context, p *Plan, conns int) engine {
	sa, family, ok := loopAddr(ctx, p)
	if !ok {
		return nil
	}
	e, err := newLoops(p, sa, family, conns, min(conns, runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil
	}
	return e
}

// newLoops returns n event loops that share conns connections to sa.
func newLoops(p *Plan, sa syscall.Sockaddr, family, conns, n int) (*loopEngine, error) {
	e := &loopEngine{wake: [2]int{-1, -1}}
	if err := syscall.Pipe2(e.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	req := p.h1Request()
	if p.URL.Scheme == "https" {
		e.tls = newLoopTLSEngine(p, sa, conns)
	}
	for i := range n {
		// Loop i holds places i, n+i, 2n+i... of the connections (see
		// loopPacer).
		l, err := newEventLoop(p, req, sa, family, e.wake[0], (conns-i+n-1)/n)
		if err == nil && e.tls != nil {
			if l.tls, err = e.tls.newLoopTLS(l.epfd); err != nil {
				l.close()
			}
		}
		if err != nil {
			e.close()
			return nil, err
		}
		l.stop, l.interrupt = &e.stop, e.interrupt
		e.loops = append(e.loops, l)
		e.recs = append(e.recs, l.rec)
	}
	return e, nil
}

// loopAddr returns the socket address of p's target. For a host name it
// dials once and takes the address that answered, so that the loops use
// the one net.Dial would have picked among the name's addresses.
func loopAddr(ctx context.Context, p *Plan) (sa syscall.Sockaddr, family int, ok bool) {
	hp := hostPort(p.URL)
	host, portStr, _ := net.SplitHostPort(hp)
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, 0, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		d := net.Dialer{KeepAlive: -1, Timeout: p.Timeout, LocalAddr: p.localAddr()}
		c, err := d.DialContext(ctx, "tcp", hp)
		if err != nil {
			return nil, 0, false
		}
		ip = c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
		c.Close()
	}
	ip = ip.Unmap()
	switch {
	case ip.Is4():
		return &syscall.SockaddrInet4{Port: port, Addr: ip.As4()}, syscall.AF_INET, true
	case ip.Is6() && ip.Zone() == "":
		return &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}, syscall.AF_INET6, true
	}
	return nil, 0, false // a zone needs its interface index: leave it to net
}

func (e *loopEngine) String() string {
	s := count(len(e.loops), "event loop") + ", own HTTP/1.1 client"
	if e.tls != nil {
		s += " over " + e.tls.client.String()
	}
	return s
}

func (e *loopEngine) problems() []string {
	var p []string
	if e.failed != nil {
		p = append(p, fmt.Sprintf("an event loop failed, which stopped the run: %v", e.failed))
	}
	for _, l := range e.loops {
		if l.err != nil {
			p = append(p, fmt.Sprintf("an event loop stopped the run early: %v", l.err))
		}
	}
	return p
}

func (e *loopEngine) recorders() []*report.Recorder { return e.recs }

func (e *loopEngine) run(ctx context.Context, r *run) []workerStats {
	stop := context.AfterFunc(ctx, e.interrupt)
	defer stop()
	g := gather.NewGroup(context.WithoutCancel(ctx)) // the loops watch e.stop
	for i, l := range e.loops {
		l.run = r
		l.pace = newLoopPacer(l, r, i, len(e.loops))
		_ = g.Go(func(context.Context) error {
			served := false
			defer func() {
				if !served { // a panic, which the group reports: stop the others
					e.interrupt()
				}
			}()
			l.serve()
			served = true
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		e.failed = err // a loop's panic, never lost
	}
	stats := make([]workerStats, len(e.loops))
	for i, l := range e.loops {
		if l.pace != nil {
			stats[i] = l.pace.stats
		}
		stats[i].cut = l.cut + l.inFlight()
	}
	return stats
}

// interrupt stops the run: every loop drops what it has in flight and
// returns, at once if it was waiting.
func (e *loopEngine) interrupt() {
	e.stop.Store(true)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.wake[1] >= 0 {
		syscall.Write(e.wake[1], []byte{0}) // the pipe stays readable: every loop wakes
	}
}

func (e *loopEngine) close() {
	if e.tls != nil {
		e.tls.stop() // no handshake goroutine may outlive the run
	}
	for _, l := range e.loops {
		l.close()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, fd := range e.wake {
		if fd >= 0 {
			syscall.Close(fd)
			e.wake[i] = -1
		}
	}
}

// eventLoop is one loop: an epoll set and the connections in it.
//
// The loop never blocks in epoll_wait. It asks for ready events without
// waiting, and when there are none it waits for its epoll set itself to
// become readable through Go's network poller, in which the set is
// registered like any socket (epoll sets nest). A goroutine blocked in
// epoll_wait would hold its thread in a system call: the runtime's sysmon
// takes its P away and hands it to another thread, and the loop pays a
// thread switch to get one back: the largest single cost in profiles of
// a loop that did. Parked in the poller, the loop is woken by a scheduler that was
// going to wait in epoll_wait anyway.
type eventLoop struct {
	run       *run
	stop      *atomic.Bool
	interrupt func() // stops the run, waking the other loops
	req       *h1Request
	sa        syscall.Sockaddr
	family    int
	epfd      int
	file      *os.File        // epfd, registered with Go's network poller
	rc        syscall.RawConn // file's
	poll      func(fd uintptr) bool
	ready     int   // events the last poll found
	perr      error // and its error
	armed     time.Time
	conns     []loopConn
	events    []syscall.EpollEvent
	buf       []byte
	rec       *report.Recorder
	active    int        // connections not retired
	pace      *loopPacer // the open model's schedule or a ramp; nil if neither
	sweep     time.Time  // no request deadline is earlier; zero if none is set
	tls       *loopTLS   // for https; nil for http
	reap      *loopReap  // the open model over http: answers left for the next wake-up; else nil
	err       error      // why the loop stopped the run, if it did
	cut       int64      // requests failed by the run's stop (see fail)
}

// inFlight returns the number of the loop's requests claimed and not
// ended: once it has returned, those the run's stop cut.
func (l *eventLoop) inFlight() int64 {
	var n int64
	for i := range l.conns {
		if s := l.conns[i].state; s != connIdle && s != connRetired {
			n++
		}
	}
	return n
}

// wakeID marks the wake pipe's events.
const wakeID = -1

func newEventLoop(p *Plan, req *h1Request, sa syscall.Sockaddr, family, wake, conns int) (*eventLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// syscall.Connect writes into its Sockaddr: each loop needs its own.
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		c := *a
		sa = &c
	case *syscall.SockaddrInet6:
		c := *a
		sa = &c
	}
	l := &eventLoop{
		req:    req,
		sa:     sa,
		family: family,
		epfd:   epfd,
		conns:  make([]loopConn, conns),
		events: make([]syscall.EpollEvent, min(conns, 256)+1),
		buf:    make([]byte, loopReadBuffer),
		rec:    report.NewRecorder(),
		active: conns,
	}
	for i := range l.conns {
		l.conns[i] = loopConn{id: int32(i), fd: -1}
		if req.bytes == nil { // the requests vary: each connection picks and renders its own
			l.conns[i].req = req.set.NewRequest()
		}
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeID}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, wake, &ev); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	polled := epfd // the set Go's poller watches
	if p.reapsAnswers() {
		if l.reap, err = newLoopReap(epfd, wake); err != nil {
			syscall.Close(epfd)
			return nil, err
		}
		polled = l.reap.epfd
	}
	if err := syscall.SetNonblock(polled, true); err != nil {
		l.closeSets()
		return nil, os.NewSyscallError("fcntl", err)
	}
	l.file = os.NewFile(uintptr(polled), "epoll") // nonblocking: os registers it with the poller
	rc, err := l.file.SyscallConn()
	if err != nil {
		l.closeSets()
		return nil, err
	}
	l.rc = rc
	l.poll = l.pollOnce // one method value for the whole run
	return l, nil
}

// pollOnce takes the ready events without waiting, and reports whether
// there were any (or an error), for RawConn.Read, which waits for the set
// to become readable when it returns false.
func (l *eventLoop) pollOnce(uintptr) bool {
	l.ready, l.perr = epollPoll(l.epfd, l.events) // the loop's own set, not the outer one (loopReap)
	if l.perr == syscall.EINTR {
		l.ready, l.perr = 0, nil
	}
	if l.ready == 0 && l.perr == nil && l.pace != nil {
		l.pace.timer.sleeping(l.pace.wake()) // only a loop about to wait arms its timer
	}
	return l.ready > 0 || l.perr != nil
}

// wait returns the number of ready events, waiting for some if none are,
// and 0 once the earliest request deadline has passed.
func (l *eventLoop) wait() (int, error) {
	deadline := l.sweep
	if l.pace != nil {
		wake := l.pace.wake()
		if n, err, done := l.pace.timer.wait(l, wake, &deadline); done {
			return n, err
		}
		if l.reap != nil {
			if err := l.reap.choose(l, wake, l.pace.spare()); err != nil {
				return 0, err
			}
		}
	}
	if !deadline.Equal(l.armed) {
		l.file.SetReadDeadline(deadline) // zero: none
		l.armed = deadline
	}
	if err := l.rc.Read(l.poll); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if l.reap != nil && !l.reap.nested {
				// The answers left in the kernel (loopReap) may have
				// come before the deadline: read them before expire
				// times their requests out.
				n, err := epollPoll(l.epfd, l.events)
				if err == syscall.EINTR {
					n, err = 0, nil
				}
				return n, err
			}
			return 0, nil
		}
		return 0, err
	}
	return l.ready, l.perr
}

// serve runs the loop until every connection is retired or the run stops.
func (l *eventLoop) serve() {
	for i := range l.conns {
		l.step(&l.conns[i])
	}
	if l.pace != nil {
		l.pace.dispatch(l)
	}
	for l.active > 0 && !l.stop.Load() {
		n, err := l.wait()
		if err != nil {
			// Not expected with a valid set: end the run rather than
			// spin, and say why in the report. The other loops may be
			// waiting for requests that hang: wake them.
			l.err = err
			l.interrupt()
			return
		}
		for _, ev := range l.events[:n] {
			if ev.Fd == wakeID {
				return
			}
			if ev.Fd == handshakeID {
				l.handshaken()
				continue
			}
			if ev.Fd == timerID {
				continue // edge-triggered: a wake-up, nothing to read
			}
			c := &l.conns[ev.Fd]
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				c.readable = true
			}
			if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				c.hup = true
			}
			if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				c.writable = true
			}
			l.step(c)
		}
		if !l.sweep.IsZero() && !time.Now().Before(l.sweep) {
			l.expire()
		}
		if l.pace != nil {
			l.pace.dispatch(l)
		}
	}
}

// expire fails the requests past their deadline and finds the next one.
func (l *eventLoop) expire() {
	now := time.Now()
	l.sweep = time.Time{}
	for i := range l.conns {
		c := &l.conns[i]
		// A handshake's goroutine has the deadline too, and fails it as a
		// TLS failure.
		if c.state == connIdle || c.state == connRetired || c.state == connHandshaking || c.deadline.IsZero() {
			continue
		}
		if !c.deadline.After(now) {
			l.fail(c, errTimeout)
			l.step(c)
		}
	}
	for i := range l.conns {
		c := &l.conns[i]
		if c.state != connIdle && c.state != connRetired && c.state != connHandshaking && !c.deadline.IsZero() &&
			(l.sweep.IsZero() || c.deadline.Before(l.sweep)) {
			l.sweep = c.deadline
		}
	}
}

// claim takes the next request of the run, if there is one, and returns
// its sequence number: one from the run's counter when there is a request
// count or the requests need it, else 0.
func (l *eventLoop) claim(now time.Time) (seq int64, ok bool) {
	p := l.run.plan
	if l.stop.Load() {
		return 0, false
	}
	if p.Requests > 0 || l.run.seq {
		seq = l.run.next.Add(1) - 1
		if p.Requests > 0 && seq >= p.Requests {
			return 0, false
		}
	}
	if p.Duration > 0 && !now.Before(l.run.t0.Add(p.Duration)) {
		return 0, false
	}
	return seq, true
}

func (l *eventLoop) close() {
	for i := range l.conns {
		l.closeConn(&l.conns[i])
	}
	if l.pace != nil {
		l.pace.timer.close()
	}
	if l.tls != nil {
		l.tls.close()
		l.tls = nil
	}
	l.closeSets()
}

// closeSets closes the loop's epoll sets, once.
func (l *eventLoop) closeSets() {
	if l.epfd < 0 {
		return
	}
	if l.file != nil {
		l.file.Close() // and with it the set it wraps
		l.file = nil
	} else if l.reap != nil {
		l.reap.close()
	} else {
		syscall.Close(l.epfd)
	}
	if l.reap != nil {
		l.reap.epfd = -1
		syscall.Close(l.epfd)
	}
	l.epfd = -1
}

// The system calls of the hot path never block: the sockets are
// nonblocking and epoll_pwait is told not to wait. So they go through
// RawSyscall and skip the runtime's bookkeeping of a call that might
// block, which wakes its sysmon thread when that sleeps: 4% of the CPU
// in profiles. The buffers are the loop's own, so there is nothing for
// the race detector to learn from the calls either.
