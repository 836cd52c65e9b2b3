package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/targets"
)

// FastPath reports whether Run sends p's requests with its own HTTP/1.1
// client rather than net/http: for http:// and https:// without HTTP/2.
func (p *Plan) FastPath() bool {
	return p.URL != nil && (p.URL.Scheme == "http" || p.URL.Scheme == "https") && !p.HTTP2 && !p.NetHTTP
}

// EventLoops reports whether Run sends p's requests from event loops, a
// few goroutines that each drive many nonblocking connections through
// epoll, rather than from one goroutine per connection: on the fast path
// (http:// and https://), in the closed and the open model, on Linux, unless
// Goroutines is set. They save the goroutine switch and the extra read
// that Go's network poller costs per request; in the open model they
// send each request at its due time to within microseconds (see
// [LoopTimer]).
func (p *Plan) EventLoops() bool {
	return p.FastPath() && !p.Goroutines && loopsSupported
}

// host returns the Host header to send.
func (p *Plan) host() string {
	if p.Host != "" {
		return p.Host
	}
	return strings.TrimSuffix(p.URL.Host, ":") // as net/http does
}

// noProbes: the dialers turn TCP keep-alive probes off. A run's
// connections are never idle long enough for a probe, and setting them up
// costs four setsockopt calls per connection, which shows at -c 10000 and
// with --no-keepalive.

// transport returns the constructor of the plan's doers.
func transport(p *Plan, conns int) (func(context.Context, int) (Doer, error), error) {
	if p.FastPath() {
		req, addr := p.h1Request(), hostPort(p.URL)
		var tc *tlsClient
		if p.URL.Scheme == "https" {
			tc = newTLSClient(p, conns, "http/1.1")
		}
		return func(ctx context.Context, _ int) (Doer, error) {
			d := newH1Doer(ctx, addr, req, p.Timeout)
			d.dialer.LocalAddr = p.localAddr()
			d.tls = tc
			return d, nil
		}, nil
	}
	t := &http.Transport{
		// A benchmark measures the target, not a proxy; see noProbes for
		// KeepAlive.
		Proxy:               nil,
		DialContext:         (&net.Dialer{KeepAlive: -1, LocalAddr: p.localAddr()}).DialContext,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableKeepAlives:   p.NoKeepAlive,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: p.Insecure},
		ForceAttemptHTTP2:   p.HTTP2,
		Protocols:           new(http.Protocols),
	}
	if p.HTTP2 {
		t.Protocols.SetHTTP2(true)
		t.Protocols.SetUnencryptedHTTP2(p.URL.Scheme == "http")
		t.MaxConnsPerHost = 0 // one multiplexed connection serves them all
	} else {
		t.Protocols.SetHTTP1(true)
	}
	client := &http.Client{
		Transport: t,
		Timeout:   p.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // measure this URL, not another
		},
	}
	t.TLSClientConfig.RootCAs = p.RootCAs
	t.TLSClientConfig.ServerName = p.serverName()
	if p.TLSVersion != 0 {
		t.TLSClientConfig.MinVersion, t.TLSClientConfig.MaxVersion = p.TLSVersion, p.TLSVersion
	}
	set := p.targetSet()
	origin := strings.TrimSuffix(set.Server().String(), "/")
	if p.Targets == nil {
		origin = p.URL.Scheme + "://" + p.URL.Host
	}
	// The fields of a target whose values never vary are made once.
	headers := make([]http.Header, len(set.Targets()))
	for i, tg := range set.Targets() {
		if tg.Static() {
			headers[i] = stdHeader(tg, nil)
		}
	}
	host := p.host()
	return func(ctx context.Context, worker int) (Doer, error) {
		return &stdDoer{client: client, transport: t, worker: worker, origin: origin, host: host, headers: headers}, nil
	}, nil
}

// stdHeader returns t's fields rendered for r (nil if they never vary),
// with the User-Agent unless t sets one.
func stdHeader(t *targets.Target, r *targets.Request) http.Header {
	h := make(http.Header, len(t.Header)+1)
	for _, f := range t.Header {
		h.Add(f.Name, string(f.Value.Append(nil, r)))
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", UserAgent)
	}
	return h
}

// stdDoer sends requests through net/http. The workers share one
// Transport and its pool of connections; net/http allocates a few dozen
// objects per request, so this path is kept for HTTPS, HTTP/2 and
// comparisons.
type stdDoer struct {
	client    *http.Client
	transport *http.Transport
	worker    int
	origin    string        // scheme://host[:port]
	host      string        // the Host of a target without its own
	headers   []http.Header // by target: the fields of a static one; shared, read-only
}

