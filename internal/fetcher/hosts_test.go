package fetcher

import (
	"context"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

// TestHostsForget checks that a crawl over many hosts keeps state only for
// the recent ones: 5,000 hosts, one request each, 1 ms apart, paced at 10
// requests/s per host, so about 100 hosts are still paced at any moment.
func TestHostsForget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHosts(2, 10)
		peak := 0
		for i := range 5000 {
			name := fmt.Sprintf("h%d.example:80", i)
			if err := h.acquire(context.Background(), name); err != nil {
				t.Fatal(err)
			}
			h.release(name)
			peak = max(peak, h.size())
			time.Sleep(time.Millisecond)
		}
		if peak > 1024+2*100 {
			t.Errorf("%d host entries at the peak, want them swept", peak)
		}
	})
}

// TestHostsCancel checks that a waiter for a full host gives up when its
// context ends, and leaves no entry behind.
func TestHostsCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHosts(1, 0)
		if err := h.acquire(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := h.acquire(ctx, "a"); err == nil {
			t.Fatal("second acquire of a host limited to 1 succeeded")
		}
		h.release("a")
		if n := h.size(); n != 0 {
			t.Errorf("%d entries left", n)
		}
	})
}

func TestHostsInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate float64
		want time.Duration
	}{
		{0, 0},
		{-1, 0},
		{4, 250 * time.Millisecond},
		{1e-30, 1 << 62},
		{math.Inf(1), 0},
	}
	for _, tt := range tests {
		if got := newHosts(0, tt.rate).interval; got != tt.want {
			t.Errorf("rate %v: interval %v, want %v", tt.rate, got, tt.want)
		}
	}
}
