package fetcher

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gather-dev/gather"
)

// TestOrder fetches URLs that take 3, 1 and 2 seconds (fake time): input
// order yields them as given, done order as they finish, and both take 3 s.
func TestOrder(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		order gather.Order
		want  []int
	}{
		{gather.InputOrder, []int{1, 2, 3}},
		{gather.CompletionOrder, []int{2, 3, 1}},
	} {
		forPaths(t, func(t *testing.T, path string) {
			f := mustNew(t, onPath(t, path, Options{Concurrency: 3, Order: tt.order, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
				d, _ := time.ParseDuration(r.URL.Query().Get("d"))
				if err := sleepReq(r, d); err != nil {
					return nil, err
				}
				return respond(r, 200, "ok"), nil
			})}))
			start := time.Now()
			recs := run(t, f, []string{"http://x/?d=3s", "http://x/?d=1s", "http://x/?d=2s"})
			var got []int
			for _, r := range recs {
				got = append(got, r.Line)
				if !r.OK() {
					t.Errorf("line %d: %s %s", r.Line, r.Error, r.Message)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("order %v: lines %v, want %v", tt.order, got, tt.want)
			}
			if d := time.Since(start); d != 3*time.Second {
				t.Errorf("took %v, want 3s", d)
			}
		})
	}
}

// TestCancel interrupts a run whose requests never answer: the requests
// under way and all the lines after them get "cancelled" records, and
// every line has its record.
func TestCancel(t *testing.T) {
	t.Parallel()
	for _, order := range []gather.Order{gather.InputOrder, gather.CompletionOrder} {
		forPaths(t, func(t *testing.T, path string) {
			f := mustNew(t, onPath(t, path, Options{Concurrency: 5, Order: order, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
				if r.URL.Path == "/fast" {
					return respond(r, 200, "ok"), nil
				}
				<-r.Context().Done()
				return nil, r.Context().Err()
			})}))
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, cancel)
			var lines []string
			for i := range 100 {
				if i < 3 {
					lines = append(lines, "http://x/fast")
				} else {
					lines = append(lines, "http://x/hang")
				}
			}
			recs := runCtx(t, ctx, f, lines)
			seen := map[int]bool{}
			for _, r := range recs {
				seen[r.Line] = true
				wantOK := r.Line <= 3
				if r.OK() != wantOK || !wantOK && r.Error != KindCancelled {
					t.Errorf("line %d: error %q %s", r.Line, r.Error, r.Message)
				}
			}
			if len(recs) != 100 || len(seen) != 100 {
				t.Fatalf("%d records for %d distinct lines, want 100", len(recs), len(seen))
			}
		})
	}
}

// TestHundredThousand feeds 100,000 lines through an in-memory transport
// and checks that exactly 100,000 records come out, each line once, in
// input order; then the same for 20,000 lines in completion order (fewer,
// to keep the test under a few seconds with -race on two cores).
func TestHundredThousand(t *testing.T) {
	for _, tt := range []struct {
		order gather.Order
		n     int
	}{
		{gather.InputOrder, 100_000},
		{gather.CompletionOrder, 20_000},
	} {
		var b strings.Builder
		for i := range tt.n {
			fmt.Fprintf(&b, "http://h%d.example/p?i=%d\n", i%7, i)
		}
		var requests atomic.Int64
		f := mustNew(t, Options{Concurrency: 500, PerHost: 100, Order: tt.order, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			return respond(r, 200, r.URL.RawQuery), nil
		})})
		seen := make([]bool, tt.n+1)
		count, prev, inOrder := 0, 0, true
		err := f.Run(context.Background(), Lines(strings.NewReader(b.String())).All(), func(r *Record) error {
			count++
			if r.Line < 1 || r.Line > tt.n || seen[r.Line] {
				return fmt.Errorf("line %d out of range or seen twice", r.Line)
			}
			seen[r.Line] = true
			if want := fmt.Sprintf("i=%d", r.Line-1); !r.OK() || r.Bytes != int64(len(want)) || !strings.HasSuffix(r.URL, want) {
				return fmt.Errorf("line %d: record %+v", r.Line, r)
			}
			inOrder = inOrder && r.Line == prev+1
			prev = r.Line
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if count != tt.n || requests.Load() != int64(tt.n) {
			t.Fatalf("order %v: %d records, %d requests; want %d", tt.order, count, requests.Load(), tt.n)
		}
		if tt.order == gather.InputOrder && !inOrder {
			t.Errorf("input order: records out of order")
		}
	}
}

