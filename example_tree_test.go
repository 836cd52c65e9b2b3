package gather_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/gather-dev/gather"
)

// WriteTasks shows the running tasks as a tree, like Python's asyncio
// pstree: here a crawl whose main task waits for a slot of its group,
// where one fetch sleeps between retries and another awaits its parse.
func ExampleWriteTasks() {
	defer gather.SetTracking(true)() // before the tasks start
	ctx, cancel := context.WithCancel(context.Background())
	main := gather.Go(ctx, func(ctx context.Context) (int, error) {
		g := gather.NewGroup(ctx, gather.Name("crawl"))
		g.SetLimit(2)
		gather.Spawn(g, func(ctx context.Context) (int, error) {
			return 0, gather.Sleep(ctx, time.Minute) // backing off
		}, gather.Name("fetch a"))
		gather.Spawn(g, func(ctx context.Context) (int, error) {
			parse := gather.Go(ctx, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, nil
			}, gather.Name("parse b"))
			// parse ends with ctx: wait for it to, so that no task of
			// this example outlives it.
			return parse.Await(context.WithoutCancel(ctx))
		}, gather.Name("fetch b"))
		gather.Spawn(g, func(ctx context.Context) (int, error) { return 0, nil }, gather.Name("fetch c"))
		return 0, g.Wait()
	}, gather.Name("main"))
	for !settled() {
		time.Sleep(time.Millisecond)
	}

	var text bytes.Buffer
	gather.WriteTasks(&text, gather.FormatText)
	os.Stdout.Write(stable(text.Bytes()))
	cancel()
	main.Await(context.Background())
	// Output:
	// gather: 5 tasks (pid …) at …
	// #1 task "main" · waiting for a slot group #2 · … · example_tree_test.go:…
	// └── #2 group "crawl" (fail-fast, limit 2) · … · example_tree_test.go:…
	//     ├── #3 task "fetch a" · sleeping, 1m0s left · … · example_tree_test.go:…
	//     └── #4 task "fetch b" · awaiting task #5 · … · example_tree_test.go:…
	//         └── #5 task "parse b" · running · … · example_tree_test.go:…
}

// Tasks gives the same snapshot as data, to check or to log.
func ExampleTasks() {
	defer gather.SetTracking(true)()
	release := make(chan struct{})
	task := gather.Go(context.Background(), func(ctx context.Context) (int, error) {
		<-release
		return 0, nil
	}, gather.Name("worker"))
	for len(gather.Tasks().Tasks) == 0 {
		time.Sleep(time.Millisecond)
	}
	for _, t := range gather.Tasks().Tasks {
		fmt.Println(t.Kind, t.Name, t.State)
	}
	close(release)
	task.Await(context.Background())
	// Output:
	// task worker running
}

// settled reports whether the example's tree has taken its shape.
func settled() bool {
	sleeping, waiting, awaiting := false, false, false
	for _, t := range gather.Tasks().Tasks {
		sleeping = sleeping || t.State == "sleeping"
		waiting = waiting || t.State == "waiting for a slot"
		awaiting = awaiting || t.State == "awaiting"
	}
	return sleeping && waiting && awaiting
}

// stable replaces what changes from run to run in a text tree (the pid,
// the time, ages, line numbers) with "…", and numbers the IDs from 1.
func stable(text []byte) []byte {
	text = regexp.MustCompile(`\(pid \d+\) at \S+`).ReplaceAll(text, []byte("(pid …) at …"))
	text = regexp.MustCompile(` · [\d.]+(µs|ms|s)`).ReplaceAll(text, []byte(" · …"))
	text = regexp.MustCompile(`\.go:\d+`).ReplaceAll(text, []byte(".go:…"))
	ids := map[string]string{}
	return regexp.MustCompile(`#\d+`).ReplaceAllFunc(text, func(id []byte) []byte {
		if _, ok := ids[string(id)]; !ok {
			ids[string(id)] = "#" + strconv.Itoa(len(ids)+1)
		}
		return []byte(ids[string(id)])
	})
}
