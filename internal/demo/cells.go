package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/gather-dev/gather"
)

// A cell is one cell of the tutorial, replayed.
type cell struct {
	title string
	run   func(d *demo, ctx context.Context) error
}

// cells are the tutorial's cells, in its order.
var cells = []cell{
	{"one task, timed: do_some_work(2) run to completion", (*demo).oneTask},
	{"three tasks of 1, 2 and 4 units, awaited with Wait: about 4 units, not 7", (*demo).threeTasks},
	{"nested tasks: main awaits Wait, which splits them into done and pending", (*demo).nested},
	{"All gathers the results in the order of the tasks", (*demo).all},
	{"main returns the results (tasks of 1, 2 and 2 units)", (*demo).mainReturns},
	{"5 HTTP requests one after another: the tutorial's blocking mistake", (*demo).sequentialRequests},
	{"the same 5 HTTP requests as concurrent tasks", (*demo).concurrentRequests},
	{"many concurrent HTTP requests: still about one delay", (*demo).manyRequests},
	{"a task whose error nobody reads, and gather's report of it", (*demo).unretrieved},
}

// work is what do_some_work returns: its message and how long it really
// took, for the sum in the table.
type work struct {
	msg  string
	took time.Duration
}

// doSomeWork is the tutorial's do_some_work(x): it sleeps x units and says
// so. The caller prints "Waiting: x" as it starts the task, so that the
// output does not depend on which goroutine runs first.
func (d *demo) doSomeWork(x int) func(context.Context) (work, error) {
	return func(ctx context.Context) (work, error) {
		start := time.Now()
		if err := gather.Sleep(ctx, time.Duration(x)*d.unit); err != nil {
			return work{}, err
		}
		unit := "units"
		if x == 1 {
			unit = "unit"
		}
		return work{fmt.Sprintf("Done after %d %s", x, unit), time.Since(start)}, nil
	}
}

// start starts do_some_work(x) for each x, as asyncio.ensure_future did.
func (d *demo) start(ctx context.Context, xs ...int) []*gather.Task[work] {
	tasks := make([]*gather.Task[work], len(xs))
	for i, x := range xs {
		d.printf("    Waiting: %d\n", x)
		tasks[i] = gather.Go(ctx, d.doSomeWork(x), gather.Name(fmt.Sprintf("do_some_work(%d)", x)))
	}
	return tasks
}

// abandon cancels the tasks a cell gives up on when ctx ends, and reads
// their outcomes, so that none is left for the unretrieved-error report.
func abandon[T any](ctx context.Context, tasks []*gather.Task[T]) error {
	gather.Settle(ctx, tasks...)
	return context.Cause(ctx)
}

// results reads the results of finished tasks, in the order given, as the
// tutorial's task.result() did.
func results(tasks []*gather.Task[work]) ([]work, error) {
	ws := make([]work, 0, len(tasks))
	for _, t := range tasks {
		r, ok := t.Result()
		if !ok {
			return nil, fmt.Errorf("task still running")
		}
		if r.Err != nil {
			return nil, r.Err
		}
		ws = append(ws, r.Value)
	}
	return ws, nil
}

// finish prints what the tasks of a cell that started at start returned,
// adds the cell's row to the table, with the sum of the tasks' own times as
// the time one after another, and returns the cell's time and that sum.
func (d *demo) finish(scenario string, start time.Time, ws []work) (took, sum time.Duration) {
	for _, w := range ws {
		d.printf("    Task ret: %s\n", w.msg)
		sum += w.took
	}
	took = time.Since(start)
	d.rows = append(d.rows, Row{scenario, sum, took})
	return took, sum
}

func (d *demo) oneTask(ctx context.Context) error {
	start := time.Now()
	t := gather.Go(ctx, func(context.Context) (struct{}, error) {
		d.printf("    Waiting: %d\n", 2)
		return struct{}{}, nil
	})
	if _, err := t.Await(ctx); err != nil {
		return err
	}
	d.printf("    TIME: %s\n", d.units(time.Since(start)))
	return nil
}

