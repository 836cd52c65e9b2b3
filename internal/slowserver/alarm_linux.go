package slowserver

import (
	"os"
	"sync"
	"time"

	"github.com/gather-dev/gather/internal/timerfd"
)

// theAlarm is the process's alarm on a timerfd, made on first use; nil if
// the kernel has no timerfd, and sleep then uses runtime timers. One
// timerfd (one file descriptor) serves every handler of the process.
var theAlarm = sync.OnceValue(func() *alarm {
	fd, err := timerfd.Create()
	if err != nil {
		return nil
	}
	// Non-blocking, so that os.NewFile puts it in the runtime's poller: a
	// read parks the goroutine, not its thread, and the timer's expiry
	// wakes the poller at once, whatever timeout its epoll_wait has.
	return &alarm{timer: &timerFD{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}}
})

// timerFD is a preciseTimer on a Linux timerfd.
type timerFD struct {
	fd  int
	f   *os.File
	buf [8]byte // the expiry count a read returns; only run reads
}

func (t *timerFD) set(d time.Duration) { timerfd.Set(t.fd, d) }

func (t *timerFD) wait() {
	t.f.Read(t.buf[:]) // blocks in the poller until the timer has expired
}
