package slowserver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// alarmSleep sleeps on the process's alarm, or skips the test where the
// system has none.
func alarmSleep(t testing.TB, ctx context.Context, d time.Duration) bool {
	a := theAlarm()
	if a == nil {
		t.Skip("no precise timer on this system: Config.PreciseTimer uses runtime timers")
	}
	return a.sleep(ctx, time.Now().Add(d))
}

// TestSleepNeverEarly sleeps many delays at once, shorter ones started
// after longer ones (so that the alarm re-arms for an earlier due time),
// and checks that each lasted at least its delay, and not hours: a sleeper
// the alarm forgot would hang the test instead.
func TestSleepNeverEarly(t *testing.T) {
	delays := []time.Duration{50 * time.Millisecond, 30 * time.Millisecond, 1 * time.Millisecond,
		10 * time.Millisecond, 20 * time.Millisecond, 5 * time.Millisecond, 40 * time.Millisecond, 1}
	var wg sync.WaitGroup
	for round := range 20 {
		for i, d := range delays {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				if !alarmSleep(t, context.Background(), d) {
					t.Errorf("sleep(%v) reported cancelled", d)
				}
				if took := time.Since(start); took < d {
					t.Errorf("round %d, sleeper %d: sleep(%v) returned after %v", round, i, d, took)
				}
			}()
			time.Sleep(time.Duration(i) * 100 * time.Microsecond)
		}
	}
	wg.Wait()
	assertIdle(t)
}

// TestSleepEarlierAfterLater: a sleeper due an hour from now must not hold
// back one due in 10 ms that comes after it.
func TestSleepEarlierAfterLater(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	long := make(chan bool)
	go func() { long <- alarmSleep(t, ctx, time.Hour) }()
	time.Sleep(10 * time.Millisecond) // the hour is armed first (or soon: either order must work)
	done := make(chan bool)
	go func() { done <- alarmSleep(t, context.Background(), 10*time.Millisecond) }()
	select {
	case ok := <-done:
		if !ok {
			t.Error("the 10 ms sleep reported cancelled")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the 10 ms sleep did not end within 30 s behind an hour's sleep")
	}
	cancel()
	if <-long {
		t.Error("the cancelled hour's sleep reported done")
	}
	assertIdle(t)
}

// TestSleepCancelled: a cancelled sleep returns false at once, and the last
// sleeper's cancellation ends the alarm's goroutine instead of leaving it
// until the cancelled due time (goleak in TestMain would see it).
func TestSleepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if alarmSleep(t, ctx, time.Hour) {
				t.Error("a cancelled sleep reported done")
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	wg.Wait()
	assertIdle(t)
	if alarmSleep(t, ctx, time.Hour) {
		t.Error("a sleep on a context already done reported done")
	}
	assertIdle(t)
}

// TestPreciseTimerHandler serves / and /delay/{d} with the precise timer
// over a real connection: each answer comes no sooner than its delay, and
// a client that goes away mid-delay frees its sleeper.
func TestPreciseTimerHandler(t *testing.T) {
	if theAlarm() == nil {
		t.Skip("no precise timer on this system")
	}
	srv := httptest.NewServer(New(Config{Delay: 30 * time.Millisecond, PreciseTimer: true}))
	defer srv.Close()
	for _, path := range []string{"/", "/delay/15ms", "/delay/0.005"} {
		want := map[string]time.Duration{"/": 30 * time.Millisecond, "/delay/15ms": 15 * time.Millisecond, "/delay/0.005": 5 * time.Millisecond}[path]
		start := time.Now()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if took := time.Since(start); took < want || string(body) != "hello!" {
			t.Errorf("GET %s: %q after %v, want hello! after at least %v", path, body, took, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/delay/1h", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("GET /delay/1h answered within 50 ms")
	}
	srv.CloseClientConnections()
	assertIdle(t)
}

// assertIdle waits (generously) for the alarm to have no sleeper and no
// goroutine.
func assertIdle(t *testing.T) {
	t.Helper()
	a := theAlarm()
	if a == nil {
		return // runtime timers: nothing of ours to leak
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		n, running := len(a.q), a.running
		a.mu.Unlock()
		if n == 0 && !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alarm still has %d sleepers, goroutine running %v, 10 s after the last sleep", n, running)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkSleepLate reports how late a 20 ms sleep ends, on the alarm and
// on a runtime timer, with 200 sleepers at once (per GOMAXPROCS) as a server has them:
//
//	go test -run - -bench SleepLate ./internal/slowserver
func BenchmarkSleepLate(b *testing.B) {
	const d = 20 * time.Millisecond
	run := func(b *testing.B, sleepFor func(time.Duration)) {
		var mu sync.Mutex
		var late time.Duration
		var n int
		b.SetParallelism(200) // per GOMAXPROCS
		b.RunParallel(func(pb *testing.PB) {
			var mine time.Duration
			var k int
			for pb.Next() {
				start := time.Now()
				sleepFor(d)
				mine += time.Since(start) - d
				k++
			}
			mu.Lock()
			late += mine
			n += k
			mu.Unlock()
		})
		b.ReportMetric(float64(late.Microseconds())/float64(max(n, 1)), "µs-late/op")
	}
	b.Run("alarm", func(b *testing.B) {
		run(b, func(d time.Duration) { alarmSleep(b, context.Background(), d) })
	})
	b.Run("runtime", func(b *testing.B) {
		run(b, func(d time.Duration) { time.Sleep(d) })
	})
}