// Do sends one request and reads its body to the end, so that the
// connection goes back to the pool.
func (d *stdDoer) Do(ctx context.Context, r *targets.Request) (int, int64, error) {
	t := r.Target
	var body io.Reader
	if t.Body != nil {
		body = bytes.NewReader(t.Body.Append(nil, r))
	}
	req, err := http.NewRequestWithContext(ctx, t.Method, d.origin+string(t.Path.Append(nil, r)), body)
	if err != nil {
		return 0, 0, err
	}
	req.Header = d.headers[t.Index()]
	if req.Header == nil {
		req.Header = stdHeader(t, r)
	}
	req.Host = d.host
	if t.Host != nil {
		req.Host = string(t.Host.Append(nil, r))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, n, err
}

// Close closes the shared transport's idle connections once, from worker 0.
func (d *stdDoer) Close() error {
	if d.worker == 0 {
		d.transport.CloseIdleConnections()
	}
	return nil
}

// errTimeout is the error of a request that outlived Plan.Timeout, on
// every engine that times requests itself (the event loops, HTTP/2).
var errTimeout = fmt.Errorf("request timed out: %w", os.ErrDeadlineExceeded)

// Classify returns the kind of a request's error: nil is
// [report.ErrNone]; a malformed response (from either client) is
// [report.ErrProtocol]; a connection the server closed or reset before the
// response was complete is [report.ErrReset].
func Classify(err error) report.ErrorKind {
	if err == nil {
		return report.ErrNone
	}
	var dnsErr *net.DNSError
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var handshake *handshakeError
	var op *net.OpError
	switch {
	case errors.As(err, &handshake):
		// Before the timeout: a handshake that timed out is a TLS
		// failure, the connection never carried a request.
		return report.ErrTLS
	case errors.As(err, &op) && op.Op == "remote error" && strings.Contains(op.Err.Error(), "no application protocol"):
		// The server's alert no_application_protocol (RFC 7301): it
		// offers none of the protocols asked for (--http2 against a
		// server without HTTP/2).
		return report.ErrProtocol
	case errors.As(err, &op) && (op.Op == "remote error" || op.Op == "local error"):
		// crypto/tls's alerts, sent or received, after the handshake.
		return report.ErrTLS
	case errors.Is(err, ErrHTTP2):
		return report.ErrProtocol
	case errors.As(err, new(errStreamReset)):
		return report.ErrReset
	case errors.Is(err, ErrProtocol):
		return report.ErrProtocol
	case errors.As(err, &dnsErr):
		return report.ErrDNS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return report.ErrTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return report.ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return report.ErrReset
	case errors.As(err, &recErr), errors.As(err, &alert), errors.As(err, &verify),
		errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return report.ErrTLS
	}
	// net/http and crypto/tls give these only in their messages.
	msg := err.Error()
	for _, m := range messageKinds {
		if strings.Contains(msg, m.part) {
			return m.kind
		}
	}
	return report.ErrOther
}

// messageKinds classify errors by a part of their message, first match
// first.
var messageKinds = []struct {
	part string
	kind report.ErrorKind
}{
	// A response that is not the HTTP it should be.
	{"malformed HTTP", report.ErrProtocol},
	{"malformed MIME", report.ErrProtocol},
	// --http2 against a server without HTTP/2: in cleartext (prior
	// knowledge), the server's HTTP/1 answer read as frames, and the
	// requests that waited for that connection; over TLS, the server's
	// alert no_application_protocol (RFC 7301), since it offers no h2,
	// when it comes without its net.OpError.
	{"frame header looked like an HTTP/1.1 header", report.ErrProtocol},
	{"http2: frame too large", report.ErrProtocol},
	{"http2: client conn could not be established", report.ErrProtocol},
	{"tls: no application protocol", report.ErrProtocol},
	{"unexpected ALPN protocol", report.ErrProtocol},
	// An HTTP/2 connection that ended under its requests.
	{"http2: client connection force closed", report.ErrReset},
	{"http2: client connection lost", report.ErrReset},
	// https:// against a plain HTTP port, and any alert the server's TLS
	// sent (a TCP connection's alerts are not tls.AlertError values).
	{"server gave HTTP response to HTTPS client", report.ErrTLS},
	{"remote error: tls: ", report.ErrTLS},
}
