package gather_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gather-dev/gather"
)

// FailFast, the default: the first failure cancels the other children,
// which see it as their context's cause, and Wait returns the failure, not
// the errors that the cancellation caused.
func ExampleFailFast() {
	g := gather.NewGroup(context.Background())
	g.SetPolicy(gather.FailFast()) // the same as setting none
	g.Go(func(ctx context.Context) error {
		<-ctx.Done() // a long download, stopped by its sibling's failure
		fmt.Println("download stopped:", context.Cause(ctx))
		return ctx.Err()
	}, gather.Name("download"))
	g.Go(func(ctx context.Context) error {
		return errors.New("checksum: mismatch")
	}, gather.Name("verify"))
	fmt.Println("Wait:", g.Wait())
	// Output:
	// download stopped: gather: a child of the group failed: checksum: mismatch
	// Wait: checksum: mismatch
}

// Supervise: one job failing does not stop the others, and Wait returns
// every error.
func ExampleSupervise() {
	g := gather.NewGroup(context.Background())
	g.SetPolicy(gather.Supervise())
	for _, job := range []string{"thumbnails", "index", "backup"} {
		g.Go(func(ctx context.Context) error {
			if job == "index" {
				return errors.New("index: disk full")
			}
			return nil
		}, gather.Name(job))
	}
	fmt.Println("Wait:", g.Wait())
	// Output:
	// Wait: index: disk full
}

// FirstSuccess: ask every mirror, keep the first answer, cancel the rest.
func ExampleFirstSuccess() {
	download := func(ctx context.Context, mirror string) (string, error) {
		switch mirror {
		case "eu":
			return "", errors.New("eu: 503 Service Unavailable") // a failure cancels nothing
		case "asia":
			<-ctx.Done() // slow: still downloading when the winner is known
			fmt.Println("asia stopped:", context.Cause(ctx))
			return "", ctx.Err()
		}
		return "the file, from " + mirror, nil
	}
	g := gather.NewGroup(context.Background())
	g.SetPolicy(gather.FirstSuccess())
	// asia first: a task spawned after the winner is known does not run
	// at all, and this one is to show how a loser is stopped.
	for _, mirror := range []string{"asia", "eu", "us"} {
		gather.Spawn(g, func(ctx context.Context) (string, error) { return download(ctx, mirror) })
	}
	body, err := gather.Winner[string](g) // waits for every mirror, as Wait does
	fmt.Println(body, err)
	// Output:
	// asia stopped: gather: the group has the successes it needs
	// the file, from us <nil>
}

// Quorum: a write is done once 3 of 5 replicas have it.
func ExampleQuorum() {
	g := gather.NewGroup(context.Background())
	g.SetPolicy(gather.Quorum(3))
	for replica := range 5 {
		gather.Spawn(g, func(ctx context.Context) (int, error) {
			switch replica {
			case 3:
				return 0, errors.New("replica 3 is down")
			case 4:
				<-ctx.Done() // a slow replica, cancelled once the quorum is there
				return 0, ctx.Err()
			}
			return replica, nil
		})
	}
	acked, err := gather.Winners[int](g)
	slices.Sort(acked) // Winners come in the order they succeeded
	fmt.Println("acknowledged by", acked, err)

	g = gather.NewGroup(context.Background())
	g.SetPolicy(gather.Quorum(3))
	for replica := range 3 {
		g.Go(func(ctx context.Context) error {
			if replica > 0 {
				return fmt.Errorf("replica %d is down", replica)
			}
			return nil
		})
	}
	err = g.Wait()
	fmt.Println(errors.Is(err, gather.ErrNoQuorum))
	// Output:
	// acknowledged by [0 1 2] <nil>
	// true
}

// Hedge: a second request goes out if the first has not answered within
// the delay, and the first answer wins.
func ExampleHedge() {
	var attempts atomic.Int32
	get := func(ctx context.Context) (string, error) {
		n := attempts.Add(1)
		if n == 1 {
			<-ctx.Done() // the first replica is stuck
			fmt.Println("attempt 1 stopped:", context.Cause(ctx))
			return "", ctx.Err()
		}
		return fmt.Sprintf("answer from attempt %d", n), nil
	}
	answer, err := gather.Hedge(context.Background(), 20*time.Millisecond, get)
	fmt.Println(answer, err)
	// Output:
	// attempt 1 stopped: gather: the group has the successes it needs
	// answer from attempt 2 <nil>
}

// TryGo starts a child only if a slot is free: here the second of two
// refreshes is dropped while the first runs.
func ExampleGroup_TryGo() {
	g := gather.NewGroup(context.Background())
	g.SetLimit(1)
	release := make(chan struct{})
	fmt.Println(g.TryGo(func(ctx context.Context) error { <-release; return nil }))
	fmt.Println(g.TryGo(func(ctx context.Context) error { return nil }))
	close(release)
	fmt.Println(g.Wait())
	// Output:
	// true
	// false
	// <nil>
}

// Shield: the group is cancelled, but the save it started runs to its end,
// and Wait waits for it.
func ExampleShield() {
	g := gather.NewGroup(context.Background())
	g.Go(func(ctx context.Context) error {
		time.Sleep(20 * time.Millisecond) // cancellation does not reach it
		fmt.Println("state saved; context:", ctx.Err())
		return nil
	}, gather.Shield(), gather.Name("save"))
	g.Go(func(ctx context.Context) error {
		<-ctx.Done()
		fmt.Println("worker stopped")
		return ctx.Err()
	})
	g.Cancel()
	fmt.Println("Wait:", g.Wait())
	// Unordered output:
	// worker stopped
	// state saved; context: <nil>
	// Wait: <nil>
}
