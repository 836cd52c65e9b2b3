package gather

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// peak tracks how many calls run at once.
type peak struct{ now, most atomic.Int32 }

func (p *peak) enter() {
	n := p.now.Add(1)
	for {
		m := p.most.Load()
		if n <= m || p.most.CompareAndSwap(m, n) {
			return
		}
	}
}

func (p *peak) leave() { p.now.Add(-1) }

func TestMap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		items := []int{5, 1, 4, 2, 3, 1, 1, 2}
		var p peak
		start := time.Now()
		got, err := Map(context.Background(), items, 3, func(ctx context.Context, n int) (string, error) {
			p.enter()
			defer p.leave()
			time.Sleep(time.Duration(n) * time.Second)
			return fmt.Sprint(n), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"5", "1", "4", "2", "3", "1", "1", "2"}
		if !slices.Equal(got, want) {
			t.Fatalf("Map() = %v; want %v", got, want)
		}
		if p.most.Load() != 3 {
			t.Fatalf("%d calls ran at once; want exactly the limit, 3", p.most.Load())
		}
		// Three workers, each taking the next item when free:
		// t=0 takes 5, 1, 4; t=1 takes 2; t=3 takes 3; t=4 takes 1;
		// t=5 takes 1 and 2; the last call ends at t=7.
		if d := time.Since(start); d != 7*time.Second {
			t.Fatalf("Map took %v; want 7s", d)
		}
	})
}

func TestMapFirstErrorStops(t *testing.T) {
	t.Parallel()
	items := make([]int, 10_000)
	for i := range items {
		items[i] = i
	}
	const limit = 4
	var calls atomic.Int32
	_, err := Map(context.Background(), items, limit, func(ctx context.Context, i int) (int, error) {
		calls.Add(1)
		if i == 10 {
			return 0, errBoom
		}
		if i > 10 {
			// Hold the slot until the failure is known, whatever the
			// scheduler does, so the count below is exact.
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return i, nil
	})
	if err != errBoom {
		t.Fatalf("Map() error = %v; want boom alone, as it was returned", err)
	}
	// Items 0 to 10, plus at most one more per other worker, taken before
	// the failure cancelled them.
	if n := calls.Load(); n > 11+limit-1 {
		t.Fatalf("Map made %d calls; after the failure at item 10 it must stop taking items", n)
	}
}

func TestMapPanic(t *testing.T) {
	t.Parallel()
	_, err := Map(context.Background(), []int{1, 2, 3}, 0, func(ctx context.Context, i int) (int, error) {
		if i == 2 {
			panic("two")
		}
		return i, nil
	})
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Map() error = %v; want *PanicError", err)
	}
}

func TestMapContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeoutCause(context.Background(), time.Second, errBoom)
		defer cancel()
		got, err := Map(ctx, []int{1, 2, 3}, 2, func(ctx context.Context, i int) (int, error) {
			return i, Sleep(ctx, time.Hour)
		})
		if err != errBoom || got != nil {
			t.Fatalf("Map() = %v, %v; want nil and the context's cause, as it is", got, err)
		}
	})
}

func TestMapContextEndsAfterTheLastItem(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got, err := Map(ctx, []int{1, 2, 3}, 1, func(_ context.Context, i int) (int, error) {
		if i == 3 {
			cancel() // every item is done: nothing is lost
		}
		return 10 * i, nil
	})
	if err != nil || !slices.Equal(got, []int{10, 20, 30}) {
		t.Fatalf("Map() = %v, %v; want [10 20 30], nil", got, err)
	}
}

// counted yields 0..n-1 and counts how many items were taken.
func counted(n int, taken *atomic.Int32) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			taken.Add(1)
			if !yield(i) {
				return
			}
		}
	}
}

