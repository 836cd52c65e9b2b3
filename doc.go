// Package gather is Python's asyncio task model in Go: typed tasks you
// start and await, gathering their results in order, waiting for the first
// to finish or fail, timeouts, cancellation, task groups with a limit and
// a completion policy, the tree of running tasks, and an asyncio.run-like
// entry point.
//
// Goroutines already run concurrently; what gather adds is the part asyncio
// users miss: a task is a value that holds its result, every goroutine it
// starts has an owner that waits for it, and no error is ever silently
// lost. A task whose error is never read is reported, as Python reports
// "Task exception was never retrieved"; as in Python, a task that merely
// stopped because it was cancelled is not. And since gather owns every
// task it starts, it can show them: their names, who started whom, and
// what each is waiting for, which the Go runtime does not offer for
// goroutines (golang/go#35178).
//
// # From asyncio to gather
//
//	asyncio                                   gather
//	----------------------------------------  ----------------------------------------------
//	asyncio.run(main())                       gather.Run(main)
//	asyncio.create_task(coro) / ensure_future gather.Go(ctx, fn)
//	create_task(coro, name="fetch")           gather.Go(ctx, fn, gather.Name("fetch"))
//	await task                                task.Await(ctx)
//	task.done() / task.result()               task.Result()
//	task.cancel()                             task.Cancel(cause)
//	task.get_name()                           task.Name()
//	asyncio.gather(*tasks)                    gather.All(ctx, tasks...)
//	gather(*tasks, return_exceptions=True)    gather.Settle(ctx, tasks...)
//	asyncio.wait(tasks, return_when=...)      gather.Wait(ctx, tasks, gather.FirstCompleted)
//	asyncio.wait(tasks, timeout=t)            gather.Wait(ctx with deadline, tasks, gather.AllCompleted)
//	asyncio.as_completed(tasks)               for t := range gather.AsCompleted(ctx, tasks...)
//	asyncio.wait_for(task, t)                 gather.WaitFor(ctx, task, t)
//	asyncio.sleep(t)                          gather.Sleep(ctx, t)
//	asyncio.shield(aw)                        gather.Go(ctx, fn, gather.Shield()), g.Go(fn, gather.Shield())
//	async with asyncio.TaskGroup() as tg      g := gather.NewGroup(ctx); g.Go(fn); g.Wait()
//	tg.create_task(coro)                      gather.Spawn(g, fn)
//	a TaskGroup that lets each child fail     g.SetPolicy(gather.Supervise())
//	the first to succeed, the rest cancelled  g.SetPolicy(gather.FirstSuccess()); gather.Winner[T](g)
//	asyncio.Semaphore(n) around each task     g.SetLimit(n), or gather.Map(ctx, items, n, fn)
//	python -m asyncio ps / pstree PID         gather ps URL, gather.WriteTasks(w, gather.FormatText)
//	CancelledError                            context.Canceled, and the cause from context.Cause
//
// # Differences from asyncio
//
// Tasks run in parallel on all cores, not interleaved on one thread, so
// shared data needs the usual care. Cancellation is cooperative and travels
// by context: a task function sees it through ctx.Done(), and a function
// that never looks at its context runs to its end. [All] cancels the other
// tasks on the first error and waits for them, where Python's gather leaves
// them running.
//
// # Groups and their policies
//
// A [Group] waits for all its children and keeps their errors. Its
// [Policy] says what a failure or a success does: [FailFast] (the default,
// like asyncio.TaskGroup: the first failure cancels the siblings),
// [Supervise] (each child runs to its end), [FirstSuccess] (the first
// success cancels the rest and is the group's value, [Winner]; [Hedge] is
// built on it) and [Quorum] (k successes are enough). [Group.SetLimit]
// bounds how many children run at once, [Group.TryGo] starts one only if a
// slot is free, and [Shield] starts one that the group's cancellation
// does not stop, which the group still waits for. A limit of 0 means no
// limit, for SetLimit, [Map] and [Stream] alike.
//
// # Seeing the tasks
//
// A task, group child or group can carry a name ([Name]). It shows in its
// [*PanicError], in the report of its unread error, as a pprof label on
// its goroutine (CPU and goroutine profiles group by task) and, while an
// execution trace is taken, as a runtime/trace task, so that go tool trace
// shows the tree. With [SetTracking] on, every task knows its parent and
// its state: [WriteTasks] and [Tasks] give the tree of running tasks, with
// what each is doing (running, awaiting which task or group, waiting for a
// slot, sleeping, cancelled with which cause), its age and where it was
// started; package gatherhttp serves it over HTTP, as net/http/pprof serves
// profiles, and `gather ps URL` prints it from another process. Package
// gathertest fails a test that leaves a task running or an error unread,
// naming the task.
//
// # Costs
//
// A task costs a goroutine and two allocations, 80 bytes for a small
// result; its context costs nothing until the task function looks at it,
// and sleeping in it with [Sleep] costs a timer, as time.Sleep does.
// [All] and [Settle] cost nothing per task beyond the results they return,
// and no goroutine; [Wait] and [AsCompleted] cost one small allocation per
// task. Names, the task tree and
// policies cost a task nothing when they are not used; a name costs four
// small allocations (296 bytes), and tracking three (248 bytes) and about
// a microsecond of CPU a task (see BenchmarkOptions). bench_test.go
// measures all of it against errgroup, conc, pond and ants, and
// docs/library.md gives the figures.
//
// A task that waits holds its goroutine: a million tasks sleeping at once
// take about 3 KB each, 3 GB in all (3,076 MiB of peak RSS in go run
// ./bench/scale -n 1000000 -together, against 2,994 MiB for a million bare
// goroutines with a timer each). Python's asyncio holds a waiting
// coroutine in less, since it has no stack of its own. When a million waits
// need not all happen at the same moment, a bounded [Map] or [Stream] is
// the way to hold them in a few MB: a million waits of 1 ms through Map at
// limit 1,000 peak at 43 MiB of RSS, of which the 1,000 goroutines hold
// about 2 MB and the million items and results 16 MB, and take 1,000
// rounds of the wait (about 4 s on a loaded 2-core machine). Choose
// the limit from the time there is: limit × (total time / one wait) is the
// number of waits done.
package gather
