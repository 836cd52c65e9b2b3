package gather_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/gather-dev/gather"
)

// The examples replay the cells of the asyncio tutorial that gather started
// from, with a unit of 100ms standing for the tutorial's second.
const unit = 100 * time.Millisecond

// units says how long d took, as "about N units" when it took from want
// units to 3 more: a task that sleeps 4 units never takes less, a loaded
// machine (seven other builds on two cores) has been seen to add 200ms,
// and tasks of 1, 2 and 4 units that ran one after another would take 7.
// Outside of that, it says the time, and the example fails.
func units(d time.Duration, want int) string {
	if d >= time.Duration(want)*unit && d < time.Duration(want+3)*unit {
		return fmt.Sprintf("about %d units", want)
	}
	return fmt.Sprintf("%.1f units, not about %d", float64(d)/float64(unit), want)
}

// doSomeWork is the tutorial's coroutine: it sleeps x units and says so.
func doSomeWork(x int) func(context.Context) (string, error) {
	return doSomeWorkIn(x, unit)
}

// doSomeWorkIn is doSomeWork with units of u.
func doSomeWorkIn(x int, u time.Duration) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if err := gather.Sleep(ctx, time.Duration(x)*u); err != nil {
			return "", err
		}
		return fmt.Sprintf("Done after %d units", x), nil
	}
}

// start prints what the tutorial's coroutines print as they begin, then
// starts them. Printing here, not in the goroutines, keeps the order fixed.
func start(ctx context.Context, xs ...int) []*gather.Task[string] {
	return startIn(ctx, unit, xs...)
}

// startIn is start with units of u.
func startIn(ctx context.Context, u time.Duration, xs ...int) []*gather.Task[string] {
	var tasks []*gather.Task[string]
	for _, x := range xs {
		fmt.Println("Waiting:", x)
		tasks = append(tasks, gather.Go(ctx, doSomeWorkIn(x, u)))
	}
	return tasks
}

