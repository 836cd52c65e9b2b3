//go:build ignore

// fetch_sleepers measures what this machine's scheduler lets a Go program
// reach of the ceiling C / DELAY with no network, server or client at
// all: C goroutines that only sleep DELAY in a loop, for DURATION.
// bench/fetch.sh runs it beside each delayed round, twice:
//
//	go run bench/fetch_sleepers.go -c 200 -delay 20ms -z 3s -timer runtime
//	go run bench/fetch_sleepers.go -c 200 -delay 20ms -z 3s -timer timerfd
//
// -timer runtime sleeps on Go's runtime timers (time.Sleep). An idle Go
// program waits for those in epoll_wait, whose timeout is in whole
// milliseconds, so each sleep ends up to 1 ms late, 0.5 on average: that
// is the best a server on runtime timers (gather serve --timer runtime)
// can give a client. -timer timerfd sleeps on a timerfd per goroutine,
// read through the runtime's poller, as gather serve's delays do by
// default: what is left is the machine's own lateness (the kernel's
// timer slack, 50 µs by default, and the wait for a core that others
// hold). No client of a server that sleeps DELAY can do better than that.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gather-dev/gather/internal/timerfd"
)

func main() {
	c := flag.Int("c", 200, "goroutines")
	delay := flag.Duration("delay", 20*time.Millisecond, "each sleep")
	run := flag.Duration("z", 3*time.Second, "how long")
	timer := flag.String("timer", "runtime", "runtime (time.Sleep) or timerfd")
	flag.Parse()
	if *timer != "runtime" && *timer != "timerfd" {
		fmt.Fprintf(os.Stderr, "fetch_sleepers: -timer must be runtime or timerfd, got %q\n", *timer)
		os.Exit(2)
	}
	var n, late atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(*run)
	for range *c {
		sleep := time.Sleep
		if *timer == "timerfd" {
			sleep = newTimerFD().sleep
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t := time.Now()
				sleep(*delay)
				now := time.Now()
				if now.After(end) {
					return // a sleep that ends past the window is not counted
				}
				n.Add(1)
				late.Add(int64(now.Sub(t) - *delay))
			}
		}()
	}
	wg.Wait()
	ceiling := float64(*c) / delay.Seconds()
	rate := float64(n.Load()) / run.Seconds()
	fmt.Printf("%d goroutines sleeping %v on %s timers for %v: %.0f wake-ups/s = %.3f of %.0f, each %v late on average\n",
		*c, *delay, *timer, *run, rate, rate/ceiling, ceiling, (time.Duration(late.Load() / max(1, n.Load()))).Round(time.Microsecond))
}

// timerFD is one goroutine's timerfd, non-blocking so that os.NewFile puts
// it in the runtime's poller.
type timerFD struct {
	fd  int
	f   *os.File
	buf [8]byte
}

func newTimerFD() *timerFD {
	fd, err := timerfd.Create()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fetch_sleepers: timerfd_create: %v\n", err)
		os.Exit(1)
	}
	return &timerFD{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}
}

func (t *timerFD) sleep(d time.Duration) {
	timerfd.Set(t.fd, d)
	t.f.Read(t.buf[:])
}
