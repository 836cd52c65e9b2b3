package loadgen

// The bytes of the own HTTP/2 client: the request, HPACK-encoded once for
// the run, and the buffers between the socket and the Framer.
//
// Every request of a run is the same, so its header blocks are too, once
// the server's HPACK table is in a known state: the first request of a
// connection adds its fields to the table (literals with incremental
// indexing), and every later one refers to them, a byte a field, which
// the server decodes without a Huffman string or an allocation. The
// client adds nothing after the first block, so the table stays as it is
// and the later block is the same bytes for the whole connection.

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
	// The header blocks, HPACK-encoded once: first adds the fields to the
	// server's table and again refers to them (both nil when the fields
	// would not fit in the table); block uses no table, and reset is block
	// after a size update that empties the table, for a server whose
	// SETTINGS_HEADER_TABLE_SIZE is below HPACK's default.
	first, again []byte
	block, reset []byte
	body         []byte
	noBody       bool // HEAD: responses carry no body
}

// h2TableSize is the size of the server's HPACK table that the client
// may fill before the server's SETTINGS say otherwise (RFC 9113, 6.5.2).
const h2TableSize = 4096

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
	r := &h2Request{body: []byte(body), noBody: t.Method == "HEAD"}
	// The table never evicts what the first block adds if all of it fits
	// (each entry costs its name, its value and 32 bytes): then the
	// second block only refers to it, and so does every later one.
	size := 0
	for _, f := range fields {
		size += int(f.Size())
	}
	if size <= h2TableSize {
		enc := newBlockEncoder(fields)
		r.first, r.again = enc.next(), enc.next()
	}
	// Without the table: the first block after the size update carries
	// it, and every block after is the same bytes.
	enc := newBlockEncoder(fields)
	enc.SetMaxDynamicTableSizeLimit(0)
	r.reset, r.block = enc.next(), enc.next()
	return r, true
}

// blockEncoder encodes its fields as one header block, on an encoder
// whose table lasts from one block to the next, as the server's does.
type blockEncoder struct {
	*hpack.Encoder
	buf    *bytes.Buffer
	fields []hpack.HeaderField
}

func newBlockEncoder(fields []hpack.HeaderField) blockEncoder {
	buf := new(bytes.Buffer)
	return blockEncoder{hpack.NewEncoder(buf), buf, fields}
}

func (e blockEncoder) next() []byte {
	e.buf.Reset()
	for _, f := range e.fields {
		e.WriteField(f)
	}
	return bytes.Clone(e.buf.Bytes())
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