func (d *demo) threeTasks(ctx context.Context) error {
	start := time.Now()
	tasks := d.start(ctx, 1, 2, 4)
	gather.Wait(ctx, tasks, gather.AllCompleted)
	if ctx.Err() != nil {
		return abandon(ctx, tasks)
	}
	ws, err := results(tasks)
	if err != nil {
		return err
	}
	took, sum := d.finish("3 tasks of 1, 2, 4 units (Wait)", start, ws)
	d.printf("    TIME: %s; one after another: %s\n", d.units(took), d.inUnits(sum))
	return nil
}

// nested is the tutorial's main() awaiting asyncio.wait; Wait is called
// twice so that the output shows its done and pending sets.
func (d *demo) nested(ctx context.Context) error {
	start := time.Now()
	d.printf("    11111111111\n")
	tasks := d.start(ctx, 1, 2, 4)
	xs := map[*gather.Task[work]]string{tasks[0]: "1", tasks[1]: "2", tasks[2]: "4"}
	names := func(ts []*gather.Task[work]) []string {
		var s []string
		for _, t := range ts {
			s = append(s, xs[t])
		}
		return s
	}
	done, pending := gather.Wait(ctx, tasks, gather.FirstCompleted)
	d.printf("    Wait(FirstCompleted) after %s: done %v, pending %v\n", d.inUnits(time.Since(start)), names(done), names(pending))
	rest, pending := gather.Wait(ctx, pending, gather.AllCompleted)
	d.printf("    Wait(AllCompleted)   after %s: done %v, pending %v\n", d.inUnits(time.Since(start)), names(rest), names(pending))
	if ctx.Err() != nil {
		return abandon(ctx, tasks)
	}
	ws, err := results(slices.Concat(done, rest))
	if err != nil {
		return err
	}
	took, _ := d.finish("nested tasks, Wait done/pending", start, ws)
	d.printf("    TIME: %s\n", d.units(took))
	return nil
}

func (d *demo) all(ctx context.Context) error {
	start := time.Now()
	d.printf("    11111111111\n")
	ws, err := gather.All(ctx, d.start(ctx, 1, 2, 4)...)
	if err != nil {
		return err
	}
	took, _ := d.finish("All, results in order", start, ws)
	d.printf("    TIME: %s\n", d.units(took))
	return nil
}

func (d *demo) mainReturns(ctx context.Context) error {
	start := time.Now()
	main := func(ctx context.Context) ([]work, error) {
		return gather.All(ctx, d.start(ctx, 1, 2, 2)...)
	}
	ws, err := main(ctx)
	if err != nil {
		return err
	}
	took, _ := d.finish("main returns results (1, 2, 2 units)", start, ws)
	d.printf("    TIME: %s\n", d.units(took))
	return nil
}

// reply is one HTTP answer and how long it took.
type reply struct {
	body string
	took time.Duration
}

