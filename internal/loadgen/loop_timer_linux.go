package loadgen

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/gather-dev/gather/internal/timerfd"
)

// defaultSlack is how early a loop may send a request, by default, where
// that lets the requests due within it share the wake-up for the first
// (see loopPacer.wake), claimed together (loopPacer.claimable): at
// 20,000 req/s, 10 requests a wake-up instead of 1. Sending early takes nothing from the 1 ms after a
// due time within which a request is on time (lateSlack); it changes the
// shape of the load by as much, so it stays small.
const defaultSlack = 500 * time.Microsecond

// defaultSpin is how long before a due time the loop wakes to spin.
const defaultSpin = 20 * time.Microsecond

// pwait2Longest is the longest wait TimerPwait2 blocks its thread for.
const pwait2Longest = time.Millisecond

// timerID marks the timerfd's events.
const timerID = -3 // wakeID is -1, handshakeID -2

// loopTimer is one loop's timer.
type loopTimer struct {
	mode  LoopTimer
	spin  time.Duration
	slack time.Duration // see Plan.LoopSlack
	auto  bool          // slack only where it lets requests share a wake-up
	fd    int           // the timerfd, or -1
	armed time.Time     // what the timerfd is armed for
}

func newLoopTimer(l *eventLoop, p *Plan) loopTimer {
	t := loopTimer{mode: p.LoopTimer, spin: p.LoopSpin, slack: p.LoopSlack, fd: -1}
	switch {
	case t.slack == 0:
		t.slack, t.auto = defaultSlack, true
	case t.slack < 0:
		t.slack = 0
	}
	if t.mode == TimerDefault {
		t.mode = TimerFD
	}
	if t.spin == 0 {
		t.spin = defaultSpin
	}
	t.spin = max(t.spin, 0)

	if t.mode == TimerFD {
		fd, err := timerfd.Create()
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLET&0xffffffff, Fd: timerID}
		if err != nil || syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev) != nil {
			if err == nil {
				syscall.Close(fd)
			}
			t.mode = TimerDeadline // a kernel without timerfd: Go's timers then
		} else {
			t.fd = fd
		}
	}
	if l.reap != nil {
		if t.fd >= 0 {
			l.reap.addTimer(t.fd)
		} else {
			l.reap.off = true // no timer to wake the loop but the answers
		}
	}
	return t
}

// wait prepares the loop's wait for a pacing wake-up at wake (zero: none):
// it moves *deadline earlier or arms the timerfd. For TimerPwait2 and a
// short wait it waits itself, and reports done with what it found.
func (t *loopTimer) wait(l *eventLoop, wake time.Time, deadline *time.Time) (n int, err error, done bool) {
	if wake.IsZero() {
		return 0, nil, false
	}
	switch t.mode {
	case TimerFD:
		return 0, nil, false // see sleeping
	case TimerPwait2:
		if d := time.Until(earliest(wake, *deadline)); d < pwait2Longest {
			n, err := epollPwait2(l.epfd, l.events, max(d, 0))
			if err == syscall.EINTR {
				err = nil
			}
			return n, err, true
		}
	}
	*deadline = earliest(*deadline, wake)
	return 0, nil, false
}

// sleeping is called when the loop is about to wait for its epoll set,
// with its pacing wake-up (zero: none). The timerfd is armed then and only
// then, not at each turn of a busy loop that never sleeps: a system call
// saved per request. A timer no longer wanted is disarmed, lest it wake
// the loop for nothing.
func (t *loopTimer) sleeping(wake time.Time) {
	if t.mode != TimerFD || wake.Equal(t.armed) {
		return
	}
	if wake.IsZero() {
		t.set(0)
	} else {
		t.set(max(time.Until(wake), 1)) // 1 ns for a time already past: 0 would disarm
	}
	t.armed = wake
}

// set sets the timerfd to expire in d, or disarms it for 0.
func (t *loopTimer) set(d time.Duration) { timerfd.Set(t.fd, d) }

func (t *loopTimer) close() {
	if t.fd >= 0 {
		syscall.Close(t.fd)
		t.fd = -1
	}
}

// earliest returns the earlier of two times, either zero meaning none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// sysEpollPwait2 is epoll_pwait2's number, the same on every architecture
// (Linux 5.11 and later).
const sysEpollPwait2 = 441

// epollPwait2 waits up to d for events of epfd, blocking the thread: a
// system call the runtime knows may block.
func epollPwait2(epfd int, events []syscall.EpollEvent, d time.Duration) (int, error) {
	ts := syscall.NsecToTimespec(int64(d))
	n, _, errno := syscall.Syscall6(sysEpollPwait2, uintptr(epfd),
		uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
	if errno != 0 {
		if errno == syscall.ENOSYS {
			return 0, os.NewSyscallError("epoll_pwait2 (Linux 5.11 or later)", errno)
		}
		return 0, errno
	}
	return int(n), nil
}
