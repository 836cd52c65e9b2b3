package loadgen

// How an event loop wakes for its next due request. The loop waits for
// its epoll set through Go's network poller (see eventLoop); the timer
// decides what ends the wait when no event comes first:
//
//   - TimerDeadline: a read deadline on the epoll set, that is a Go
//     runtime timer. No system call to arm it, but an idle runtime waits
//     for timers in epoll_wait, whose timeout is in milliseconds: a wait
//     of 300 µs can last 1 ms.
//   - TimerFD: a timerfd in the loop's own epoll set, armed to the
//     nanosecond (one timerfd_settime per wait); its expiry makes the set
//     readable, which wakes the poller at once.
//   - TimerPwait2: for waits under a millisecond, the loop blocks its
//     thread in epoll_pwait2, whose timeout is in nanoseconds; longer
//     waits go to the poller with a deadline. A blocked thread costs a
//     thread switch when the runtime hands its P to another.
//
// Whatever the timer, the loop wakes spin before the due time and spins
// on the clock for the rest, since waking from the kernel takes tens of
// microseconds on a loaded machine. See docs/bench.md for what each costs
// and gives.
type LoopTimer uint8

const (
	TimerDefault LoopTimer = iota // TimerFD
	TimerDeadline
	TimerFD
	TimerPwait2
)

// String returns the timer's name as --loop-timer takes it.
func (t LoopTimer) String() string {
	switch t {
	case TimerDeadline:
		return "deadline"
	case TimerFD, TimerDefault:
		return "timerfd"
	case TimerPwait2:
		return "pwait2"
	}
	return "unknown"
}

// ParseLoopTimer returns the timer named s.
func ParseLoopTimer(s string) (LoopTimer, bool) {
	for _, t := range []LoopTimer{TimerDeadline, TimerFD, TimerPwait2} {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}
