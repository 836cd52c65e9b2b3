package loadgen

// TLS for gather's own clients: crypto/tls does the handshake, the key
// schedule, tickets, key updates and alerts; this file only sets it up and
// times it. Both engines use it: the goroutine workers read and write the
// tls.Conn through Go's network poller, and the event loops take the
// connection over once its handshake is done (see tls_linux.go).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// tlsClient is what every TLS connection of a run shares: one
// configuration, with the session cache that lets a replaced connection
// resume instead of doing a full handshake, and the versions and protocols
// the handshakes negotiated, for the report's Engine line.
type tlsClient struct {
	config   *tls.Config
	versions atomic.Uint32 // bit v-VersionTLS10 for each version negotiated
}

// newTLSClient returns the TLS setup of p's connections, offering alpn.
func newTLSClient(p *Plan, conns int, alpn ...string) *tlsClient {
	lo, hi := uint16(tls.VersionTLS12), uint16(tls.VersionTLS13)
	if p.TLSVersion != 0 {
		lo, hi = p.TLSVersion, p.TLSVersion
	}
	return &tlsClient{config: &tls.Config{
		ServerName:         p.serverName(),
		RootCAs:            p.RootCAs,
		InsecureSkipVerify: p.Insecure,
		MinVersion:         lo,
		MaxVersion:         hi,
		NextProtos:         alpn,
		// Not the post-quantum X25519MLKEM768 that Go offers first by
		// default: like the OpenSSL 3.0 of wrk, h2load and ab, X25519 and
		// the NIST curves. Its key share costs the client 75 to 150 µs per
		// handshake (measured on --no-keepalive against nginx, GODEBUG
		// tlsmlkem=0 against the default: 572-642 against 716-719 µs per
		// request), which is the server's to measure, not the generator's.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
		// One session per server name: every connection of the run
		// shares the latest ticket, so a replaced connection resumes.
		ClientSessionCache: tls.NewLRUClientSessionCache(max(conns, 1)),
	}}
}

// serverName returns the name sent in SNI and checked against the
// certificate: --host's if given, else the URL's; crypto/tls sends no SNI
// for an IP address.
func (p *Plan) serverName() string {
	h := p.URL.Hostname()
	if p.Host != "" {
		h = p.Host
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		h = strings.Trim(h, "[]")
	}
	return h
}

// A handshakeError is a failed TLS handshake: a certificate that does not
// verify, a name mismatch, a protocol the server does not offer, a
// timeout, or a server that closed or reset the connection mid-handshake.
// Whatever its cause it is of kind tls: the connection never carried a
// request.
type handshakeError struct {
	addr string
	err  error
}

func (e *handshakeError) Error() string {
	msg := e.err.Error()
	switch {
	case errors.Is(e.err, io.EOF), errors.Is(e.err, io.ErrUnexpectedEOF):
		msg = "the server closed the connection"
	case errors.Is(e.err, syscall.ECONNRESET):
		msg = "the server reset the connection"
	case errors.Is(e.err, os.ErrDeadlineExceeded), errors.Is(e.err, context.DeadlineExceeded):
		msg = "timed out"
	}
	return "TLS handshake with " + e.addr + ": " + msg
}

func (e *handshakeError) Unwrap() error { return e.err }

// errNoALPN is a server that did not agree to the protocol asked for.
type errNoALPN struct{ want, got string }

func (e errNoALPN) Error() string {
	if e.got == "" {
		return fmt.Sprintf("the server offered no %s in ALPN", e.want)
	}
	return fmt.Sprintf("the server chose %q in ALPN, not %s", e.got, e.want)
}

// handshake runs the TLS handshake on raw, bounded by deadline (zero: none)
// and ctx, and checks that the server agreed to the first protocol offered
// in ALPN when want is set. On failure it closes raw and returns a
// *handshakeError.
func (t *tlsClient) handshake(ctx context.Context, raw net.Conn, deadline time.Time, want string) (*tls.Conn, time.Duration, error) {
	start := time.Now()
	c := tls.Client(raw, t.config)
	if !deadline.IsZero() {
		raw.SetDeadline(deadline)
	}
	err := c.HandshakeContext(ctx)
	took := time.Since(start)
	if err == nil {
		st := c.ConnectionState()
		if want != "" && st.NegotiatedProtocol != want {
			err = errNoALPN{want: want, got: st.NegotiatedProtocol}
		} else {
			t.versions.Or(1 << (st.Version - tls.VersionTLS10))
		}
	}
	if err != nil {
		raw.Close()
		return nil, took, &handshakeError{addr: raw.RemoteAddr().String(), err: err}
	}
	if !deadline.IsZero() {
		raw.SetDeadline(time.Time{})
	}
	return c, took, nil
}

// String names the versions negotiated so far: "TLS 1.3", "TLS 1.2 and
// 1.3", or "TLS" before any handshake succeeded.
func (t *tlsClient) String() string {
	v := t.versions.Load()
	var names []string
	for i, name := range []string{"1.0", "1.1", "1.2", "1.3"} {
		if v&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	switch len(names) {
	case 0:
		return "TLS"
	case 1:
		return "TLS " + names[0]
	}
	return "TLS " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
