package demo

import (
	"bytes"
	"context"
	"errors"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/internal/slowserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testUnit is short, for a fast test, but long enough that timer and
// scheduling noise on a loaded 2-core machine stays well under a unit.
const testUnit = 40 * time.Millisecond

func units(n float64) time.Duration { return time.Duration(n * float64(testUnit)) }

func TestRun(t *testing.T) {
	var out bytes.Buffer
	rows, err := Run(t.Context(), Options{Unit: testUnit, Requests: 200, Out: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	t.Logf("output:\n%s", out.String())
	// Concurrently a scenario takes about its longest task, one after
	// another about the sum: the margins allow for a loaded machine, and
	// still tell the two apart.
	want := []struct {
		scenario       string
		longest, total float64 // in units
		slack          float64 // concurrently may take up to longest*slack+1
	}{
		{"3 tasks of 1, 2, 4 units (Wait)", 4, 7, 1.5},
		{"nested tasks, Wait done/pending", 4, 7, 1.5},
		{"All, results in order", 4, 7, 1.5},
		{"main returns results (1, 2, 2 units)", 2, 5, 1.5},
		{"5 HTTP requests", 5, 25, 1.5},
		// Opening 200 connections at once, with the race detector on,
		// costs some units, and on a loaded 2-core machine tens of them
		// (28.6 seen at a load average of 13); it is still far from the
		// 1000 of a sequential run.
		{"200 HTTP requests", 5, 1000, 10},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.Scenario != w.scenario {
			t.Errorf("row %d is %q, want %q", i, r.Scenario, w.scenario)
		}
		// A loaded machine adds to both (at a load average of 14, 2.8
		// units to a scenario of 2, 5.6 to one of 5): the bounds above
		// take that, and concurrently must still be well under one after
		// another.
		if r.Concurrent < units(w.longest) || r.Concurrent > units(w.longest*w.slack+3) || r.Concurrent*5 > r.Sequential*4 {
			t.Errorf("%s: concurrently %v (one after another %v), want about %v units", w.scenario, r.Concurrent, r.Sequential, w.longest)
		}
		if r.Sequential < units(w.total) || r.Sequential > units(w.total*2+2) {
			t.Errorf("%s: one after another %v, want about %v units", w.scenario, r.Sequential, w.total)
		}
	}
	text := out.String()
	for _, s := range []string{
		"Task ret: Done after 1 unit\n    Task ret: Done after 2 units\n    Task ret: Done after 4 units\n",
		"result is: hello!",
		"200 responses were: hello!",
		"scenario                                  one after another     concurrently   speed-up\n",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	// Wait returns once the first task is done, and again once all are:
	// never before their 1 and 4 units, later by what the machine's load
	// adds (on a loaded 2-core machine 1.3 units has been seen, 2.3 and
	// 6.3 for the two).
	for _, w := range []struct {
		re   string
		from float64
	}{
		{`Wait\(FirstCompleted\) after (\d+\.\d) units: done \[1\], pending \[2 4\]`, 1},
		{`Wait\(AllCompleted\)   after (\d+\.\d) units: done \[2 4\], pending \[\]`, 4},
	} {
		m := regexp.MustCompile(w.re).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("output lacks a line matching %q", w.re)
			continue
		}
		if after, _ := strconv.ParseFloat(m[1], 64); after < w.from-0.05 || after > 2*w.from+3 {
			t.Errorf("%s: after %v units, want %v or a little more", m[0], after, w.from)
		}
	}
	if n := strings.Count(text, "gather: task error was never retrieved: GET http://127.0.0.1:"); n != 5 {
		t.Errorf("output reports %d unretrieved errors, want 5", n)
	}
}

func TestRunAgainstAnotherServer(t *testing.T) {
	s, err := slowserver.Start("127.0.0.1:0", slowserver.Config{Delay: units(2)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out bytes.Buffer
	rows, err := Run(t.Context(), Options{Unit: testUnit, URL: s.URL() + "/", Requests: 20, Out: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "HTTP cells use "+s.URL()+"/, with its own delay") {
		t.Errorf("output does not name the server:\n%s", out.String())
	}
	// 5 + 5 + 20 requests for the cells, 5 failures on purpose.
	if st := s.Handler().Stats(); st.ByStatus[200] != 30 || st.ByStatus[500] != 5 {
		t.Errorf("server stats %v, want 30 answered 200 and 5 answered 500", st)
	}
	r := rows[4] // the 5 requests, with this server's delay of 2 units
	// The bound that TestRun gives a loaded machine: the longest wait plus 3
	// units (4.3 units seen at a load average of 10), and under 4/5 of the
	// time one after another.
	if r.Sequential < units(10) || r.Concurrent < units(2) || r.Concurrent > units(5) || r.Concurrent*5 > r.Sequential*4 {
		t.Errorf("5 requests with a 2-unit delay: %v one after another, %v concurrently; want 10 and 2 units", r.Sequential, r.Concurrent)
	}
}

// A URL with a path is used as given; the failing cell still asks
// /status/500 of the same server.
func TestRunAgainstAPath(t *testing.T) {
	s, err := slowserver.Start("127.0.0.1:0", slowserver.Config{Delay: units(8)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out bytes.Buffer
	rows, err := Run(t.Context(), Options{Unit: testUnit, URL: s.URL() + "/delay/" + units(1).String() + "?x=1", Requests: 20, Out: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if st := s.Handler().Stats(); st.ByStatus[200] != 30 || st.ByStatus[500] != 5 {
		t.Errorf("server stats %v, want 30 answered 200 and 5 answered 500", st)
	}
	if !strings.Contains(out.String(), "    waiting for "+s.URL()+"/status/500\n") {
		t.Errorf("the failing cell does not ask /status/500 of the server:\n%s", out.String())
	}
	r := rows[4] // 5 requests of /delay/1 unit, not of / (8 units)
	if r.Sequential < units(5) || r.Sequential > units(20) {
		t.Errorf("5 requests of a 1-unit path took %v one after another; want 5 units", r.Sequential)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	stop := errors.New("stop")
	var err error
	var out bytes.Buffer
	begin := time.Now()
	// Under gather.Run, as in the CLI, a task whose error the demo left
	// unread when it stopped would be reported.
	var (
		mu        sync.Mutex
		unread    []error
		cancelled time.Time // when the cancellation came: a loaded machine runs the timer late
	)
	defer gather.SetUnretrievedHandler(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		unread = append(unread, err)
	})()
	var rows []Row
	gather.Run(func(ctx context.Context) error {
		ctx, cancel := context.WithCancelCause(ctx)
		time.AfterFunc(units(6), func() { // in the third cell
			mu.Lock()
			cancelled = time.Now()
			mu.Unlock()
			cancel(stop)
		})
		rows, err = Run(ctx, Options{Unit: testUnit, Out: &out})
		return nil
	})
	mu.Lock()
	if len(unread) > 0 {
		t.Errorf("the stopped demo left errors unread: %v", unread)
	}
	mu.Unlock()
	if !errors.Is(err, stop) {
		t.Errorf("Run = %v, want the cause of the cancellation", err)
	}
	// From the cancellation itself, not from the start (the timer of 6
	// units fires late on a loaded machine), and generously: at load 5 the
	// whole took 12.4 units. That the demo stopped in the third cell is
	// checked below.
	mu.Lock()
	if took := time.Since(cancelled); cancelled.IsZero() || took > units(10) {
		t.Errorf("Run took %v after the cancellation (%v after the start)", took, time.Since(begin))
	}
	mu.Unlock()
	if len(rows) != 1 || !strings.Contains(out.String(), "[3] nested") || strings.Contains(out.String(), "\n[4] ") {
		t.Errorf("want the demo stopped in cell 3 with one row, got %d rows:\n%s", len(rows), out.String())
	}
	if !strings.Contains(out.String(), "stopped after") {
		t.Errorf("output does not say the demo stopped:\n%s", out.String())
	}
}

func TestWaitForServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := waitForServer(t.Context(), "http://"+addr, time.Second); err != nil {
		t.Errorf("a listening server: %v", err)
	}
	ln.Close()
	begin := time.Now()
	if err := waitForServer(t.Context(), "http://"+addr, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no server at") {
		t.Errorf("no server: %v, want an error saying so", err)
	}
	if took := time.Since(begin); took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("gave up after %v, want 200ms", took)
	}
	for _, bad := range []string{"127.0.0.1:5000", "ftp://x", "http://"} {
		if err := waitForServer(t.Context(), bad, time.Second); err == nil {
			t.Errorf("waitForServer(%q) = nil, want a bad URL error", bad)
		}
	}
}
