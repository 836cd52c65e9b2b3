package gather_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"

	"github.com/gather-dev/gather"
)

// The benchmarks compare gather with the bare primitives and with errgroup
// and conc doing the same work. Compare runs with benchstat:
//
//	go test -run '^$' -bench . -benchmem -count 10 > new.txt && benchstat new.txt

func trivial(ctx context.Context) (int, error) { return 1, nil }

func BenchmarkSpawnAwait(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=gather", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := gather.Go(ctx, trivial).Await(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=goroutine+chan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ch := make(chan int, 1)
			go func() {
				v, _ := trivial(ctx)
				ch <- v
			}()
			<-ch
		}
	})
	b.Run("impl=errgroup", func(b *testing.B) {
		b.ReportAllocs()
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
		for b.Loop() {
			p := pool.NewWithResults[int]().WithErrors()
			p.Go(func() (int, error) { return trivial(ctx) })
			if _, err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGather starts n trivial tasks and collects their results in
// order; the figure to read is ns/task and allocs/task.
func BenchmarkGather(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 100_000} {
		run := func(name string, gatherN func(n int) []int) {
			b.Run(fmt.Sprintf("n=%d/impl=%s", n, name), func(b *testing.B) {
				b.ReportAllocs()
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
	}
}

// BenchmarkMap maps 100,000 items with at most 64 calls at once.
func BenchmarkMap(b *testing.B) {
	ctx := context.Background()
	const n, limit = 100_000, 64
	items := make([]int, n)
	double := func(ctx context.Context, i int) (int, error) { return 2 * i, nil }
	run := func(name string, mapN func() []int) {
		b.Run(fmt.Sprintf("n=%d/limit=%d/impl=%s", n, limit, name), func(b *testing.B) {
			b.ReportAllocs()
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
}

// perTask adds per-task figures, since one op of these benchmarks is n tasks.
func perTask(b *testing.B, n int) {
	b.Helper()
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/task")
}