// Cell 1: one coroutine, run to completion and timed.
func ExampleTask_Await() {
	ctx := context.Background()
	begin := time.Now()
	task := gather.Go(ctx, func(ctx context.Context) (int, error) {
		fmt.Println("Waiting:", 2)
		return 2, nil
	})
	if _, err := task.Await(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println("TIME:", units(time.Since(begin), 0))
	// Output:
	// Waiting: 2
	// TIME: about 0 units
}

// Cell 2: three tasks of 1, 2 and 4 units run together and take about 4
// units, not 7. asyncio.wait(tasks) is gather.Wait with AllCompleted.
func ExampleWait() {
	ctx := context.Background()
	begin := time.Now()
	tasks := start(ctx, 1, 2, 4)
	gather.Wait(ctx, tasks, gather.AllCompleted)
	for _, task := range tasks {
		r, _ := task.Result()
		fmt.Println("Task ret:", r.Value)
	}
	fmt.Println("TIME:", units(time.Since(begin), 4))
	// Output:
	// Waiting: 1
	// Waiting: 2
	// Waiting: 4
	// Task ret: Done after 1 units
	// Task ret: Done after 2 units
	// Task ret: Done after 4 units
	// TIME: about 4 units
}

// Cell 3: tasks nested in a main task, which waits for them and reads the
// done ones. Unlike asyncio's sets, done comes in completion order.
func ExampleWait_nested() {
	ctx := context.Background()
	begin := time.Now()
	fmt.Println("11111111111")
	main := gather.Go(ctx, func(ctx context.Context) (int, error) {
		done, pending := gather.Wait(ctx, start(ctx, 1, 2, 4), gather.AllCompleted)
		// done is in the order the tasks finished, as asyncio's is a set:
		// printed sorted, since on a loaded machine a task of 1 unit has
		// been seen to finish after one of 2.
		var rets []string
		for _, task := range done {
			r, _ := task.Result()
			rets = append(rets, r.Value)
		}
		slices.Sort(rets)
		for _, r := range rets {
			fmt.Println("Task ret:", r)
		}
		return len(pending), nil
	})
	pending, _ := main.Await(ctx)
	fmt.Println("pending:", pending)
	fmt.Println("TIME:", units(time.Since(begin), 4))
	// Output:
	// 11111111111
	// Waiting: 1
	// Waiting: 2
	// Waiting: 4
	// Task ret: Done after 1 units
	// Task ret: Done after 2 units
	// Task ret: Done after 4 units
	// pending: 0
	// TIME: about 4 units
}

// Cell 3 again, with a timeout: the tasks still running when it expires are
// returned as pending, and keep running. The timeout falls 4 units after
// the second task and 4 before the third, with units of 300ms here, so
// that a loaded machine would need 1.2 s of delay to change the output
// (under -race, with seven other builds, 570ms has been seen).
func ExampleWait_timeout() {
	const u = 3 * unit
	ctx := context.Background()
	tasks := startIn(ctx, u, 1, 2, 10)
	wctx, cancel := context.WithTimeout(ctx, 6*u)
	defer cancel()
	done, pending := gather.Wait(wctx, tasks, gather.AllCompleted)
	fmt.Println("done:", len(done), "pending:", len(pending))
	for _, t := range pending {
		t.Cancel(nil) // the example need not wait 12 more units for it
	}
	gather.Settle(ctx, pending...)
	// Output:
	// Waiting: 1
	// Waiting: 2
	// Waiting: 10
	// done: 2 pending: 1
}

// Cell 4: gather returns the results themselves, in the order of the
// tasks.
func ExampleAll() {
	ctx := context.Background()
	begin := time.Now()
	results, err := gather.All(ctx, start(ctx, 4, 2, 1)...)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		fmt.Println("Task ret:", r)
	}
	fmt.Println("TIME:", units(time.Since(begin), 4))
	// Output:
	// Waiting: 4
	// Waiting: 2
	// Waiting: 1
	// Task ret: Done after 4 units
	// Task ret: Done after 2 units
	// Task ret: Done after 1 units
	// TIME: about 4 units
}

// Cell 5: main returns the gathered results, and gather.Run, like
// asyncio.run, runs it and waits for everything it started.
func ExampleRun() {
	var results []string
	err := gather.Run(func(ctx context.Context) error {
		var err error
		results, err = gather.All(ctx, start(ctx, 1, 2, 2)...)
		return err
	})
	if err != nil {
		fmt.Println(err)
	}
	for _, r := range results {
		fmt.Println("Task ret:", r)
	}
	// Output:
	// Waiting: 1
	// Waiting: 2
	// Waiting: 2
	// Task ret: Done after 1 units
	// Task ret: Done after 2 units
	// Task ret: Done after 2 units
}

// Cell 6: five requests to a slow server. Made one after another, as the
// tutorial's blocking requests.get did, they take five times the server's
// delay; made as tasks, they overlap and take about one delay.
func Example_slowServer() {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(unit)
		io.WriteString(w, "hello!")
	}))
	defer slow.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	request := func(ctx context.Context) (string, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", slow.URL, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}

	ctx := context.Background()
	begin := time.Now()
	for range 5 {
		request(ctx) // blocking, one after another
	}
	// Bounds, not exact counts: on a loaded machine each request may take
	// a little more than its unit, and five of them add up.
	fmt.Println("one after another, at least 5 units:", time.Since(begin) >= 5*unit)

	begin = time.Now()
	var tasks []*gather.Task[string]
	for range 5 {
		tasks = append(tasks, gather.Go(ctx, request))
	}
	bodies, err := gather.All(ctx, tasks...)
	fmt.Println("as tasks, under 3 units:", time.Since(begin) < 3*unit, bodies, err)
	// Output:
	// one after another, at least 5 units: true
	// as tasks, under 3 units: true [hello! hello! hello! hello! hello!] <nil>
}