// TestEmitError checks that Run stops, without leaking, when the output
// fails.
func TestEmitError(t *testing.T) {
	t.Parallel()
	forPaths(t, func(t *testing.T, path string) {
		f := mustNew(t, onPath(t, path, Options{Concurrency: 4, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/hang" {
				<-r.Context().Done()
				return nil, r.Context().Err()
			}
			return respond(r, 200, "ok"), nil
		})}))
		boom := fmt.Errorf("disk full")
		calls := 0
		err := f.Run(context.Background(), Args([]string{"http://x/", "http://x/hang", "http://x/hang", "http://x/"}).All(),
			func(r *Record) error { calls++; return boom })
		if err != boom || calls != 1 {
			t.Fatalf("Run = %v after %d emits, want %v after 1", err, calls, boom)
		}
	})
}

// TestSlowLineDoesNotStall checks that in input order a slow first line
// holds back the records after it but not their fetches, and that no more
// than Concurrency requests are ever in flight (fake time): at -c 2, a
// 10 s line and seven 1 s lines take 10 s (7 s for the fast ones on the
// second slot), not the 13 s it takes when a finished record keeps its
// slot until the slow one is emitted.
func TestSlowLineDoesNotStall(t *testing.T) {
	t.Parallel()
	forPaths(t, func(t *testing.T, path string) {
		var now, peak atomic.Int64
		f := mustNew(t, onPath(t, path, Options{Concurrency: 2, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
			n := now.Add(1)
			defer now.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			d := time.Second
			if r.URL.Path == "/slow" {
				d = 10 * time.Second
			}
			if err := sleepReq(r, d); err != nil {
				return nil, err
			}
			return respond(r, 200, "ok"), nil
		})}))
		lines := []string{"http://x/slow"}
		for range 7 {
			lines = append(lines, "http://x/fast")
		}
		start := time.Now()
		recs := run(t, f, lines)
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("took %v, want 10s", d)
		}
		if p := peak.Load(); p != 2 {
			t.Errorf("at most %d requests in flight, want 2", p)
		}
		for i, r := range recs {
			if r.Line != i+1 || !r.OK() {
				t.Errorf("record %d: line %d, error %q", i, r.Line, r.Error)
			}
		}
	})
}

// TestInputOrderEmitsPromptly checks that in input order a record is
// emitted as soon as the records before it are, not when the reorder
// window has filled (fake time): at -c 2, ten 1 s lines finish two by two,
// and line k is emitted after ceil(k/2) s.
func TestInputOrderEmitsPromptly(t *testing.T) {
	t.Parallel()
	forPaths(t, func(t *testing.T, path string) {
		f := mustNew(t, onPath(t, path, Options{Concurrency: 2, Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
			if err := sleepReq(r, time.Second); err != nil {
				return nil, err
			}
			return respond(r, 200, "ok"), nil
		})}))
		var lines []string
		for i := range 10 {
			lines = append(lines, fmt.Sprintf("http://x/%d", i))
		}
		start := time.Now()
		var got []time.Duration
		err := f.Run(context.Background(), Args(lines).All(), func(r *Record) error {
			got = append(got, time.Since(start))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := "[1s 1s 2s 2s 3s 3s 4s 4s 5s 5s]"
		if fmt.Sprint(got) != want {
			t.Errorf("records emitted at %v, want %s", got, want)
		}
	})
}

// TestStalled checks that in input order a slow line holds back the
// records after it while the fetches go on, the window widening from its
// soft size to its full one, until that is full; then the input waits,
// and Options.Stalled hears of the line once, a second after the window
// filled (fake time).
func TestStalled(t *testing.T) {
	t.Parallel()
	forPaths(t, func(t *testing.T, path string) {
		type stall struct{ line, held int }
		var stalls []stall
		f := mustNew(t, onPath(t, path, Options{Concurrency: 2,
			Stalled: func(l Line, held int) { stalls = append(stalls, stall{l.Number, held}) },
			Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
				d := 700 * time.Millisecond
				if r.URL.Path == "/slow" {
					d = 10 * time.Second
				}
				if err := sleepReq(r, d); err != nil {
					return nil, err
				}
				return respond(r, 200, "ok"), nil
			})}))
		f.softHold, f.hold = 3, 6
		lines := []string{"http://x/slow"}
		for range 10 {
			lines = append(lines, "http://x/fast")
		}
		start := time.Now()
		recs := run(t, f, lines)
		if len(recs) != 11 {
			t.Fatalf("%d records, want 11", len(recs))
		}
		// The soft window of 3 fills at once (the slow line, a fast one,
		// one ready for the next free slot) and widens to 6 at 0.1 s; that
		// fills at 1.4 s (two fast ones done, one being fetched, two
		// ready), the note comes at 2.4 s with three records held, the
		// slow line ends at 10 s, and the last five fast ones take two
		// slots 2.1 s. Without the widening there would be no note: the
		// input would wait on the soft window.
		if want := []stall{{1, 3}}; fmt.Sprint(stalls) != fmt.Sprint(want) {
			t.Errorf("stalls %v, want %v", stalls, want)
		}
		if d := time.Since(start); d != 12100*time.Millisecond {
			t.Errorf("took %v, want 12.1s", d)
		}
	})
}
