package gather_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"

	"github.com/gather-dev/gather"
)

// The benchmarks compare gather with the bare primitives and with
// errgroup, conc, pond and ants doing the same work, in the same run.
// Compare with benchstat, one column per implementation:
//
//	go test -run '^$' -bench . -benchmem -count 10 > new.txt
//	benchstat -col /impl new.txt
//
// The pools (pond, ants) are made once, outside the timed loop, as their
// users make them; each impl=... of one benchmark does the same work.

func trivial(ctx context.Context) (int, error) { return 1, nil }

func BenchmarkSpawnAwait(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=gather", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			if _, err := gather.Go(ctx, trivial).Await(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=goroutine+chan", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			ch := make(chan int, 1)
			go func() {
				v, _ := trivial(ctx)
				ch <- v
			}()
			<-ch
		}
	})
	b.Run("impl=waitgroup", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			var wg sync.WaitGroup
			var v int
			wg.Go(func() { v, _ = trivial(ctx) })
			wg.Wait()
			if v != 1 {
				b.Fatal(v)
			}
		}
	})
	b.Run("impl=errgroup", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			var g errgroup.Group
			var v int
			g.Go(func() error {
				var err error
				v, err = trivial(ctx)
				return err
			})
			if err := g.Wait(); err != nil || v != 1 {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=conc", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			p := pool.NewWithResults[int]().WithErrors()
			p.Go(func() (int, error) { return trivial(ctx) })
			if _, err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=pond", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		p := pond.NewResultPool[int](0)
		defer p.StopAndWait()
		for b.Loop() {
			if _, err := p.SubmitErr(func() (int, error) { return trivial(ctx) }).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=ants", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		p, _ := ants.NewPool(-1)
		defer p.Release()
		for b.Loop() {
			ch := make(chan int, 1)
			if err := p.Submit(func() {
				v, _ := trivial(ctx)
				ch <- v
			}); err != nil {
				b.Fatal(err)
			}
			<-ch
		}
	})
}

