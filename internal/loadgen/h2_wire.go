package loadgen

// The bytes of the own HTTP/2 client: the request, HPACK-encoded once for
// the run, and the buffers between the socket and the Framer.

import (
	"bytes"
	"io"
	"strconv"

	"golang.org/x/net/http2/hpack"

	"github.com/gather-dev/gather/internal/h1"
	"github.com/gather-dev/gather/internal/targets"
)

// h2Request is what every request of a run over HTTP/2 shares.
type h2Request struct {
	block  []byte // the header block, HPACK-encoded once
	body   []byte
	noBody bool // HEAD: responses carry no body
}

// h2Request returns the plan's request for the HTTP/2 client, which
// sends one request, the same for the whole run: ok is false for a run of
// several targets or of templates, which net/http then sends.
func (p *Plan) h2Request() (_ *h2Request, ok bool) {
	ts := p.targetSet().Targets()
	if len(ts) != 1 {
		return nil, false
	}
	t := ts[0]
	static := func(t *targets.Template, def string) (string, bool) {
		if t == nil {
			return def, true
		}
		b, ok := t.Static()
		return string(b), ok
	}
	path, ok1 := static(t.Path, "/")
	host, ok2 := static(t.Host, p.host())
	body, ok3 := static(t.Body, "")
	if !ok1 || !ok2 || !ok3 {
		return nil, false
	}
	fields := []hpack.HeaderField{
		{Name: ":method", Value: t.Method},
		{Name: ":scheme", Value: p.URL.Scheme},
		{Name: ":authority", Value: host},
		{Name: ":path", Value: path},
	}
	hasUA := false
	var header []hpack.HeaderField
	for _, f := range t.Header {
		v, ok := static(f.Value, "")
		if !ok {
			return nil, false
		}
		hasUA = hasUA || h1.EqualFold(f.Name, "user-agent")
		// HTTP/2 field names are lower case (RFC 9113, 8.2.1).
		header = append(header, hpack.HeaderField{Name: lower(f.Name), Value: v})
	}
	if !hasUA {
		fields = append(fields, hpack.HeaderField{Name: "user-agent", Value: UserAgent})
	}
	fields = append(fields, header...)
	if len(body) > 0 || t.Method == "POST" || t.Method == "PUT" || t.Method == "PATCH" {
		fields = append(fields, hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
	}
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	// No dynamic table: every block is the same bytes, whatever came
	// before. The size update this emits goes to a block thrown away; the
	// server's table stays as it is and is never referred to.
	enc.SetMaxDynamicTableSizeLimit(0)
	enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
	buf.Reset()
	for _, f := range fields {
		enc.WriteField(f)
	}
	return &h2Request{block: bytes.Clone(buf.Bytes()), body: []byte(body), noBody: t.Method == "HEAD"}, true
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// h2Input holds the bytes read and not yet framed: b[r:w].
type h2Input struct {
	b    []byte
	r, w int
}

// space returns where the next bytes read go, growing the buffer to take
// at least a whole frame.
func (in *h2Input) space() []byte {
	if len(in.b)-in.w < 9+h2MaxFrame {
		in.compact()
		if len(in.b)-in.w < 9+h2MaxFrame {
			in.b = append(in.b[:in.w], make([]byte, 2*(9+h2MaxFrame))...)
			in.b = in.b[:cap(in.b)]
		}
	}
	return in.b[in.w:]
}

func (in *h2Input) compact() {
	if in.r == 0 {
		return
	}
	in.w = copy(in.b, in.b[in.r:in.w])
	in.r = 0
}

// Read gives the Framer what the connection holds; received calls the
// Framer only for whole frames.
func (in *h2Input) Read(p []byte) (int, error) {
	if in.r == in.w {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, in.b[in.r:in.w])
	in.r += n
	return n, nil
}

// h2Output collects the frames the Framer writes.
type h2Output struct{ b []byte }

func (o *h2Output) Write(p []byte) (int, error) {
	o.b = append(o.b, p...)
	return len(p), nil
}
