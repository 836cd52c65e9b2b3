package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/internal/report"
)

// h2Engine runs the own HTTP/2 client: one goroutine per connection, each
// multiplexing up to Plan.Streams requests on it, in the closed and the
// open model. A goroutine writes what its connection has to send, then
// blocks reading through Go's network poller; in the open model the read
// deadline is the next request's due time, so that one goroutine both
// paces and reads (a read that times out is not an error for crypto/tls,
// and keeps what it has of a record). A wake-up serves every stream whose
// frames came in it, over TLS every record the read brought (see
// tls_held.go): with 10 streams a connection pays one read, and one
// write, per several responses.
type h2Engine struct {
	plan    *Plan
	req     *h2Request
	tls     *tlsClient // nil: cleartext with prior knowledge (h2c)
	addr    string
	streams int
	recs    []*report.Recorder
	locks   []sync.Mutex // one per recorder, used if goroutines share them
	stats   []workerStats
	// stop ends the run early; stopped says why, set once.
	stop     context.CancelFunc
	stopOnce sync.Once
	stopped  string
}

// newH2Engine returns the engine for p, or nil if p's requests are more
// than the own client sends (see Plan.h2Request).
func newH2Engine(p *Plan, conns int) *h2Engine {
	req, ok := p.h2Request()
	if !ok {
		return nil
	}
	// A recorder is a few hundred KiB of histograms: the goroutines share
	// a few, one lock each (held about 50 ns per response, by one of the
	// goroutines of the CPU it runs on, mostly), rather than hold one
	// each: 50 connections cost 28 MiB of histograms that way, measured.
	nrec := min(conns, 2*runtime.GOMAXPROCS(0))
	e := &h2Engine{
		plan:    p,
		req:     req,
		addr:    hostPort(p.URL),
		streams: max(p.Streams, 1),
		recs:    make([]*report.Recorder, nrec),
		locks:   make([]sync.Mutex, nrec),
		stats:   make([]workerStats, conns),
	}
	if p.URL.Scheme == "https" {
		e.tls = newTLSClient(p, conns, "h2")
	}
	for i := range e.recs {
		e.recs[i] = report.NewRecorder()
	}
	return e
}

func (e *h2Engine) String() string {
	s := count(len(e.stats), "goroutine") + ", own HTTP/2 client"
	if e.tls != nil {
		s += " over " + e.tls.String()
	} else {
		s += " over cleartext (h2c)"
	}
	return s + ", " + count(e.streams, "stream") + " per connection"
}

func (e *h2Engine) recorders() []*report.Recorder { return e.recs }

func (e *h2Engine) problems() []string {
	if e.stopped != "" {
		return []string{e.stopped}
	}
	return nil
}

// stoppedEarly reports whether the engine gave up on the run (see
// giveUp): an open run then ends at once instead of lasting its schedule.
func (e *h2Engine) stoppedEarly() bool { return e.stopped != "" }

func (e *h2Engine) close() {} // each goroutine closes its connection

func (e *h2Engine) run(ctx context.Context, r *run) []workerStats {
	ctx, e.stop = context.WithCancel(ctx)
	defer e.stop()
	nrec := len(e.recs)
	shared := len(e.stats) > nrec
	g := gather.NewGroup(ctx)
	for i := range e.stats {
		w := &h2Worker{e: e, r: r, rec: e.recs[i%nrec], st: &e.stats[i]}
		if shared {
			w.mu = &e.locks[i%nrec]
		}
		_ = g.Go(func(ctx context.Context) error {
			w.work(ctx)
			return nil
		})
	}
	g.Wait()
	return e.stats
}

// h2Worker is one connection's goroutine.
type h2Worker struct {
	e   *h2Engine
	r   *run
	rec *report.Recorder
	mu  *sync.Mutex // guards rec if shared
	st  *workerStats

	connMu  sync.Mutex // guards conn against abort
	conn    net.Conn
	held    *heldConn // under conn's TLS; nil for h2c
	aborted atomic.Bool

	c       *h2Conn
	armed   time.Time // the read deadline set on conn
	armedW  time.Time // the write deadline set on conn (see armWrite)
	owed    []h2Stream
	pending bool // a claimed request waits for its due time
	due     time.Time
	late    bool
	noMore  bool        // the run has no request left to claim
	timer   *time.Timer // waits for a due time without a connection
}

