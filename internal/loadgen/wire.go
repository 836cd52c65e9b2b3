package loadgen

// The requests of a run over HTTP/1.1: each target compiled once into the
// bytes it sends, or, when templates make them vary, into a template that
// a connection renders into its own buffer for each request.

import (
	"strconv"
	"time"

	"github.com/gather-dev/gather/internal/h1"
	"github.com/gather-dev/gather/internal/targets"
)

// h1Request is what every request of a run over HTTP/1.1 shares.
type h1Request struct {
	set     *targets.Set
	targets []h1Target // by target index
	// bytes is the whole request when the run has one target and nothing
	// in it varies: then a connection neither picks nor renders.
	bytes     []byte
	closeEach bool // --no-keepalive: a new connection per request
	perConn   int  // --requests-per-conn: close after that many; 0: no limit
	// seq: the requests need their sequence number (round-robin picks,
	// {{.seq}}, cycled data rows), so each claims one from the run's
	// counter even without a request count.
	seq bool
	// seg maps a segment's sequence numbers to the whole run's, so that
	// the segments of a distributed run pick and render as one run would.
	seg Segment
}

// h1Target is one target on the wire.
type h1Target struct {
	// static is the whole request when nothing in it varies.
	static []byte
	// Otherwise head renders everything up to the Content-Length field,
	// or the whole request when the body does not vary; then body renders
	// the body, whose length goes between them, and tail follows it.
	head *targets.Template
	body *targets.Template
	tail []byte
	// noBody: HEAD, whose responses carry no body.
	noBody bool
	// replay allows sending the request once more on a new connection
	// when a reused one turns out to have been closed by the server while
	// idle.
	replay bool
	name   int // the target's name, for its row in the report
}

// h1Buffers are a connection's buffers for rendering its requests: they
// grow to the largest request once, then rendering allocates nothing.
type h1Buffers struct {
	out, body []byte
}

// h1Request returns the plan's requests for the HTTP/1.1 clients.
func (p *Plan) h1Request() *h1Request {
	set := p.targetSet()
	r := &h1Request{set: set, closeEach: p.NoKeepAlive, perConn: p.RequestsPerConn, seq: set.Needs()&targets.NeedsSeq != 0, seg: p.Segment}
	for _, t := range set.Targets() {
		r.targets = append(r.targets, compileH1(t, p.host(), p.NoKeepAlive))
	}
	if len(r.targets) == 1 && r.targets[0].static != nil {
		r.bytes = r.targets[0].static
	}
	return r
}

// compileH1 compiles t into its HTTP/1.1 form, as [h1.AppendRequest]
// would write it: Host (t's own, or host), User-Agent unless t sets one,
// t's fields, Content-Length for a body and for POST, PUT and PATCH, and
// Connection: close if closeEach.
func compileH1(t *targets.Target, host string, closeEach bool) h1Target {
	lit := func(s string) *targets.Template { return targets.Literal([]byte(s)) }
	parts := []*targets.Template{lit(t.Method + " "), t.Path, lit(" HTTP/1.1\r\nHost: ")}
	if t.Host != nil {
		parts = append(parts, t.Host)
	} else {
		parts = append(parts, lit(host))
	}
	parts = append(parts, lit("\r\n"))
	hasUA := false
	var header [][2]string // for replayable
	for _, f := range t.Header {
		hasUA = hasUA || h1.EqualFold(f.Name, "user-agent")
		header = append(header, [2]string{f.Name, ""})
	}
	if !hasUA {
		parts = append(parts, lit("User-Agent: "+UserAgent+"\r\n"))
	}
	for _, f := range t.Header {
		parts = append(parts, lit(f.Name+": "), f.Value, lit("\r\n"))
	}
	tail := "\r\n"
	if closeEach {
		tail = "Connection: close\r\n\r\n"
	}
	ht := h1Target{noBody: t.Method == "HEAD", replay: replayable(t.Method, header), name: t.NameID()}
	body, fixed := t.Body.Static()
	switch {
	case !fixed:
		ht.head, ht.body, ht.tail = targets.Join(parts...), t.Body, []byte(tail)
	default:
		if len(body) > 0 || t.Method == "POST" || t.Method == "PUT" || t.Method == "PATCH" {
			parts = append(parts, lit("Content-Length: "+strconv.Itoa(len(body))+"\r\n"))
		}
		parts = append(parts, lit(tail), targets.Literal(body))
		ht.head = targets.Join(parts...)
		if b, ok := ht.head.Static(); ok {
			ht.static = b
		}
	}
	return ht
}

// render returns the bytes of r's request: the target's own if they never
// vary, else rendered into buf. It allocates only while buf grows.
func (t *h1Target) render(buf *h1Buffers, r *targets.Request) []byte {
	if t.static != nil {
		return t.static
	}
	b := t.head.Append(buf.out[:0], r)
	if t.body != nil {
		buf.body = t.body.Append(buf.body[:0], r)
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(buf.body)), 10)
		b = append(b, "\r\n"...)
		b = append(b, t.tail...)
		b = append(b, buf.body...)
	}
	buf.out = b
	return b
}

// next picks the target of request seq, sent at now, and returns it on
// the wire with its bytes.
func (h *h1Request) next(r *targets.Request, buf *h1Buffers, seq int64, now time.Time) (*h1Target, []byte) {
	if h.bytes != nil {
		return &h.targets[0], h.bytes
	}
	r.Next(h.seg.Global(seq), now)
	t := &h.targets[r.Target.Index()]
	return t, t.render(buf, r)
}

// replayable reports whether a request may be sent twice without asking:
// an idempotent method (RFC 9110, 9.2.2), or any method with an
// Idempotency-Key header. A POST whose connection was closed under it may
// have been acted on, so it is counted as failed, not sent again.
func replayable(method string, header [][2]string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	for _, h := range header {
		if h1.EqualFold(h[0], "idempotency-key") {
			return true
		}
	}
	return false
}
