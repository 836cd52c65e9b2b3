//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// The kernel's receive stamp is the time the bytes came, not the time
// they were read: what lets a loop read an answer at its next wake-up and
// still time it honestly.
func TestReceiveStamps(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	f, err := client.(*net.TCPConn).File() // a blocking duplicate
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	enableStamps(fd)
	var oob [64]byte
	buf := make([]byte, 64)
	// The kernel turns receive stamps on a moment after the first socket
	// of the system asks for them (net_enable_timestamp defers it to a
	// work queue, which a loaded machine runs late): the bytes that come
	// before are not stamped. Wait for a stamped one.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := server.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		n, stamp, err := rawReadStamped(fd, buf, oob[:])
		if err != nil || n != 1 {
			t.Fatalf("read %d, %v", n, err)
		}
		if stamp != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no receive stamp in 10 s")
		}
		time.Sleep(time.Millisecond)
	}

	sent := time.Now()
	if _, err := server.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the loop asleep meanwhile
	n, stamp, err := rawReadStamped(fd, buf, oob[:])
	read := time.Now()
	if err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if stamp == 0 {
		t.Fatal("no receive stamp")
	}
	at := received(stamp, sent)
	// Generous margins for a loaded machine: the write is stamped as it
	// happens, the read 300 ms later.
	if at.Sub(sent) > 150*time.Millisecond || read.Sub(at) < 150*time.Millisecond {
		t.Errorf("stamped %v after the write and %v before the read; want the write's time", at.Sub(sent), read.Sub(at))
	}
	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err = rawRead(fd, buf); err != nil || n != 1 {
		t.Fatalf("read %d, %v", n, err)
	}
	if got := stampOf(nil); got != 0 {
		t.Errorf("stampOf(nil) = %d", got)
	}
}

// runOneLoop runs p on one event loop of conns connections, with the
// answers left for a wake-up up to window ahead, and returns the summary
// and the loop.
func runOneLoop(t *testing.T, srv *rawServer, p *Plan, conns int, window time.Duration) (*report.Summary, *eventLoop) {
	t.Helper()
	ap := srv.ln.Addr().(*net.TCPAddr).AddrPort()
	e, err := newLoops(p, &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}, syscall.AF_INET, conns, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	l := e.loops[0]
	if l.reap == nil {
		t.Fatal("the loop does not reap answers")
	}
	l.reap.window = window
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	e.run(ctx, &run{plan: p, t0: time.Now(), sched: newSchedule(p)})
	return report.Merge(e.recs...), l
}

// A loop whose next due time is near leaves the answers in the kernel
// and reads them at that wake-up, timed by the kernel: 50 req/s on one
// loop, answers left for up to 25 ms, and still the response times are
// the server's, not the 20 ms the loop slept. The run lasts 2 s, so that
// a loop starved for part of it by a loaded machine (22 of 50 in 1 s
// seen, at load 14) still has 40 answers to judge.
func TestLoopReapsAnswersHonestly(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, quiet(helloResponse))
	p := &Plan{URL: mustURL(t, "http://"+srv.addr()+"/"), Connections: 4, Rate: 50, Duration: 2 * time.Second, Timeout: 5 * time.Second}
	s, l := runOneLoop(t, srv, p, 4, 25*time.Millisecond)
	if s.Requests < 40 || s.Errors != 0 {
		t.Fatalf("%d requests, %d errors; want about 100 answered", s.Requests, s.Errors)
	}
	if l.reap.waits < 20 {
		t.Errorf("the loop waited for its timer alone %d times; want most of its waits", l.reap.waits)
	}
	if p50 := s.Response().P50; p50 > 10*time.Millisecond {
		t.Errorf("response p50 %v: the loop's sleep, not the server's time", p50)
	}
}

// A loop with fewer free connections than its next wake-up's batch
// still leaves the answers for that wake-up (it reads them before it
// sends, so no request waits for a connection because of it), rather
// than waking for each: at 20,000 req/s, 10 requests share a wake-up, and
// one free connection is enough. With none it has no pacing wake-up, and
// the answers wake it.
func TestLoopSpareWithFewerConnectionsThanABatch(t *testing.T) {
	t.Parallel()
	plan := &Plan{Connections: 50, Rate: 20000, Duration: time.Second}
	r := &run{plan: plan, t0: time.Now(), sched: newSchedule(plan)}
	p := &loopPacer{run: r, open: true, timer: loopTimer{slack: defaultSlack, auto: true}}
	if n := p.batch(time.Now()); n != 10 {
		t.Fatalf("batch %d at 20,000 req/s, want 10", n)
	}
	if p.spare() {
		t.Error("spare with no free connection")
	}
	p.idle = []*loopConn{{}}
	if !p.spare() {
		t.Error("not spare with a free connection for the next request: the loop would wake for every answer")
	}
}

