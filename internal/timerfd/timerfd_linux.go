// Package timerfd is the Linux timer that wakes a waiter through a file
// descriptor, to within the kernel's timer slack (50 µs by default), where
// Go's runtime timers wake an idle program in whole milliseconds (its
// poller's epoll_wait timeout). The event loops wait on it in their own
// epoll set; the slow server reads it through Go's poller.
package timerfd

import (
	"syscall"
	"time"
	"unsafe"
)

const clockMonotonic = 1 // the clock of time.Now's monotonic reading

// Create returns a new non-blocking, close-on-exec timerfd on the
// monotonic clock, disarmed.
func Create() (int, error) {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// Set arms fd to expire once, d from now, or disarms it for d = 0. Being
// relative, it can only expire late, never early. It is a raw system
// call: it cannot block, and costs no scheduler hand-off.
func Set(fd int, d time.Duration) {
	// struct itimerspec: no interval, then the value. Timespec's fields are
	// the C long's width, 32 bits on 386 and arm, where four int64s would
	// put zeros where the kernel reads the value and disarm the timer.
	spec := [2]syscall.Timespec{{}, syscall.NsecToTimespec(int64(d))}
	syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
}
