// Command scale is gather's scale check: it runs n tasks of one kind of
// work with one implementation and prints, on one line, the wall time and
// the process's peak resident memory. bench/scale.sh runs it for each
// implementation in turn and prints the table.
//
//	go run ./bench/scale -n 100000 -sleep 1s            # gather.Go and gather.All
//	go run ./bench/scale -n 100000 -sleep 1s -bare      # goroutines, a WaitGroup and a timer
//	go run ./bench/scale -impl pond -work cpu -n 1000000 -limit 2
//
// Implementations (-impl): gather (a task per item, gathered with All),
// map (gather.Map with -limit), bare (goroutines and a sync.WaitGroup),
// errgroup (with SetLimit -limit), pond (a result pool of -limit workers)
// and ants (a pool of -limit workers). Work (-work): sleep (each task
// sleeps -sleep, cancellably) or cpu (each spins about 2 µs). A -limit of
// 0 means no limit. With -together each task first waits until all have
// started, so that all n wait at once even on a machine so loaded that
// starting them takes longer than their sleep. Besides the wall time the
// line gives the CPU time (user and system), which the other load of a
// shared machine disturbs less.
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"golang.org/x/sync/errgroup"

	"github.com/gather-dev/gather"
)

var impls = []string{"gather", "map", "bare", "errgroup", "pond", "ants"}

func main() {
	n := flag.Int("n", 100_000, "number of tasks")
	impl := flag.String("impl", "gather", "implementation: gather, map, bare, errgroup, pond or ants")
	bare := flag.Bool("bare", false, "the same as -impl bare: plain goroutines, a sync.WaitGroup and a cancellable sleep")
	work := flag.String("work", "sleep", "what each task does: sleep (for -sleep) or cpu (about 2 µs of hashing)")
	sleep := flag.Duration("sleep", time.Second, "how long each task sleeps")
	limit := flag.Int("limit", 0, "at most this many tasks at once for map, errgroup, pond and ants (0: no limit)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to `file`")
	together := flag.Bool("together", false, "each task waits until all have started before its work, so that all n wait at once however slowly they start (needs -limit 0)")
	flag.Parse()
	if *bare {
		*impl = "bare"
	}
	switch {
	case *n <= 0 || *sleep < 0 || *limit < 0:
		fail("-n must be positive, -sleep and -limit not negative")
	case !slices.Contains(impls, *impl):
		fail(fmt.Sprintf("-impl must be one of %v, got %q", impls, *impl))
	case *work != "sleep" && *work != "cpu":
		fail(fmt.Sprintf("-work must be sleep or cpu, got %q", *work))
	case *together && (*limit != 0 || *impl == "map"):
		fail("-together needs -limit 0 and an impl that starts a task per item")
	}
	ctx := context.Background()
	var task func(ctx context.Context) int
	if *work == "sleep" {
		d := *sleep
		task = func(ctx context.Context) int {
			if gather.Sleep(ctx, d) != nil {
				return 0
			}
			return 1
		}
	} else {
		task = func(context.Context) int { return spin() }
	}
	if *together {
		// On a loaded machine starting a million goroutines can take
		// longer than their sleep, and the first ones are gone before
		// the last start: the gate keeps them all waiting at once.
		work := task
		task = func(ctx context.Context) int {
			<-gate
			return work(ctx)
		}
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err.Error())
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err.Error())
		}
		defer pprof.StopCPUProfile()
	}
	runtime.GC()
	before := peakRSS()
	cpuBefore := cpuTime()
	start := time.Now()
	done, mid := run(ctx, *impl, *n, *limit, task)
	wall := time.Since(start)
	cpu := cpuTime() - cpuBefore
	if done != *n {
		fmt.Fprintf(os.Stderr, "scale: %s finished %d of %d tasks\n", *impl, done, *n)
		os.Exit(1)
	}
	peak := peakRSS()
	what := *work
	if what == "sleep" {
		what += " " + sleep.String()
	}
	if *together {
		what += " together"
	}
	fmt.Printf("impl=%s work=%q n=%d limit=%d wall=%.3fs cpu=%.3fs spawn=%.3fs peak_rss=%.1fMiB rss_per_task=%.0fB heap_per_task=%.0fB stacks_per_task=%.0fB goroutines=%d\n",
		*impl, what, *n, *limit, wall.Seconds(), cpu.Seconds(), mid.spawned.Seconds(), float64(peak)/(1<<20),
		float64(peak-before)/float64(*n), float64(mid.heap)/float64(*n), float64(mid.stacks)/float64(*n), mid.goroutines)
}

// midway is what the memory holds once every task has been started.
type midway struct {
	start        time.Time
	spawned      time.Duration
	heap, stacks uint64
	goroutines   int
}

// gate is closed once every task has been started (see -together).
var gate = make(chan struct{})

func (m *midway) take() {
	m.spawned = time.Since(m.start)
	defer close(gate)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heap, m.stacks, m.goroutines = ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine()
}

// run runs n tasks with impl and returns how many returned 1.
func run(ctx context.Context, impl string, n, limit int, task func(context.Context) int) (int, *midway) {
	m := &midway{start: time.Now()}
	out := make([]int, n)
	switch impl {
	case "gather":
		tasks := make([]*gather.Task[int], n)
		for i := range tasks {
			tasks[i] = gather.Go(ctx, func(ctx context.Context) (int, error) { return task(ctx), nil })
		}
		m.take()
		var err error
		if out, err = gather.All(ctx, tasks...); err != nil {
			fail(err.Error())
		}
	case "map":
		items := make([]int, n)
		m.take() // Map starts them itself
		var err error
		if out, err = gather.Map(ctx, items, limit, func(ctx context.Context, _ int) (int, error) { return task(ctx), nil }); err != nil {
			fail(err.Error())
		}
	case "bare":
		// The same work without a library: what a goroutine, a context
		// and a timer cost by themselves.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { out[i] = task(ctx) })
		}
		m.take()
		wg.Wait()
	case "errgroup":
		g, gctx := errgroup.WithContext(ctx)
		if limit > 0 {
			g.SetLimit(limit)
		}
		for i := range n {
			g.Go(func() error { out[i] = task(gctx); return nil })
		}
		m.take()
		g.Wait()
	case "pond":
		p := pond.NewResultPool[int](limit)
		defer p.StopAndWait()
		g := p.NewGroup()
		for range n {
			g.Submit(func() int { return task(ctx) })
		}
		m.take()
		var err error
		if out, err = g.Wait(); err != nil {
			fail(err.Error())
		}
	case "ants":
		size := limit
		if size == 0 {
			size = -1 // no limit
		}
		p, err := ants.NewPool(size)
		if err != nil {
			fail(err.Error())
		}
		defer p.Release()
		var wg sync.WaitGroup
		wg.Add(n)
		for i := range n {
			if err := p.Submit(func() { out[i] = task(ctx); wg.Done() }); err != nil {
				fail(err.Error())
			}
		}
		m.take()
		wg.Wait()
	}
	done := 0
	for _, v := range out {
		done += v
	}
	return done, m
}

// spin is the CPU-bound task: FNV-1a over 64 bytes, 40 times (about 2 µs).
func spin() int {
	var buf [64]byte
	h := fnv.New64a()
	for i := range 40 {
		buf[0] = byte(i)
		h.Write(buf[:])
	}
	if h.Sum64() == 0 {
		return 0
	}
	return 1
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "scale:", msg)
	os.Exit(2)
}

// cpuTime returns the CPU time, user and system, the process has used: a
// cost that the other load of a shared machine disturbs less than the
// wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // Linux reports kilobytes
}
