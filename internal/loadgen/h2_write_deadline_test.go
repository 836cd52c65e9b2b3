package loadgen

import (
	"net"
	"testing"
	"time"
)

// deadlineConn records the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	write time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error { c.write = t; return nil }

// A write with no stream in flight, in a run of -n with a --timeout and
// no -d (the RST_STREAMs of the last streams, expired, or a
// WINDOW_UPDATE), is bounded still: a server that stopped reading with
// the socket's buffers full must not hold the run for ever where
// --timeout promised a bound.
func TestH2WriteBoundedWithoutStreams(t *testing.T) {
	t.Parallel()
	fc := &deadlineConn{}
	p := &Plan{Timeout: time.Second, Requests: 1}
	w := &h2Worker{e: &h2Engine{plan: p}, r: &run{plan: p}, conn: fc}
	now := time.Now()
	c := &h2Conn{streams: []h2Stream{{id: 1, deadline: now.Add(time.Second)}}}
	if !w.armWrite(c, now) || fc.write.IsZero() {
		t.Fatalf("a stream in flight, write deadline %v; want one", fc.write)
	}
	c.streams = c.streams[:0] // expired: its RST_STREAM is what is written
	later := now.Add(1500 * time.Millisecond)
	if !w.armWrite(c, later) {
		t.Fatal("armWrite reported an abort")
	}
	if fc.write.IsZero() || fc.write.Before(later) || fc.write.After(later.Add(2*p.Timeout)) {
		t.Errorf("no stream in flight, write deadline %v (now %v); want within two --timeout of now", fc.write, later)
	}
}