// A response too large for the kernel to hold makes the loop read the
// answers as they come: its server would wait for the reads.
func TestLoopReapsNoLargeAnswers(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 2*reapLargest)
	srv := newRawServer(t, quiet("HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body))
	p := &Plan{URL: mustURL(t, "http://"+srv.addr()+"/"), Connections: 4, Rate: 200, Duration: 500 * time.Millisecond, Timeout: 5 * time.Second}
	s, l := runOneLoop(t, srv, p, 4, reapWindow)
	if s.Requests < 50 || s.Errors != 0 || s.Bytes != s.Requests*int64(len(body)) {
		t.Fatalf("%d requests, %d errors, %d bytes; want about 100 answered in full", s.Requests, s.Errors, s.Bytes)
	}
	if !l.reap.off {
		t.Error("the loop still leaves answers of 64 KiB in the kernel")
	}
}

// A request sent early, within the loop's slack, has its response time
// from its send: none is shorter than the service times.
func TestLoopEarlySendsTimedFromTheSend(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, quiet(helloResponse))
	p := &Plan{URL: mustURL(t, "http://"+srv.addr()+"/"), Connections: 8, Rate: 10000, Duration: 300 * time.Millisecond, Timeout: 5 * time.Second}
	s, _ := runOneLoop(t, srv, p, 8, reapWindow)
	if s.Requests < 100 || s.Errors != 0 { // of 3000 due: however many a loaded machine sends
		t.Fatalf("%d requests, %d errors; want at least 100 answered", s.Requests, s.Errors)
	}
	if r, sv := s.Response(), s.Service(); r.Min < sv.Min {
		t.Errorf("response time min %v under the service time's %v: a request sent early was timed from its due time", r.Min, sv.Min)
	}
}

// A response whose body ends with its connection is timed at its end,
// not at the end of the response before it on the same connection: the
// kernel's stamp of the earlier one is not kept for it. The server
// answers each connection's first request with a length and its second
// until it closes, each after 2 ms: no service time is shorter.
func TestLoopReapTimesCloseDelimited(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for _, resp := range []string{
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello",
		} {
			if _, err := readRequest(br); err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
	// 2 s: a loaded machine starves the loop of part of it (7 requests
	// of 50 in 1 s seen, at load 14); every second response is ended by
	// its close, and three of them are enough.
	p := &Plan{URL: mustURL(t, "http://"+srv.addr()+"/"), Connections: 1, Rate: 50, Duration: 2 * time.Second, Timeout: 5 * time.Second}
	s, _ := runOneLoop(t, srv, p, 1, reapWindow)
	if s.Requests < 6 || s.Errors != 0 {
		t.Fatalf("%d requests, %d errors; want about 100 answered", s.Requests, s.Errors)
	}
	if sv := s.Service(); sv.Min < 2*time.Millisecond {
		t.Errorf("service time min %v, under the server's 2 ms: a response ended by its close was timed at the response before it", sv.Min)
	}
}

// An answer the loop left in the kernel that came before its request's
// deadline is read, not timed out, when the deadline wakes the loop
// before its next due time: answers left for up to a second, 20 req/s,
// each answered after 10 ms with a deadline at 40 ms, before the next due
// time.
func TestLoopReapReadsBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, slowly(10*time.Millisecond))
	p := &Plan{URL: mustURL(t, "http://"+srv.addr()+"/"), Connections: 4, Rate: 20, Duration: time.Second, Timeout: 40 * time.Millisecond}
	s, l := runOneLoop(t, srv, p, 4, time.Second)
	if s.Requests < 10 || s.Errors > s.Requests/4 { // a few may be late on a loaded machine
		t.Errorf("%d requests, %d errors %v; want about 20 answered in time", s.Requests, s.Errors, s.ErrorKinds)
	}
	if l.reap.waits == 0 {
		t.Error("the loop never left the answers in the kernel")
	}
}
