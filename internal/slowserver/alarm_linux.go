package slowserver

import (
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// theAlarm is the process's alarm on a timerfd, made on first use; nil if
// the kernel has no timerfd, and sleep then uses runtime timers. One
// timerfd (one file descriptor) serves every handler of the process.
var theAlarm = sync.OnceValue(func() *alarm {
	const clockMonotonic = 1 // the clock of time.Now's monotonic reading
	fd, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil
	}
	// Non-blocking, so that os.NewFile puts it in the runtime's poller: a
	// read parks the goroutine, not its thread, and the timer's expiry
	// wakes the poller at once, whatever timeout its epoll_wait has.
	return &alarm{timer: &timerFD{fd: int(fd), f: os.NewFile(fd, "timerfd")}}
})

// timerFD is a preciseTimer on a Linux timerfd.
type timerFD struct {
	fd  int
	f   *os.File
	buf [8]byte // the expiry count a read returns; only run reads
}

func (t *timerFD) set(d time.Duration) {
	// struct itimerspec: no interval, then the value. Timespec's fields are
	// the C long's width, 32 bits on 386 and arm, where four int64s would
	// put zeros where the kernel reads the value and disarm the timer.
	spec := [2]syscall.Timespec{{}, syscall.NsecToTimespec(int64(d))}
	syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(t.fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
}

func (t *timerFD) wait() {
	t.f.Read(t.buf[:]) // blocks in the poller until the timer has expired
}