// claim takes the run's next request into w.due: due now in the closed
// model, at its place in the schedule in the open model (see run.work).
func (w *h2Worker) claim(now time.Time) bool {
	r, p := w.r, w.r.plan
	if w.noMore {
		return false
	}
	if r.sched != nil {
		i := r.next.Add(1) - 1
		off, ok := r.sched.due(i)
		// Past -z nothing more is sent: what is due is dropped.
		if !ok || p.Duration > 0 && !now.Before(r.t0.Add(p.Duration)) {
			w.noMore = true
			return false
		}
		w.due = r.t0.Add(off)
		w.late = now.Sub(w.due) > lateSlack
		if w.late {
			w.st.lateBusy++
		}
	} else {
		if p.Requests > 0 && r.next.Add(1) > p.Requests || p.Duration > 0 && !now.Before(r.t0.Add(p.Duration)) {
			w.noMore = true
			return false
		}
		w.due, w.late = now, false
	}
	w.pending = true
	return true
}

// hasWork reports whether a request is claimed or owed.
func (w *h2Worker) hasWork(now time.Time) bool {
	return len(w.owed) > 0 || w.pending || w.claim(now)
}

func (w *h2Worker) abort() {
	w.aborted.Store(true)
	w.connMu.Lock()
	defer w.connMu.Unlock()
	if w.conn != nil {
		w.conn.SetDeadline(aLongTimeAgo)
	}
}

func (w *h2Worker) record(s report.Sample) {
	if w.mu != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	w.rec.Record(s)
}

func (w *h2Worker) work(ctx context.Context) {
	stop := context.AfterFunc(ctx, w.abort)
	defer stop()
	defer func() {
		if w.timer != nil {
			w.timer.Stop()
		}
	}()
	defer w.drop()
	defer w.countCut(ctx) // before drop forgets the connection
	timeout := w.e.plan.Timeout
	for !w.aborted.Load() {
		now := time.Now()
		if w.c == nil {
			if !w.hasWork(now) {
				return
			}
			// A connection is dialled for a request that is due (an owed
			// one was due before): dialled sooner, a refused dial would
			// fail the request before its time, and a server that closes
			// every connection would be dialled in a loop.
			if len(w.owed) == 0 && w.due.After(now) {
				if !w.sleepUntilDue(ctx) {
					return
				}
				now = time.Now()
			}
			if err := w.dial(ctx, now); err != nil {
				if ended(ctx, time.Now()) {
					return
				}
				w.failOne(err, now)
				if notH2(err, true) {
					w.giveUp(err)
				}
				continue
			}
		}
		c := w.c
		for c.canOpen() {
			if len(w.owed) > 0 {
				s := w.owed[0]
				w.owed = w.owed[1:]
				// Sent again, a request keeps the deadline of its first
				// send: --timeout bounds the request, not each try.
				if !s.deadline.IsZero() && !now.Before(s.deadline) {
					w.recordFailure(s.due, s.late, errTimeout, now)
					continue
				}
				c.open(s.due, now, s.late, s.retries+1, s.deadline)
				continue
			}
			if !w.pending && !w.claim(now) {
				break
			}
			if w.due.After(now) {
				break // its time has not come
			}
			w.send(now, timeout)
		}
		if len(c.out.b) > 0 {
			if !w.armWrite(c, now) {
				return // abort's deadline was just overwritten
			}
			_, err := w.conn.Write(c.out.b)
			c.out.b = c.out.b[:0]
			if err != nil {
				if ended(ctx, time.Now()) {
					return
				}
				if isTimeout(err) {
					err = errWriteStalled
				}
				w.closeConn(err)
				continue
			}
		}
		switch {
		case c.err != nil || (c.goaway || c.spent()) && c.inFlight() == 0:
			w.closeConn(c.err)
			continue
		case c.inFlight() == 0 && !w.hasWork(now):
			return
		}
		if !w.wait(ctx, c) {
			return
		}
	}
}

// armWrite bounds the next write on c, so that a server that stops
// reading (its flow-control windows open, the socket's buffers full)
// cannot hold the goroutine past its requests' time: the write deadline
// is no earlier than the earliest deadline of c's streams in flight
// (--timeout), and at most a quarter of the timeout later; without
// one, the run's end (-d) or h2WriteGrace from now, whichever is later,
// or in a run without -d a timeout from now. Only with neither -d nor
// --timeout is a write unbounded, as the requests are.
// The slack keeps the cost off the hot path: stream deadlines move with
// every request, the deadline set on the socket (a timer update in the
// poller) about every eighth of the timeout. It returns false if the run
// was aborted meanwhile (abort's deadline was overwritten).
func (w *h2Worker) armWrite(c *h2Conn, now time.Time) bool {
	var want time.Time
	for i := range c.streams {
		if d := c.streams[i].deadline; !d.IsZero() && (want.IsZero() || d.Before(want)) {
			want = d
		}
	}
	p := w.e.plan
	if want.IsZero() && p.Duration > 0 {
		// Past the end, a write (the body of a request in flight, a
		// WINDOW_UPDATE for its response) is still bounded, by a grace
		// without progress.
		want = later(w.r.t0.Add(p.Duration), now.Add(h2WriteGrace))
	}
	if want.IsZero() && p.Timeout > 0 {
		// No stream in flight in a run of -n (the RST_STREAMs of the
		// last ones, expired): a timeout from now bounds the write as
		// it would a request. Cleared here, the deadline would let a
		// server that stopped reading hold the run until Ctrl-C.
		want = now.Add(p.Timeout)
	}
	if want.IsZero() {
		if w.armedW.IsZero() {
			return true
		}
		w.armedW = time.Time{}
	} else {
		// A deadline already past (its stream expires on the next turn)
		// would fail the write before it is tried.
		want = later(want, now)
		slack := max(p.Timeout/4, 20*time.Millisecond)
		if !w.armedW.Before(want) && !w.armedW.After(want.Add(slack)) {
			return true
		}
		w.armedW = want.Add(slack / 2)
	}
	w.conn.SetWriteDeadline(w.armedW)
	return !w.aborted.Load()
}

