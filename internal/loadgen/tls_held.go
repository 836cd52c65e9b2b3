package loadgen

// Reading only the TLS records a tls.Conn already holds.
//
// tls.Conn.Read returns the plaintext of one record per call, however
// many more the read system call under it brought in. A server such as
// nginx writes each HTTP/2 response in a record of its own, so a client
// that reads once per wake-up would serve one response per wake-up and
// write one record of HEADERS for it: measured against nginx at 10
// streams, one write system call per request where h2load makes one per
// six. heldConn lets the client take every record already in hand
// before it writes: in held mode its Read returns errWouldBlock instead
// of reading the socket, so tls.Conn.Read returns the next whole record
// it holds, or that error, without a system call and without losing the
// part of a record it has (see tls_linux.go for why crypto/tls keeps no
// such error).

import (
	"net"
	"time"
)

// wouldBlock is the error of a read that would block: Temporary, so
// crypto/tls does not keep it.
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "read would block" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlock{}

// heldConn is the net.Conn under a tls.Conn whose Read can be kept from
// the socket.
type heldConn struct {
	net.Conn
	held bool // Read fails with errWouldBlock
}

func (c *heldConn) Read(b []byte) (int, error) {
	if c.held {
		return 0, errWouldBlock
	}
	return c.Conn.Read(b)
}

// readHeld gives c every whole record its tls.Conn already holds, as
// they came at now, and returns the first error other than errWouldBlock
// (nil once the records held are read or c failed).
func (w *h2Worker) readHeld(c *h2Conn, now time.Time) error {
	w.held.held = true
	defer func() { w.held.held = false }()
	for {
		n, err := w.conn.Read(c.in.space())
		if n > 0 && c.received(n, now) != nil {
			return nil // c failed: its streams are ended, w closes it
		}
		if err == errWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