// BenchmarkOptions is spawn+await with names and the task tree: what each
// costs a task, against a plain one (impl=gather in BenchmarkSpawnAwait).
func BenchmarkOptions(b *testing.B) {
	ctx := context.Background()
	run := func(name string, tracking bool, opts ...gather.Option) {
		b.Run("opt="+name, func(b *testing.B) {
			defer gather.SetTracking(tracking)()
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				if _, err := gather.Go(ctx, trivial, opts...).Await(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("none", false)
	run("name", false, gather.Name("fetch"))
	run("tree", true)
	run("name+tree", true, gather.Name("fetch"))
}

// BenchmarkGather starts n trivial tasks and collects their results in
// order; the figure to read is ns/task and allocs/task.
func BenchmarkGather(b *testing.B) {
	ctx := context.Background()
	pondPool := pond.NewResultPool[int](0)
	defer pondPool.StopAndWait()
	antsPool, _ := ants.NewPool(-1)
	defer antsPool.Release()
	for _, n := range []int{1_000, 100_000} {
		run := func(name string, gatherN func(n int) []int) {
			b.Run(fmt.Sprintf("n=%d/impl=%s", n, name), func(b *testing.B) {
				b.ReportAllocs()
				defer cpuPerOp(b)()
				for b.Loop() {
					if got := gatherN(n); len(got) != n || got[n-1] != 1 {
						b.Fatalf("got %d results", len(got))
					}
				}
				perTask(b, n)
			})
		}
		run("gather", func(n int) []int {
			tasks := make([]*gather.Task[int], n)
			for i := range tasks {
				tasks[i] = gather.Go(ctx, trivial)
			}
			out, err := gather.All(ctx, tasks...)
			if err != nil {
				b.Fatal(err)
			}
			return out
		})
		run("gather.Group", func(n int) []int {
			out := make([]int, n)
			g := gather.NewGroup(ctx)
			for i := range n {
				g.Go(func(ctx context.Context) (err error) {
					out[i], err = trivial(ctx)
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			return out
		})
		run("waitgroup", func(n int) []int {
			out := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { out[i], _ = trivial(ctx) })
			}
			wg.Wait()
			return out
		})
		run("errgroup", func(n int) []int {
			out := make([]int, n)
			g, gctx := errgroup.WithContext(ctx)
			for i := range n {
				g.Go(func() (err error) {
					out[i], err = trivial(gctx)
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			return out
		})
		run("conc", func(n int) []int {
			p := pool.NewWithResults[int]().WithContext(ctx).WithCancelOnError()
			for range n {
				p.Go(trivial)
			}
			out, err := p.Wait()
			if err != nil {
				b.Fatal(err)
			}
			return out // conc returns them in completion order, not input order
		})
		run("pond", func(n int) []int {
			g := pondPool.NewGroupContext(ctx)
			for range n {
				g.SubmitErr(func() (int, error) { return trivial(ctx) })
			}
			out, err := g.Wait() // in submission order
			if err != nil {
				b.Fatal(err)
			}
			return out
		})
		run("ants", func(n int) []int {
			out := make([]int, n)
			var wg sync.WaitGroup
			wg.Add(n)
			for i := range n {
				if err := antsPool.Submit(func() {
					out[i], _ = trivial(ctx)
					wg.Done()
				}); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			return out
		})
	}
}

// BenchmarkPolicies runs a group of 1,000 trivial children under each
// completion policy: what a policy costs when nothing fails.
func BenchmarkPolicies(b *testing.B) {
	ctx := context.Background()
	const n = 1_000
	for _, p := range []gather.Policy{gather.FailFast(), gather.Supervise(), gather.Quorum(n)} {
		b.Run("policy="+p.String(), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				g := gather.NewGroup(ctx)
				g.SetPolicy(p)
				for range n {
					g.Go(func(ctx context.Context) error { return nil })
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			perTask(b, n)
		})
	}
}

// BenchmarkMap maps 100,000 items with at most 64 calls at once.
func BenchmarkMap(b *testing.B) {
	ctx := context.Background()
	const n, limit = 100_000, 64
	items := make([]int, n)
	double := func(ctx context.Context, i int) (int, error) { return 2 * i, nil }
	pondPool := pond.NewResultPool[int](limit)
	defer pondPool.StopAndWait()
	antsPool, _ := ants.NewPool(limit)
	defer antsPool.Release()
	run := func(name string, mapN func() []int) {
		b.Run(fmt.Sprintf("n=%d/limit=%d/impl=%s", n, limit, name), func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				if got := mapN(); len(got) != n {
					b.Fatalf("got %d results", len(got))
				}
			}
			perTask(b, n)
		})
	}
	run("gather", func() []int {
		out, err := gather.Map(ctx, items, limit, double)
		if err != nil {
			b.Fatal(err)
		}
		return out
	})
	run("gather.Stream", func() []int {
		out := make([]int, 0, n)
		for _, r := range gather.Stream(ctx, func(yield func(int) bool) {
			for _, item := range items {
				if !yield(item) {
					return
				}
			}
		}, limit, gather.InputOrder, double) {
			out = append(out, r.Value)
		}
		return out
	})
	run("errgroup", func() []int {
		out := make([]int, n)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(limit)
		for i, item := range items {
			g.Go(func() (err error) {
				out[i], err = double(gctx, item)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		return out
	})
	run("conc", func() []int {
		p := pool.NewWithResults[int]().WithContext(ctx).WithCancelOnError().WithMaxGoroutines(limit)
		for _, item := range items {
			p.Go(func(ctx context.Context) (int, error) { return double(ctx, item) })
		}
		out, err := p.Wait()
		if err != nil {
			b.Fatal(err)
		}
		return out
	})
	run("pond", func() []int {
		g := pondPool.NewGroupContext(ctx)
		for _, item := range items {
			g.SubmitErr(func() (int, error) { return double(ctx, item) })
		}
		out, err := g.Wait()
		if err != nil {
			b.Fatal(err)
		}
		return out
	})
	run("ants", func() []int {
		out := make([]int, n)
		var wg sync.WaitGroup
		wg.Add(n)
		for i, item := range items {
			if err := antsPool.Submit(func() {
				out[i], _ = double(ctx, item)
				wg.Done()
			}); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
		return out
	})
}

// BenchmarkWorkload runs the two workloads that pond's and ants' own
// benchmarks use, at their size: a million tasks that each sleep 10 ms,
// and a million CPU-bound tasks (spin, about 2 µs each). Each op is one
// whole workload; peak-MB is the most memory the heap and the goroutine
// stacks held during it, sampled every millisecond. The pools get the
// sizes their users give them: 50,000 workers for the sleeps (as in ants'
// README), GOMAXPROCS for the CPU-bound work; gather.Map gets the same
// limits, gather.Go one task per item.
//
// They take a few seconds an op: run them alone with -bench Workload.
func BenchmarkWorkload(b *testing.B) {
	if testing.Short() {
		b.Skip("a million tasks an op")
	}
	const n = 1_000_000
	workloads := []struct {
		name  string
		limit int
		work  func() int
	}{
		{"sleep10ms", 50_000, func() int { time.Sleep(10 * time.Millisecond); return 1 }},
		{"cpu", runtime.GOMAXPROCS(0), spin},
	}
	ctx := context.Background()
	items := make([]int, n)
	for _, w := range workloads {
		run := func(name string, runN func() int) {
			b.Run(fmt.Sprintf("work=%s/impl=%s", w.name, name), func(b *testing.B) {
				b.ReportAllocs()
				defer cpuPerOp(b)()
				var peak int64
				for b.Loop() {
					stop := samplePeak(&peak)
					got := runN()
					stop()
					if got != n {
						b.Fatalf("%d of %d tasks done", got, n)
					}
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
				perTask(b, n)
			})
		}
		run("goroutines", func() int {
			var wg sync.WaitGroup
			out := make([]int, n)
			for i := range n {
				wg.Go(func() { out[i] = w.work() })
			}
			wg.Wait()
			return sum(out)
		})
		run("gather", func() int {
			tasks := make([]*gather.Task[int], n)
			for i := range tasks {
				tasks[i] = gather.Go(ctx, func(context.Context) (int, error) { return w.work(), nil })
			}
			out, err := gather.All(ctx, tasks...)
			if err != nil {
				b.Fatal(err)
			}
			return sum(out)
		})
		run("gather.Map", func() int {
			out, err := gather.Map(ctx, items, w.limit, func(context.Context, int) (int, error) { return w.work(), nil })
			if err != nil {
				b.Fatal(err)
			}
			return sum(out)
		})
		run("errgroup", func() int {
			var g errgroup.Group
			g.SetLimit(w.limit)
			out := make([]int, n)
			for i := range n {
				g.Go(func() error { out[i] = w.work(); return nil })
			}
			g.Wait()
			return sum(out)
		})
		run("pond", func() int {
			p := pond.NewResultPool[int](w.limit)
			defer p.StopAndWait()
			g := p.NewGroup()
			for range n {
				g.Submit(w.work)
			}
			out, err := g.Wait()
			if err != nil {
				b.Fatal(err)
			}
			return sum(out)
		})
		run("ants", func() int {
			p, _ := ants.NewPool(w.limit)
			defer p.Release()
			var wg sync.WaitGroup
			wg.Add(n)
			out := make([]int, n)
			for i := range n {
				p.Submit(func() { out[i] = w.work(); wg.Done() })
			}
			wg.Wait()
			return sum(out)
		})
	}
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

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// samplePeak samples the memory the heap objects and goroutine stacks hold
// every millisecond into *peak, until the returned function is called.
func samplePeak(peak *int64) (stop func()) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			if v := int64(samples[0].Value.Uint64() + samples[1].Value.Uint64()); v > *peak {
				*peak = v
			}
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// cpuPerOp reports the process's CPU time, user and system, per op as
// cpu-ns/op when the returned function is called: a figure that the other
// load of a shared machine disturbs less than the wall time, as a
// process descheduled by others is not charged for it. Call it where the
// benchmark starts and defer the result.
func cpuPerOp(b *testing.B) func() {
	start := cpuNow()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuNow() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// perTask adds per-task figures, since one op of these benchmarks is n tasks.
func perTask(b *testing.B, n int) {
	b.Helper()
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/task")
}
