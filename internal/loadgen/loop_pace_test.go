//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// slowly answers each request after delay; a delay of -1 never answers.
func slowly(delay time.Duration) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if delay < 0 {
				io.Copy(io.Discard, br) // until the client closes
				return
			}
			time.Sleep(delay)
			if _, err := io.WriteString(c, helloResponse); err != nil {
				return
			}
		}
	}
}

// The open model runs on the event loops, with every timer: every
// request due is sent or counted as dropped, and the series counts them
// as due. (How many are late depends on the machine's load; the schedule
// is tested in fake time, its precision in bench/open.sh.)
func TestLoopOpenModel(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, quiet(helloResponse))
	for _, timer := range []LoopTimer{TimerFD, TimerDeadline, TimerPwait2} {
		t.Run(timer.String(), func(t *testing.T) {
			s := runLoops(t, t.Context(), &Plan{
				URL:         mustURL(t, "http://"+srv.addr()+"/"),
				Connections: 4,
				Rate:        1000,
				Duration:    500 * time.Millisecond,
				Timeout:     5 * time.Second,
				LoopTimer:   timer,
			})
			if s.Requests+s.Dropped != 500 || s.Errors != 0 || s.Series.Totals().Due != 500 {
				t.Errorf("%d requests, %d dropped, %d errors, %d due in the series; want 500 sent or dropped",
					s.Requests, s.Dropped, s.Errors, s.Series.Totals().Due)
			}
			if s.Generator.TargetRate != 1000 || s.Generator.SendLagMax == 0 {
				t.Errorf("generator %+v", s.Generator)
			}
			t.Logf("%s: late %d, send lag p99 %v, max %v, CPU %v per request", timer, s.Late,
				s.Generator.SendLagP99, s.Generator.SendLagMax, s.CPUPerRequest())
		})
	}
}

// -z bounds the open model on the loops too: against a server slower
// than the rate, the run ends at -z plus the last responses, and the
// requests it could not send are dropped, not sent late after the end.
func TestLoopOpenDeadline(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, slowly(100*time.Millisecond))
	start := time.Now()
	s := runLoops(t, t.Context(), &Plan{
		URL:         mustURL(t, "http://"+srv.addr()+"/"),
		Connections: 2,
		Rate:        1000,
		Duration:    500 * time.Millisecond,
		Timeout:     30 * time.Second, // a run that waited for it would take that long
	})
	took := time.Since(start)
	// 2 connections at 100 ms a request: about 10 requests in 500 ms;
	// before -z bounded the run, the other 490 were sent for 25 s more.
	// It takes about 600 ms; 15 s leaves room for a loaded machine (5.4 s
	// seen at load 14).
	if s.Requests > 20 || s.Requests+s.Dropped != 500 || took > 15*time.Second {
		t.Errorf("%d requests, %d dropped in %v; want about 10, the rest dropped, in about 600 ms", s.Requests, s.Dropped, took)
	}
	if w := strings.Join(s.Generator.Warnings, "\n"); !strings.Contains(w, "due and never sent") {
		t.Errorf("warnings %q", w)
	}
}

// Requests in flight at -z get at most -t.
func TestLoopOpenTimeoutAtEnd(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, slowly(-1))
	start := time.Now()
	s := runLoops(t, t.Context(), &Plan{
		URL:         mustURL(t, "http://"+srv.addr()+"/"),
		Connections: 2,
		Rate:        100,
		Duration:    300 * time.Millisecond,
		Timeout:     300 * time.Millisecond,
	})
	// About 600 ms; without the bound, the requests would wait for ever.
	if took := time.Since(start); took > 15*time.Second || s.ErrorKinds[report.ErrTimeout] != s.Requests || s.Requests < 2 {
		t.Errorf("%d requests, errors %v, in %v; want every one timed out, within about 600 ms", s.Requests, s.ErrorKinds, took)
	}
}

// A ramp of connections keeps them: ramping up, down to nothing and up
// again opens each connection once.
func TestLoopConnectionRampKeepsConnections(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, quiet(helloResponse))
	s := runLoops(t, t.Context(), &Plan{
		URL: mustURL(t, "http://"+srv.addr()+"/"),
		ConnectionStages: []Stage{
			{Duration: 200 * time.Millisecond, Target: 6},
			{Duration: 200 * time.Millisecond, Target: 0, Step: true},
			{Duration: 200 * time.Millisecond, Target: 6, Step: true},
		},
		Timeout: 5 * time.Second,
	})
	if got := srv.conns.Load(); got != 6 || s.Connections != 6 || s.Requests == 0 || s.Errors != 0 {
		t.Errorf("%d connections accepted, %d in the report, %d requests, %d errors; want 6, 6, some, 0",
			got, s.Connections, s.Requests, s.Errors)
	}
}