// h2WriteGrace is how long a write with no request deadline may wait
// for the server to read once the run's end has passed.
const h2WriteGrace = time.Second

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// notH2 reports whether err, of a dial (connected) or of a connection,
// says that the server does not speak HTTP/2 at all: it answered in
// HTTP/1.x, or its TLS offered no h2 in ALPN.
func notH2(err error, dial bool) bool {
	if errors.Is(err, errHTTP1Answer) || errors.As(err, new(errNoALPN)) {
		return true
	}
	// The server's alert no_application_protocol (RFC 7301): its TLS
	// offers none of the client's protocols.
	var op *net.OpError
	return dial && errors.As(err, &op) && op.Op == "remote error" && strings.Contains(op.Err.Error(), "no application protocol")
}

// giveUp stops the run after err, which says that no request will ever
// be answered: the report tells why in one line, and covers the requests
// that failed so.
func (w *h2Worker) giveUp(err error) {
	e := w.e
	e.stopOnce.Do(func() {
		e.stopped = fmt.Sprintf("stopped early: %v; no request would be answered in HTTP/2 (without --http2, gather sends HTTP/1.1)", err)
		e.stop()
	})
	w.aborted.Store(true)
}

// send opens a stream for the claimed request, now.
func (w *h2Worker) send(now time.Time, timeout time.Duration) {
	w.countSent(now)
	var deadline time.Time
	if timeout > 0 {
		deadline = now.Add(timeout)
	}
	w.c.open(w.due, now, w.late, 0, deadline)
	w.pending = false
}

// countSent counts the claimed request as sent at now, in the open
// model: the run's dropped requests are those due and not counted here,
// so that a request that failed for want of a connection counts here too.
func (w *h2Worker) countSent(now time.Time) {
	if w.r.sched == nil {
		return
	}
	w.st.lag.add(now.Sub(w.due))
	w.st.lastSent = now
	w.st.sent++
	if !w.late && now.Sub(w.due) > lateSlack {
		w.late = true
		w.st.lateFree++ // claimed in time, sent late
	}
}

// sleepUntilDue waits, without a connection, until the claimed request
// is due; false if ctx ended first.
func (w *h2Worker) sleepUntilDue(ctx context.Context) bool {
	if w.timer == nil {
		w.timer = time.NewTimer(time.Hour)
		w.timer.Stop()
	}
	if !sleep(ctx, w.timer, time.Until(w.due)) {
		return false
	}
	w.st.overshoot += time.Since(w.due)
	w.st.wakeups++
	return true
}

// wait reads what comes until the next deadline: the pending request's
// due time, if a stream is free for it, or the earliest stream deadline.
// It returns false once the run has stopped.
func (w *h2Worker) wait(ctx context.Context, c *h2Conn) bool {
	inFlight := c.inFlight()
	deadline := c.expire(time.Now())
	if c.inFlight() != inFlight {
		return true // streams timed out: their slots are free, their RST_STREAMs to send
	}
	timer := w.pending && c.canOpen()
	if timer && (deadline.IsZero() || w.due.Before(deadline)) {
		deadline = w.due
	}
	// A deadline already set that comes first still serves: waking then,
	// the loop finds the next one. Stream deadlines only grow (each is its
	// send plus the timeout), so in the closed model the deadline is set
	// once per timeout, not once per request (a timer update each).
	if early := !w.armed.IsZero() && !deadline.IsZero() && w.armed.Before(deadline) && time.Now().Before(w.armed); !early && !deadline.Equal(w.armed) {
		w.conn.SetReadDeadline(deadline)
		w.armed = deadline
		if w.aborted.Load() {
			return false // abort's deadline was just overwritten
		}
	}
	n, err := w.conn.Read(c.in.space())
	now := time.Now()
	if n > 0 {
		if c.received(n, now) == nil && err == nil && w.held != nil {
			err = w.readHeld(c, now)
		}
		w.takeRetries()
	}
	if err == nil {
		return true
	}
	if ended(ctx, now) {
		return false
	}
	if isTimeout(err) {
		if timer && !now.Before(w.due) {
			w.st.overshoot += now.Sub(w.due)
			w.st.wakeups++
		}
		return true // expire and the schedule run on the next turn
	}
	w.closeConn(err)
	return true
}

