package loadgen

import (
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// Phase timings: every client times the connections it opens (the TCP
// connect, the TLS handshake) and, for every request, the time from its
// send to the first byte of its response. A request costs two more reads
// of the clock on the goroutine clients (the send, the first byte) and one
// on the event loops, where the read that brings the first byte usually
// completes the response and its time serves both.

// connTimes is what opening one connection measured.
type connTimes struct {
	connect   time.Duration // the TCP handshake (connect to connected)
	handshake time.Duration // the TLS handshake; 0 without TLS
	tls       bool
	resumed   bool // the TLS handshake resumed a session
}

func (c *connTimes) sample() report.ConnSample {
	return report.ConnSample{Connect: c.connect, Handshake: c.handshake, TLS: c.tls, Resumed: c.resumed}
}

// doTimings is what one Doer.Do measured besides its outcome: at most two
// connections (a stale one replaced, see h1Doer.Do) and the first byte.
type doTimings struct {
	sent      time.Time
	firstByte time.Duration // 0: not measured
	conns     [2]connTimes
	nconns    int
}

func (t *doTimings) reset() {
	t.firstByte, t.nconns = 0, 0
}

// opened returns the record of a connection being opened.
func (t *doTimings) opened() *connTimes {
	i := min(t.nconns, len(t.conns)-1)
	t.nconns = i + 1
	t.conns[i] = connTimes{}
	return &t.conns[i]
}

// A timedDoer is a Doer that also reports what its last Do measured.
type timedDoer interface {
	Doer
	timings() *doTimings
}

// A namedDoer names the client it is, for the report's Engine line; it
// may know the TLS version only once connections are open.
type namedDoer interface {
	client() string
}

// record adds what Do measured to s and to rec.
func (t *doTimings) record(rec *report.Recorder, s *report.Sample) {
	if s.Err == report.ErrNone {
		s.FirstByte = t.firstByte
	}
	for i := range t.nconns {
		rec.RecordConn(t.conns[i].sample())
	}
}