func TestStream(t *testing.T) {
	// Item i takes (i%4)+1 seconds, so completion order differs from input order.
	work := func(p *peak) func(context.Context, int) (int, error) {
		return func(ctx context.Context, i int) (int, error) {
			p.enter()
			defer p.leave()
			time.Sleep(time.Duration(i%4+1) * time.Second)
			if i == 5 {
				return 0, errBoom
			}
			return i * 10, nil
		}
	}
	for _, order := range []Order{InputOrder, CompletionOrder} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n, limit = 20, 3
				var p peak
				var taken atomic.Int32
				var seen []int
				for i, r := range Stream(context.Background(), counted(n, &taken), limit, order, work(&p)) {
					if held := int(taken.Load()) - len(seen); held > limit {
						t.Fatalf("%d items held at once; the limit is %d", held, limit)
					}
					seen = append(seen, i)
					if i == 5 {
						if r.Err != errBoom {
							t.Errorf("item 5: %v; want boom", r)
						}
					} else if r.Value != i*10 || r.Err != nil {
						t.Errorf("item %d: %v; want {%d <nil>}", i, r, i*10)
					}
				}
				if len(seen) != n {
					t.Fatalf("Stream yielded %d results; want %d", len(seen), n)
				}
				if p.most.Load() > limit {
					t.Fatalf("%d calls at once; the limit is %d", p.most.Load(), limit)
				}
				sorted := slices.IsSorted(seen)
				if order == InputOrder && !sorted {
					t.Fatalf("InputOrder yielded %v", seen)
				}
				if order == CompletionOrder && sorted {
					t.Fatalf("CompletionOrder yielded the input order %v; item durations differ, so it cannot", seen)
				}
				slices.Sort(seen)
				for i, v := range seen {
					if i != v {
						t.Fatalf("an index is missing or repeated: %v", seen)
					}
				}
			})
		})
	}
}

func TestStreamBreakStopsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var taken atomic.Int32
		var stopped atomic.Int32
		for range Stream(context.Background(), counted(1000, &taken), 4, CompletionOrder, func(ctx context.Context, i int) (int, error) {
			if i == 0 {
				return 0, nil
			}
			<-ctx.Done()
			stopped.Add(1)
			return 0, ctx.Err()
		}) {
			synctest.Wait() // the input is read on its own goroutine: let it fill the slots
			break
		}
		// Stream has returned: the 3 calls under way were cancelled and
		// waited for, and no item beyond the first 4 was taken.
		if stopped.Load() != 3 || taken.Load() != 4 {
			t.Fatalf("after break: %d calls stopped, %d items taken; want 3, 4", stopped.Load(), taken.Load())
		}
	})
}

func TestStreamContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		var taken atomic.Int32
		var results, cancelled int
		for _, r := range Stream(ctx, counted(100, &taken), 2, InputOrder, func(ctx context.Context, i int) (int, error) {
			return i, Sleep(ctx, time.Second)
		}) {
			results++
			if r.Err != nil {
				cancelled++
			}
		}
		// 0,1 done at 1s; 2,3 at 2s; 4,5 cancelled at 2.5s and still yielded.
		if results != 6 || cancelled != 2 || taken.Load() != 6 {
			t.Fatalf("got %d results (%d cancelled), %d taken; want 6 (2), 6", results, cancelled, taken.Load())
		}
	})
}

func TestStreamBreakInInputOrderWithASlowHead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 3
		var taken, stopped atomic.Int32
		start := time.Now()
		for i := range Stream(context.Background(), counted(100, &taken), limit, InputOrder, func(ctx context.Context, i int) (int, error) {
			if i == 0 {
				time.Sleep(time.Second) // the others finish first and are held
				return 0, nil
			}
			if i < limit {
				return i, nil
			}
			<-ctx.Done()
			stopped.Add(1)
			return 0, ctx.Err()
		}) {
			if i != 0 {
				t.Fatalf("first yield was item %d; want 0", i)
			}
			break
		}
		// Items 1 and 2 finished at once but held their slots until 0 was
		// yielded at 1s, so nothing else was taken.
		if d := time.Since(start); d != time.Second || taken.Load() != limit || stopped.Load() != 0 {
			t.Fatalf("after %v: %d taken, %d stopped; want 1s, %d, 0", d, taken.Load(), stopped.Load(), limit)
		}
	})
}

func TestStreamContextEndedBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var taken atomic.Int32
	for i := range Stream(ctx, counted(10, &taken), 2, CompletionOrder, func(context.Context, int) (int, error) { return 0, nil }) {
		t.Fatalf("yielded item %d from a stream whose context had ended", i)
	}
	if taken.Load() != 0 {
		t.Fatalf("took %d items from a stream whose context had ended", taken.Load())
	}
}

func TestStreamYieldsWhileInputWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		// The second item comes only once the first result has been seen,
		// as with a pipe whose writer waits for the reader's answer. Were the
		// input read in the loop's goroutine, this would deadlock.
		items := func(yield func(int) bool) {
			if !yield(0) {
				return
			}
			<-gate
			yield(1)
		}
		var got []int
		for i, r := range Stream(context.Background(), items, 4, InputOrder, func(ctx context.Context, i int) (int, error) { return i, nil }) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if i == 0 {
				close(gate)
			}
			got = append(got, i)
		}
		if !slices.Equal(got, []int{0, 1}) {
			t.Fatalf("yielded %v; want [0 1]", got)
		}
	})
}

