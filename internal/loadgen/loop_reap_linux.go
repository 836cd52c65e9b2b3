package loadgen

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// Reaping answers at the loop's next wake-up (the open model over http://).
//
// In the open model a loop wakes for each due time, or for each batch of
// requests due within its slack. If it also woke for each answer, as the
// closed model does, a rate at which the answers come between two due
// times would cost two wake-ups per request: 1.79 voluntary context
// switches per request at 2,500 req/s, against 0.10 in the closed model at
// its maximum, and twice its CPU per request. A wake-up (a thread woken
// from epoll_wait or a futex, Go's scheduler, the loop's own polls) costs
// more than the request's write and read together.
//
// So when the loop's next pacing wake-up is near (reapWindow) and it has a
// free connection for the request then due, it leaves the answers in the
// kernel and waits for its timer alone; at the wake-up it reads whatever
// has come, then sends. The response times stay honest:
// the sockets carry SO_TIMESTAMPNS, and an answer's end is the time the
// kernel received its last bytes (the timestamp the kernel gives with
// them), not the time the loop read them. A request does not wait for a
// connection because of it: the loop reads every ready answer before it
// sends, and reads the answers as they come whenever it has no free
// connection (and so no pacing wake-up).
//
// It takes a second epoll set: the loop's own set (sockets, timerfd, the
// wake pipe) is nested in an outer one that holds the timerfd and the wake
// pipe too, and only the outer set is registered with Go's poller. To wait
// for answers the loop nests its set in the outer one; to wait for its
// timer alone it takes it out (an epoll_ctl each time it changes, not per
// request). Registering the loop's set itself with the poller would not
// do: Go's poller wakes a thread for every event of a registered file,
// whether a goroutine waits for it or not.
//
// The loop waits for answers (its set nested) whenever leaving them would
// hold something up: a connection that waits to connect or to write (the
// kernel's EPOLLOUT), a TLS handshake, or a response too large for the
// kernel's buffers (reapLargest), whose server would wait for the loop's
// reads to go on sending it and whose service time would then include
// the loop's sleep.

// reapWindow is how far ahead the loop's next pacing wake-up may be for it
// to leave the answers that come meanwhile until then.
const reapWindow = 2 * time.Millisecond

// reapLargest is the largest response body after which a loop no longer
// leaves answers in the kernel: the server could be waiting for room in
// the socket to send the rest.
const reapLargest = 32 << 10

// loopReap is a loop's outer epoll set and the state of its nesting.
type loopReap struct {
	epfd   int           // the outer set: the timerfd, the wake pipe and, nested, the loop's set
	inner  int           // the loop's own set
	nested bool          // the loop's set is in the outer one: answers wake the loop
	off    bool          // answers always wake the loop (see loopReap.choose)
	window time.Duration // reapWindow, but in tests
	waits  int           // times the loop waited for its timer alone
	oob    [64]byte
}

// newLoopReap returns the outer set for the loop set inner, holding the
// wake pipe and inner.
func newLoopReap(inner, wake int) (*loopReap, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	r := &loopReap{epfd: epfd, inner: inner, window: reapWindow}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeID}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, wake, &ev); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	if err := r.nest(true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	return r, nil
}

// addTimer puts the loop's timerfd in the outer set, so that it wakes the
// loop when the loop's own set is out. Without it the loop never leaves
// answers in the kernel.
func (r *loopReap) addTimer(fd int) {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLET&0xffffffff, Fd: timerID}
	if syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &ev) != nil {
		r.off = true
	}
}

