// Package gather is Python's asyncio task model in Go: typed tasks you
// start and await, gathering their results in order, waiting for the first
// to finish or fail, timeouts, cancellation, task groups with a limit, and
// an asyncio.run-like entry point.
//
// Goroutines already run concurrently; what gather adds is the part asyncio
// users miss: a task is a value that holds its result, every goroutine it
// starts has an owner that waits for it, and no error is ever silently
// lost. A task whose error is never read is reported, as Python reports
// "Task exception was never retrieved"; as in Python, a task that merely
// stopped because it was cancelled is not.
//
// # From asyncio to gather
//
//	asyncio                                   gather
//	----------------------------------------  ----------------------------------------------
//	asyncio.run(main())                       gather.Run(main)
//	asyncio.create_task(coro) / ensure_future gather.Go(ctx, fn)
//	await task                                task.Await(ctx)
//	task.done() / task.result()               task.Result()
//	task.cancel()                             task.Cancel(cause)
//	asyncio.gather(*tasks)                    gather.All(ctx, tasks...)
//	gather(*tasks, return_exceptions=True)    gather.Settle(ctx, tasks...)
//	asyncio.wait(tasks, return_when=...)      gather.Wait(ctx, tasks, gather.FirstCompleted)
//	asyncio.wait(tasks, timeout=t)            gather.Wait(ctx with deadline, tasks, gather.AllCompleted)
//	asyncio.as_completed(tasks)               for t := range gather.AsCompleted(ctx, tasks...)
//	asyncio.wait_for(task, t)                 gather.WaitFor(ctx, task, t)
//	asyncio.sleep(t)                          gather.Sleep(ctx, t)
//	async with asyncio.TaskGroup() as tg      g := gather.NewGroup(ctx); g.Go(fn); g.Wait()
//	tg.create_task(coro)                      gather.Spawn(g, fn)
//	asyncio.Semaphore(n) around each task     g.SetLimit(n), or gather.Map(ctx, items, n, fn)
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
// # Costs
//
// A task is a goroutine plus a few small allocations (see the benchmarks in
// bench_test.go); waiting for many tasks at once ([All], [Wait],
// [AsCompleted]) costs one channel and no goroutine per task.
package gather