// dial opens a connection and makes it w's, with the client's preface
// written by the caller's next flush.
func (w *h2Worker) dial(ctx context.Context, now time.Time) error {
	var deadline time.Time
	if t := w.e.plan.Timeout; t > 0 {
		deadline = now.Add(t)
	}
	if len(w.owed) > 0 && !w.owed[0].deadline.IsZero() && w.owed[0].deadline.Before(deadline) {
		deadline = w.owed[0].deadline // the request it is for times out then
	}
	d := net.Dialer{KeepAlive: -1, Deadline: deadline, LocalAddr: w.e.plan.localAddr()} // see noProbes
	conn, err := d.DialContext(ctx, "tcp", w.e.addr)
	if err != nil {
		return err
	}
	ct := connTimes{connect: time.Since(now)}
	var held *heldConn
	if w.e.tls != nil {
		held = &heldConn{Conn: conn}
		tc, took, err := w.e.tls.handshake(ctx, held, deadline, "h2")
		if err != nil {
			w.recordConn(ct)
			return err
		}
		ct.tls, ct.handshake, ct.resumed = true, took, tc.ConnectionState().DidResume
		conn = tc
	}
	w.recordConn(ct)
	w.connMu.Lock()
	if w.aborted.Load() {
		w.connMu.Unlock()
		conn.Close()
		return errAborted
	}
	w.conn, w.held = conn, held
	w.connMu.Unlock()
	w.armed, w.armedW = time.Time{}, time.Time{}
	w.c = newH2Conn(w.e.req, w.rec, w.e.streams)
	w.c.mu = w.mu
	w.c.limit = w.e.plan.RequestsPerConn
	if w.e.plan.NoKeepAlive {
		w.c.limit = 1
	}
	return nil
}

func (w *h2Worker) recordConn(ct connTimes) {
	if w.mu != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	w.rec.RecordConn(ct.sample())
}

// failOne records a request that failed for want of a connection: an owed
// one, else the claimed one, which counts as sent at tried (when its
// connection was dialled, as a request that got one counts).
func (w *h2Worker) failOne(err error, tried time.Time) {
	now := time.Now()
	if len(w.owed) > 0 {
		s := w.owed[0]
		w.owed = w.owed[1:]
		w.recordFailure(s.due, s.late, err, now)
		return
	}
	w.countSent(tried) // may mark it late
	w.pending = false
	w.recordFailure(w.due, w.late, err, now)
}

// recordFailure records a request due at due that failed with err at now
// without a stream on a connection.
func (w *h2Worker) recordFailure(due time.Time, late bool, err error, now time.Time) {
	d := now.Sub(due)
	w.record(report.Sample{Response: d, Service: d, Late: late, Err: Classify(err), Error: err, End: now})
}

// takeRetries moves the connection's streams that the server never
// processed to those owed to the run.
func (w *h2Worker) takeRetries() {
	if c := w.c; len(c.retry) > 0 {
		w.owed = append(w.owed, c.retry...)
		c.retry = c.retry[:0]
	}
}

// closeConn ends the connection after err (nil: it was done), failing the
// streams still in flight, and closes the socket.
func (w *h2Worker) closeConn(err error) {
	if err == nil && w.c.goaway {
		err = errStreamReset{code: w.c.goawayCode, goaway: true}
	}
	w.c.closed(err, time.Now())
	w.takeRetries()
	cause := w.c.err // the first error: the one the read after it saw may be EOF
	w.drop()
	if notH2(cause, false) {
		w.giveUp(cause)
	}
}

// countCut counts, once the run has stopped, the requests it cut in
// flight: the connection's open streams and those owed a resend.
func (w *h2Worker) countCut(ctx context.Context) {
	if !w.aborted.Load() && !ended(ctx, time.Now()) {
		return
	}
	if w.c != nil {
		w.st.cut += int64(w.c.inFlight())
	}
	w.st.cut += int64(len(w.owed))
}

func (w *h2Worker) drop() {
	w.connMu.Lock()
	conn := w.conn
	w.conn, w.held = nil, nil
	w.connMu.Unlock()
	if conn != nil {
		conn.Close()
	}
	w.c = nil
}
