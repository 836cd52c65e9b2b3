//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// A loop whose epoll set fails ends the run: the other loops stop too,
// even with every request of theirs hanging, and the report says why.
func TestLoopFailureStopsTheOthers(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		c.Read(make([]byte, 1)) // until the client or the cleanup closes it
	})
	p := &Plan{URL: mustURL(t, "http://"+srv.addr()+"/"), Connections: 2, Duration: time.Minute}
	ap := srv.ln.Addr().(*net.TCPAddr).AddrPort()
	e, err := newLoops(p, &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}, syscall.AF_INET, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.run(ctx, &run{plan: p, t0: time.Now()})
	}()
	for deadline := time.Now().Add(10 * time.Second); srv.conns.Load() < 2; { // both loops wait for their answer
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("%d connections after 10 s, want 2", srv.conns.Load())
		}
		time.Sleep(time.Millisecond)
	}
	e.loops[0].file.Close() // and with it the loop's epoll set
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("the other loop still runs 10 s after the first one failed")
		cancel()
		<-done
	}
	if pr := e.problems(); len(pr) != 1 {
		t.Errorf("problems %q, want the failed loop's", pr)
	}
}

// A context with a deadline ends the run like a cancel: the requests it
// interrupts are not counted, though a dial sees the deadline pass (and
// fails with a timeout) a moment before the context reports it.
func TestRunDeadlineDuringConnect(t *testing.T) {
	t.Parallel()
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "event loops", true: "goroutines"}[goroutines], func(t *testing.T) {
			t.Parallel()
			addr := fullBacklog(t)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			s, err := Run(ctx, &Plan{
				URL:         mustURL(t, "http://"+addr+"/"),
				Connections: 4,
				Duration:    time.Minute,
				Goroutines:  goroutines,
			})
			if err != nil {
				t.Fatal(err)
			}
			if s.Requests != 0 {
				t.Errorf("%d requests counted (errors %v), want none: all were interrupted", s.Requests, s.ErrorKinds)
			}
		})
	}
}