func TestStreamInputPanicReachesTheLoop(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r != "input broke" {
			t.Fatalf("recovered %v; want the input's panic", r)
		}
	}()
	items := func(yield func(int) bool) {
		yield(0)
		panic("input broke")
	}
	for range Stream(context.Background(), items, 2, CompletionOrder, func(ctx context.Context, i int) (int, error) { return i, nil }) {
	}
	t.Fatal("Stream returned normally from an input that panicked")
}

// An Order that is neither of the two made Stream panic with "assignment
// to entry in nil map" once the loop ran; it now panics at the call, and
// says why.
func TestStreamInvalidOrderPanics(t *testing.T) {
	t.Parallel()
	mustPanic(t, "gather: Stream: invalid Order 2", func() {
		Stream(context.Background(), slices.Values([]int{1}), 1, Order(2), func(ctx context.Context, i int) (int, error) { return i, nil })
	})
}

// A limit of 0 means no limit, as for Map and Group.SetLimit (it meant 1).
func TestStreamNoLimit(t *testing.T) {
	for _, order := range []Order{InputOrder, CompletionOrder} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var p peak
				start := time.Now()
				n := 0
				for i, r := range Stream(context.Background(), slices.Values(make([]int, 50)), 0, order, func(ctx context.Context, _ int) (int, error) {
					p.enter()
					defer p.leave()
					return 0, Sleep(ctx, time.Second)
				}) {
					if r.Err != nil || (order == InputOrder && i != n) {
						t.Fatalf("item %d: %v (yielded %d before)", i, r.Err, n)
					}
					n++
				}
				if d := time.Since(start); d != time.Second || n != 50 || p.most.Load() != 50 {
					t.Fatalf("50 calls of 1s without a limit: %d yielded after %v, %d at once; want 50, 1s, 50", n, d, p.most.Load())
				}
			})
		})
	}
}

func TestMapLimitZeroMeansNone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		got, err := Map(context.Background(), make([]int, 20), 0, func(ctx context.Context, _ int) (int, error) {
			return 1, Sleep(ctx, time.Second)
		})
		if d := time.Since(start); err != nil || len(got) != 20 || d != time.Second {
			t.Fatalf("Map with limit 0: %d results, %v, after %v; want 20, nil, 1s", len(got), err, d)
		}
	})
}

// A call that panics or calls runtime.Goexit: in Map it fails the whole,
// in Stream it is that item's result, and the other items go on.
func TestMapAndStreamCallsThatDoNotReturn(t *testing.T) {
	t.Parallel()
	items := []int{0, 1, 2, 3, 4, 5, 6, 7}
	odd := func(ctx context.Context, i int) (int, error) {
		switch {
		case i == 3:
			panic("three")
		case i == 5:
			runtime.Goexit()
		}
		return i * 10, nil
	}
	_, err := Map(context.Background(), items, 2, odd)
	var pe *PanicError
	if !errors.As(err, &pe) && !errors.Is(err, errGoexit) {
		t.Fatalf("Map() error = %v; want the panic or the Goexit", err)
	}
	if _, err := Map(context.Background(), []int{5}, 1, odd); err != errGoexit {
		t.Fatalf("Map() of a call that calls Goexit = %v; want errGoexit (it returned no error and lost the item)", err)
	}
	for _, order := range []Order{InputOrder, CompletionOrder} {
		got := map[int]Result[int]{}
		for i, r := range Stream(context.Background(), slices.Values(items), 2, order, odd) {
			got[i] = r
		}
		if len(got) != len(items) {
			t.Fatalf("Stream(%v) yielded %d results; want %d", order, len(got), len(items))
		}
		for i, r := range got {
			switch {
			case i == 3 && !errors.As(r.Err, &pe):
				t.Errorf("item 3: %v; want a PanicError", r.Err)
			case i == 5 && r.Err != errGoexit:
				t.Errorf("item 5: %v; want errGoexit", r.Err)
			case i != 3 && i != 5 && (r.Err != nil || r.Value != i*10):
				t.Errorf("item %d: %+v", i, r)
			}
		}
	}
}
