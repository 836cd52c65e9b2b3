package loadgen

import (
	"syscall"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// From <sys/timex.h>: the clock is not synchronized, and the state
// adjtimex returns then.
const (
	staUnsync = 0x0040
	timeError = 5
)

// readClock asks the kernel about the wall clock (adjtimex(2) with no
// modes, which reads and needs no privilege): whether a time service
// disciplines it and the kernel's bound and estimate of its error. It
// costs one system call.
func readClock() report.Clock {
	var tx syscall.Timex
	state, err := syscall.Adjtimex(&tx)
	if err != nil {
		return report.Clock{}
	}
	return report.Clock{
		Known:        true,
		Synchronized: state != timeError && tx.Status&staUnsync == 0,
		MaxError:     time.Duration(int64(tx.Maxerror)) * time.Microsecond,
		EstError:     time.Duration(int64(tx.Esterror)) * time.Microsecond,
	}
}