// get asks url and fails unless the answer is 200.
func (d *demo) get(ctx context.Context, url string) (reply, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return reply{}, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reply{}, fmt.Errorf("GET %s: %w", req.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return reply{}, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	return reply{string(body), time.Since(start)}, nil
}

// sequentialRequests is the tutorial's mistake: requests.get blocks the
// event loop, so its five "tasks" ran one after another. In Go a blocking
// call blocks only its goroutine; the mistake is calling it in a loop.
func (d *demo) sequentialRequests(ctx context.Context) error {
	start := time.Now()
	for range 5 {
		d.printf("    waiting for %s\n", d.url)
		r, err := d.get(ctx, d.url)
		if err != nil {
			return err
		}
		d.printf("    get response from %s result is: %s (%s)\n", d.url, r.body, d.inUnits(r.took))
	}
	d.seq5 = time.Since(start)
	d.printf("    cost time: %s\n", d.units(d.seq5))
	return nil
}

func (d *demo) concurrentRequests(ctx context.Context) error {
	start := time.Now()
	tasks := make([]*gather.Task[reply], 5)
	for i := range tasks {
		d.printf("    waiting for %s\n", d.url)
		tasks[i] = gather.Go(ctx, func(ctx context.Context) (reply, error) { return d.get(ctx, d.url) }, gather.Name("GET "+d.url))
	}
	rs, err := gather.All(ctx, tasks...)
	if err != nil {
		return err
	}
	for _, r := range rs {
		d.printf("    get response from %s result is: %s (%s)\n", d.url, r.body, d.inUnits(r.took))
	}
	took := time.Since(start)
	d.printf("    cost time: %s\n", d.units(took))
	if d.seq5 > 0 {
		d.rows = append(d.rows, Row{"5 HTTP requests", d.seq5, took})
	}
	return nil
}

func (d *demo) manyRequests(ctx context.Context) error {
	start := time.Now()
	d.printf("    starting %d tasks, each a GET %s\n", d.requests, d.url)
	tasks := make([]*gather.Task[reply], d.requests)
	for i := range tasks {
		tasks[i] = gather.Go(ctx, func(ctx context.Context) (reply, error) { return d.get(ctx, d.url) }, gather.Name("GET "+d.url))
	}
	rs, err := gather.All(ctx, tasks...)
	if err != nil {
		return err
	}
	took := time.Since(start)
	bodies := map[string]int{}
	var sum, fastest, slowest time.Duration
	for i, r := range rs {
		bodies[r.body]++
		sum += r.took
		if i == 0 || r.took < fastest {
			fastest = r.took
		}
		slowest = max(slowest, r.took)
	}
	for body, n := range bodies {
		d.printf("    %d responses were: %s\n", n, body)
	}
	d.printf("    fastest %s, slowest %s, mean %s\n", d.inUnits(fastest), d.inUnits(slowest), d.inUnits(sum/time.Duration(len(rs))))
	d.printf("    cost time: %s\n", d.units(took))
	// Under load each answer waits for its turn on the CPU, so the sum of
	// these latencies overstates a sequential run; a request alone took
	// what cell 6 measured.
	seq := sum
	if d.seq5 > 0 {
		seq = d.seq5 / 5 * time.Duration(d.requests)
	}
	d.rows = append(d.rows, Row{fmt.Sprintf("%d HTTP requests", d.requests), seq, took})
	return nil
}

// unretrieved replays the tutorial's last cell, where every task failed
// and asyncio.wait, which reads no results, left Python to print "Task
// exception was never retrieved". gather.Wait reads no errors either; the
// cell runs under its own gather.Run, which reports such errors when its
// main returns, and the report goes to the demo's output.
func (d *demo) unretrieved(ctx context.Context) error {
	const n = 5
	var tasks []*gather.Task[reply]
	defer gather.SetUnretrievedHandler(func(err error) {
		d.printf("    gather: task error was never retrieved: %v\n", err)
	})()
	err := gather.Run(func(runCtx context.Context) error {
		// The inner Run has its own root context: end it with ours.
		runCtx, cancel := context.WithCancelCause(runCtx)
		defer context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })()
		defer cancel(nil)
		start := time.Now()
		for range n {
			d.printf("    waiting for %s\n", d.failURL)
			tasks = append(tasks, gather.Go(runCtx, func(ctx context.Context) (reply, error) {
				return d.get(ctx, d.failURL)
			}))
		}
		gather.Wait(runCtx, tasks, gather.AllCompleted)
		d.printf("    cost time: %s\n", d.units(time.Since(start)))
		d.printf("    main returns without reading the tasks' errors; gather.Run reports them:\n")
		return context.Cause(ctx)
	})
	// Until Run has reported them, the tasks must not be collected: the
	// garbage collector would report them too, from another goroutine,
	// possibly after the handler is restored.
	runtime.KeepAlive(tasks)
	return err
}