// nest puts the loop's set in the outer one (answers wake the loop) or
// takes it out. Nesting a set that has events ready wakes the poller at
// once: no answer that came meanwhile is missed.
func (r *loopReap) nest(on bool) error {
	op := syscall.EPOLL_CTL_DEL
	if on {
		op = syscall.EPOLL_CTL_ADD
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: innerID}
	if err := syscall.EpollCtl(r.epfd, op, r.inner, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	r.nested = on
	return nil
}

// innerID marks the loop's own set in the outer one.
const innerID = -4

// choose nests the loop's set or takes it out before the loop waits, its
// next pacing wake-up at wake (zero: none), spare saying whether it has
// more free connections than that wake-up needs.
func (r *loopReap) choose(l *eventLoop, wake time.Time, spare bool) error {
	leave := !r.off && spare && !wake.IsZero() && time.Until(wake) <= r.window && !l.waitsForKernel()
	if leave {
		r.waits++
	}
	if r.nested == !leave {
		return nil
	}
	if err := r.nest(!leave); err != nil {
		if leave { // still nested: the answers wake the loop as before
			r.off = true
			return nil
		}
		return err
	}
	return nil
}

// answered is told of each response the loop completes.
func (r *loopReap) answered(bodyBytes int64) {
	if bodyBytes > reapLargest {
		r.off = true
	}
}

// waitsForKernel reports whether one of l's connections waits for the
// kernel for something other than an answer: to connect, to write, or a
// TLS handshake.
func (l *eventLoop) waitsForKernel() bool {
	for i := range l.conns {
		switch c := &l.conns[i]; c.state {
		case connConnecting, connHandshaking:
			return true
		case connWriting:
			if !c.writable {
				return true
			}
		}
	}
	return false
}

func (r *loopReap) close() {
	if r.epfd >= 0 {
		syscall.Close(r.epfd)
		r.epfd = -1
	}
}

// enableStamps asks the kernel for the receive time of what fd reads.
// The first socket of the system to ask turns stamping on a moment later
// (the kernel does it from a work queue): an answer that comes before
// has no stamp, and is timed by the loop's clock when it reads it, late
// rather than early.
func enableStamps(fd int) {
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
}

// rawReadStamped reads like rawRead, and returns the time the kernel
// received the last bytes read (nanoseconds since the Unix epoch,
// CLOCK_REALTIME), or 0 if it gave none. oob is the control buffer.
func rawReadStamped(fd int, b []byte, oob []byte) (n int, stamp int64, err error) {
	iov := syscall.Iovec{Base: unsafe.SliceData(b)}
	iov.SetLen(len(b))
	msg := syscall.Msghdr{Iov: &iov, Iovlen: 1, Control: unsafe.SliceData(oob)}
	msg.SetControllen(len(oob))
	r, _, errno := syscall.RawSyscall(syscall.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	if errno != 0 {
		return 0, 0, errno
	}
	return int(r), stampOf(oob[:min(int(msg.Controllen), len(oob))]), nil
}

// stampOf returns the SCM_TIMESTAMPNS time in a control message buffer, 0
// if it has none. It parses in place: syscall.ParseSocketControlMessage
// allocates.
func stampOf(oob []byte) int64 {
	const hdr = syscall.SizeofCmsghdr
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		size := int(h.Len)
		if size < hdr || size > len(oob) {
			return 0
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && size >= hdr+int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[hdr]))
			return ts.Nano()
		}
		size = (size + int(unsafe.Sizeof(uintptr(0))) - 1) &^ (int(unsafe.Sizeof(uintptr(0))) - 1)
		if size >= len(oob) {
			return 0
		}
		oob = oob[size:]
	}
	return 0
}

// received converts a kernel receive time to the clock of time.Now, on
// which the loop's other times are: the wall-clock time the kernel gives
// is placed against a reading of both clocks now, and kept between sent
// (nothing of an answer comes before its request) and now. A stamp of 0
// gives now.
func received(stamp int64, sent time.Time) time.Time {
	now := time.Now()
	if stamp == 0 {
		return now
	}
	t := now.Add(time.Duration(stamp - now.UnixNano()))
	switch {
	case t.After(now):
		return now
	case t.Before(sent):
		return sent
	}
	return t
}
