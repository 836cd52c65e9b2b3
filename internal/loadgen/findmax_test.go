package loadgen

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gather-dev/gather/internal/targets"
)

// fifoServer answers one request at a time, each in 1/capacity: a server
// whose capacity is known, so that a capacity search has an answer.
type fifoServer struct {
	mu       sync.Mutex
	each     time.Duration
	nextFree time.Time
}

type fifoDoer struct{ s *fifoServer }

func (d fifoDoer) Do(ctx context.Context, _ *targets.Request) (int, int64, error) {
	d.s.mu.Lock()
	now := time.Now()
	done := now.Add(d.s.each)
	if d.s.nextFree.After(now) {
		done = d.s.nextFree.Add(d.s.each)
	}
	d.s.nextFree = done
	d.s.mu.Unlock()
	t := time.NewTimer(done.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return 200, 13, nil
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

func (fifoDoer) Close() error { return nil }

// A server that takes 4,000 req/s: the search doubles from 1,000 to
// 8,000, then bisects to within 5% below 4,000.
func TestFindMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fifoServer{each: time.Second / 4000}
		p := &Plan{URL: &url.URL{Scheme: "http", Host: "fake"}, Connections: 500,
			newDoer: func(context.Context, int) (Doer, error) { return fifoDoer{srv}, nil }}
		var seen []float64
		c, err := FindMax(t.Context(), p, SLO{P99: 20 * time.Millisecond}, Search{Hold: time.Second},
			func(st Step) { seen = append(seen, st.Rate) })
		if err != nil {
			t.Fatal(err)
		}
		var rates []float64
		for _, st := range c.Steps {
			rates = append(rates, st.Rate)
			t.Logf("%6.0f req/s: held %v, p99 %v, %s", st.Rate, st.Held, st.Summary.Response().P99, st.Why)
		}
		if len(seen) != len(rates) || rates[0] != 1000 || rates[1] != 2000 || rates[3] != 8000 {
			t.Errorf("rates tried %v (seen %v), want 1000, 2000, 4000, 8000, then a bisection", rates, seen)
		}
		if c.Max < 3800 || c.Max > 4000 {
			t.Errorf("max %v req/s, want within 5%% below 4000: %s", c.Max, c.Why)
		}
		if !strings.Contains(c.Why, "within 5% of each other") {
			t.Errorf("why %q", c.Why)
		}
		for _, st := range c.Steps {
			if !st.Held && !strings.Contains(st.Why, "p99") {
				t.Errorf("%v req/s failed for %q, want its p99", st.Rate, st.Why)
			}
		}
	})
}

// Too few connections end the search, saying so, rather than blaming the
// server.
func TestFindMaxTooFewConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fakePlan(Plan{Connections: 2}, constant(15*time.Millisecond))
		c, err := FindMax(t.Context(), p, SLO{ErrorRate: 0.01}, Search{Start: 100, Hold: time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// 2 connections of 15 ms carry 133 req/s: 100 holds, 200 is
		// late.
		if c.Max != 100 || len(c.Steps) != 2 || !strings.Contains(c.Why, "limited by the connections") {
			t.Errorf("max %v after %d steps: %s", c.Max, len(c.Steps), c.Why)
		}
	})
}

func TestFindMaxNeedsSLO(t *testing.T) {
	t.Parallel()
	_, err := FindMax(t.Context(), fakePlan(Plan{Connections: 1}, constant(0)), SLO{}, Search{}, nil)
	if !errors.Is(err, ErrNoSLO) {
		t.Errorf("FindMax without an SLO: %v", err)
	}
}

type refusingDoer struct{}

func (refusingDoer) Do(context.Context, *targets.Request) (int, int64, error) {
	return 0, 0, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

func (refusingDoer) Close() error { return nil }

// A server that answers nothing (a closed port) ends the search at its
// first step, saying so, rather than halving the rate to 1 req/s with
// "p99 0 ms" as the reason each time.
func TestFindMaxNothingAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &Plan{URL: &url.URL{Scheme: "http", Host: "fake"}, Connections: 10,
			newDoer: func(context.Context, int) (Doer, error) { return refusingDoer{}, nil }}
		c, err := FindMax(t.Context(), p, SLO{P99: 20 * time.Millisecond}, Search{Start: 100, Hold: time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Max != 0 || len(c.Steps) != 1 || c.Steps[0].Held {
			t.Fatalf("max %v after %d steps: %s", c.Max, len(c.Steps), c.Why)
		}
		want := "no request was answered: 100 failed, most refused"
		if st := c.Steps[0]; st.Why != want || !strings.Contains(c.Why, "stopped at 100.0 req/s: "+want) {
			t.Errorf("step: %q, search: %q; want %q", st.Why, c.Why, want)
		}
	})
}
