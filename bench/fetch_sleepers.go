//go:build ignore

// fetch_sleepers measures what this machine's scheduler lets a Go program
// reach of the ceiling C / DELAY with no network, server or client at
// all: C goroutines that only sleep DELAY in a loop, for DURATION. On a
// machine that others load, wake-ups come late, and no client of a
// server that sleeps DELAY can do better than this. bench/fetch.sh runs
// it beside each delayed round:
//
//	go run bench/fetch_sleepers.go -c 200 -delay 20ms -z 3s
package main

import (
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	c := flag.Int("c", 200, "goroutines")
	delay := flag.Duration("delay", 20*time.Millisecond, "each sleep")
	run := flag.Duration("z", 3*time.Second, "how long")
	flag.Parse()
	var n, late atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(*run)
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t := time.Now()
				time.Sleep(*delay)
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
	fmt.Printf("%d goroutines sleeping %v for %v: %.0f wake-ups/s = %.3f of %.0f, each %v late on average\n",
		*c, *delay, *run, rate, rate/ceiling, ceiling, (time.Duration(late.Load() / max(1, n.Load()))).Round(time.Microsecond))
}