// A segment on the event loops follows the whole run's ramp of
// connections: segment 1 of 4's first connection is the ramp's second,
// which a ramp from 0 to 8 over 4 s reaches at 1 s (a ramp of the
// segment's share, from 0 to 2, would reach it at 2 s; the whole ramp
// with the segment's own numbering, at 0.5 s).
func TestLoopSegmentFollowsTheWholeRamp(t *testing.T) {
	t.Parallel()
	first := make(chan time.Time, 1)
	srv := newRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			select {
			case first <- time.Now():
			default:
			}
			if _, err := io.WriteString(c, helloResponse); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	at := time.Now().Add(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		s, err := Run(ctx, &Plan{
			URL:              mustURL(t, "http://"+srv.addr()+"/"),
			ConnectionStages: []Stage{{Duration: 4 * time.Second, Target: 8}},
			StartAt:          at,
			Segment:          Segment{Index: 1, Count: 4, Run: "ramp"},
			Timeout:          5 * time.Second,
		})
		if err == nil && !strings.Contains(s.Generator.Engine, "event loop") {
			err = fmt.Errorf("engine %q, want the event loops", s.Generator.Engine)
		}
		done <- err
	}()
	var got time.Time
	select {
	case got = <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no request in 10 s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := got.Sub(at); d < 950*time.Millisecond || d > 1700*time.Millisecond {
		t.Errorf("the first request came %v after the start, want about 1 s", d)
	}
}

// Where requests share a wake-up, a loop claims those due within its
// slack together, one per free connection: 10,000 req/s and 500 µs make
// 5; at 1,000 req/s each goes alone; a segment claims from its share.
func TestLoopClaimsTogether(t *testing.T) {
	t0 := time.Now()
	for _, tt := range []struct {
		rate     float64
		segments int
		idle     int
		want     int64
	}{
		{10000, 0, 8, 5},
		{10000, 0, 2, 2},
		{10000, 2, 8, 2},
		{1000, 0, 8, 1},
	} {
		p := &Plan{Rate: tt.rate, Connections: 8, Duration: time.Second, Segment: Segment{Count: tt.segments}}
		pc := &loopPacer{run: &run{plan: p, t0: t0, sched: newSchedule(p)}, open: true,
			idle: make([]*loopConn, tt.idle), timer: loopTimer{slack: defaultSlack, auto: true}}
		if got := pc.claimable(t0); got != tt.want {
			t.Errorf("%v req/s over %d segments, %d free connections: claims %d at once, want %d", tt.rate, tt.segments, tt.idle, got, tt.want)
		}
	}
}

// An epoll event on a connection the pacer holds idle (an EPOLLOUT edge
// as the ACK of its last request frees its send buffer) steps it again:
// it stays held once. Held twice, the open model took it for a request
// while it carried another, or end retired it mid-request, and the run
// ended one answer short (TestOpenModelOverTLSAndHTTP2/HTTPS, 19 of 20).
func TestLoopHoldsAnIdleConnectionOnce(t *testing.T) {
	for _, tt := range []struct {
		name string
		pace *loopPacer
	}{
		{"open", &loopPacer{open: true}},
		{"ramp", &loopPacer{run: &run{ramp: newProfile(0, nil), t0: time.Now()}, place: func(*loopConn) int { return 0 }}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := &eventLoop{conns: []loopConn{{fd: -1}}, active: 1, pace: tt.pace}
			c := &l.conns[0]
			l.step(c) // idle: the pacer takes it
			l.step(c) // an event on it while held
			if len(tt.pace.idle) != 1 {
				t.Fatalf("held %d times, want once", len(tt.pace.idle))
			}
			tt.pace.end(l)
			l.step(c) // retired: stays so
			if c.state != connRetired || l.active != 0 || len(tt.pace.idle) != 0 {
				t.Errorf("after end: state %d, active %d, %d held; want retired, 0, 0", c.state, l.active, len(tt.pace.idle))
			}
		})
	}
}

// The open model on the event loops allocates nothing per request: a GC
// that it provoked would stop the loops for as long as its pauses, and
// send what fell due meanwhile late. A run of 3,000 requests may allocate
// no more than one of 300 but for a few (the runtime's own, a timer).
func TestLoopOpenModelNoAllocsPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	srv := newRawServer(t, quiet(helloResponse))
	u := mustURL(t, "http://"+srv.addr()+"/")
	mallocs := func(n int64) uint64 {
		var s *report.Summary
		count := mallocsDuring(func() {
			s = runLoops(t, t.Context(), &Plan{URL: u, Connections: 4, Rate: 20000, Requests: n, Timeout: 5 * time.Second})
		})
		if s.Requests != n || s.Errors != 0 {
			t.Fatalf("%d requests, %d errors; want %d, 0", s.Requests, s.Errors, n)
		}
		return count
	}
	mallocs(300) // warm up: the first run's one-time allocations
	few, many := mallocs(300), mallocs(3000)
	if per := (float64(many) - float64(few)) / 2700; per > 0.05 {
		t.Errorf("%d allocations for 300 requests, %d for 3000: %.3f per request, want none", few, many, per)
	}
}

// A late request's cause is judged by when a connection was free: from
// its answer's end as the kernel timed it, not from when the loop read
// it. An answer that came 5 ms before a request's due time and sat unread
// while the loop was busy makes that request the generator's lateness;
// one that came after the due time makes it a wait for the server.
func TestLoopLateCauseFromTheKernelsTime(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name      string
		freed     []time.Duration // before now; 0: carried no answer yet
		due       time.Duration   // before now
		generator bool
	}{
		{"answer came before the due time, read after", []time.Duration{5 * time.Millisecond}, 3 * time.Millisecond, true},
		{"answer came after the due time", []time.Duration{2 * time.Millisecond}, 3 * time.Millisecond, false},
		{"no answer yet: free from its park", []time.Duration{0}, 3 * time.Millisecond, false},
		{"the earliest of two counts", []time.Duration{1 * time.Millisecond, 4 * time.Millisecond}, 3 * time.Millisecond, true},
	} {
		p := &loopPacer{open: true}
		for _, ago := range tt.freed {
			c := &loopConn{}
			if ago > 0 {
				c.freed = now.Add(-ago)
			}
			p.park(c, now)
		}
		if got := p.generatorLate(now.Add(-tt.due)); got != tt.generator {
			t.Errorf("%s: generator's lateness %v, want %v (free since %v before now)", tt.name, got, tt.generator, now.Sub(p.idleFrom))
		}
	}
}
