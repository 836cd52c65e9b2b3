// Command scale is gather's scale check: it starts n tasks that each sleep
// for d, gathers them with gather.All, and prints the wall time and the peak
// resident memory per task.
//
//	go run ./bench/scale -n 100000 -sleep 1s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/gather-dev/gather"
)

func main() {
	n := flag.Int("n", 100_000, "number of tasks")
	bare := flag.Bool("bare", false, "baseline: plain goroutines, a sync.WaitGroup and a cancellable sleep, instead of gather")
	sleep := flag.Duration("sleep", time.Second, "how long each task sleeps")
	flag.Parse()
	if *n <= 0 || *sleep < 0 {
		fmt.Fprintln(os.Stderr, "scale: -n must be positive and -sleep not negative")
		os.Exit(2)
	}

	runtime.GC()
	before := peakRSS()
	ctx := context.Background()
	start := time.Now()
	var (
		tasks    []*gather.Task[int]
		baseline []int
		wg       sync.WaitGroup
	)
	if *bare {
		// The same work without gather: what a goroutine, a context and a
		// timer cost by themselves.
		baseline = make([]int, *n)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for i := range baseline {
			wg.Go(func() {
				timer := time.NewTimer(*sleep)
				defer timer.Stop()
				select {
				case <-timer.C:
					baseline[i] = i
				case <-ctx.Done():
				}
			})
		}
	} else {
		tasks = make([]*gather.Task[int], *n)
		for i := range tasks {
			tasks[i] = gather.Go(ctx, func(ctx context.Context) (int, error) {
				return i, gather.Sleep(ctx, *sleep)
			})
		}
	}
	spawned := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms) // while every task sleeps
	goroutines := runtime.NumGoroutine()
	values, err := baseline, error(nil)
	if *bare {
		wg.Wait()
	} else {
		values, err = gather.All(ctx, tasks...)
	}
	wall := time.Since(start)
	if err != nil || len(values) != *n || values[*n-1] != *n-1 {
		fmt.Fprintf(os.Stderr, "scale: gather failed: %v (%d values)\n", err, len(values))
		os.Exit(1)
	}
	peak := peakRSS()
	what := "gather tasks"
	if *bare {
		what = "bare goroutines (baseline)"
	}
	fmt.Printf("%-16s %d, each sleeping %v\n", what, *n, *sleep)
	fmt.Printf("spawn time       %v (%.0f ns/task)\n", spawned.Round(time.Millisecond), float64(spawned.Nanoseconds())/float64(*n))
	fmt.Printf("wall time        %v (overhead %v over the sleep)\n", wall.Round(time.Millisecond), (wall - *sleep).Round(time.Millisecond))
	fmt.Printf("peak RSS         %.1f MiB (%.1f MiB before the tasks)\n", float64(peak)/(1<<20), float64(before)/(1<<20))
	fmt.Printf("RSS per task     %.0f bytes\n", float64(peak-before)/float64(*n))
	fmt.Printf("while sleeping   heap in use %.0f B/task, goroutine stacks %.0f B/task, %d goroutines\n",
		float64(ms.HeapInuse)/float64(*n), float64(ms.StackInuse)/float64(*n), goroutines)
}

// peakRSS returns the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // Linux reports kilobytes
}