// Cell 7: the tutorial's last cell awaited something that cannot be
// awaited, every task failed, and nobody read their errors; Python printed
// "Task exception was never retrieved". gather reports the same, through a
// handler that here prints to standard output.
func ExampleSetUnretrievedHandler() {
	defer gather.SetUnretrievedHandler(func(err error) {
		fmt.Println("Task exception was never retrieved:", err)
	})()

	gather.Run(func(ctx context.Context) error {
		for range 3 {
			gather.Go(ctx, func(ctx context.Context) (string, error) {
				return "", errors.New("object Response can't be used in 'await' expression")
			})
		}
		return nil // returns without reading the tasks' errors
	})
	// Output:
	// Task exception was never retrieved: object Response can't be used in 'await' expression
	// Task exception was never retrieved: object Response can't be used in 'await' expression
	// Task exception was never retrieved: object Response can't be used in 'await' expression
}

// Settle is gather(return_exceptions=True): every outcome, in order.
func ExampleSettle() {
	ctx := context.Background()
	ok := gather.Go(ctx, func(ctx context.Context) (int, error) { return 1, nil })
	bad := gather.Go(ctx, func(ctx context.Context) (int, error) { return 0, errors.New("bad input") })
	for _, r := range gather.Settle(ctx, ok, bad) {
		fmt.Println(r.Value, r.Err)
	}
	// Output:
	// 1 <nil>
	// 0 bad input
}

// The tasks finish 5 units (500ms) apart, so that only a delay of that
// much on a loaded machine could change the order (a 1-unit gap has been
// overtaken under -race with seven other builds running).
func ExampleAsCompleted() {
	const u = 5 * unit
	ctx := context.Background()
	tasks := []*gather.Task[string]{
		gather.Go(ctx, doSomeWorkIn(3, u)),
		gather.Go(ctx, doSomeWorkIn(1, u)),
		gather.Go(ctx, doSomeWorkIn(2, u)),
	}
	for task := range gather.AsCompleted(ctx, tasks...) {
		v, _ := task.Await(ctx)
		fmt.Println(v)
	}
	// Output:
	// Done after 1 units
	// Done after 2 units
	// Done after 3 units
}

func ExampleWaitFor() {
	ctx := context.Background()
	_, err := gather.WaitFor(ctx, gather.Go(ctx, doSomeWork(100)), 2*unit)
	fmt.Println(err, errors.Is(err, gather.ErrTimeout))
	// Output:
	// gather: task did not finish within 200ms: gather: timed out true
}

// A group with a limit fetches as many pages as there are, a few at a
// time, and fails as a whole if one fails.
func ExampleGroup() {
	g := gather.NewGroup(context.Background())
	g.SetLimit(2)
	pages := []string{"a", "b", "", "d"}
	for _, p := range pages {
		err := g.Go(func(ctx context.Context) error {
			if p == "" {
				return errors.New("empty page name")
			}
			return gather.Sleep(ctx, unit)
		})
		if err != nil {
			break // the group stopped taking children: a child failed
		}
	}
	fmt.Println(g.Wait())
	// Output:
	// empty page name
}

func ExampleMap() {
	lengths, err := gather.Map(context.Background(), []string{"go", "gather", "asyncio"}, 2,
		func(ctx context.Context, s string) (int, error) { return len(s), nil })
	fmt.Println(lengths, err)
	// Output:
	// [2 6 7] <nil>
}

// Stream maps an input of any length, here words read as they come, with a
// bounded number of calls in flight.
func ExampleStream() {
	words := strings.Fields("the quick brown fox")
	var out []string
	for i, r := range gather.Stream(context.Background(), slices.Values(words), 2, gather.InputOrder,
		func(ctx context.Context, w string) (string, error) { return strings.ToUpper(w), nil }) {
		out = append(out, fmt.Sprintf("%d %s", i, r.Value))
	}
	fmt.Println(strings.Join(out, ", "))
	// Output:
	// 0 THE, 1 QUICK, 2 BROWN, 3 FOX
}
