package loadgen

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gather-dev/gather/internal/report"
)

// h2Answers returns a connection with its server's SETTINGS read, and
// server, which writes the frames the server sends after them.
func h2Answers(t testing.TB, rec *report.Recorder) (*h2Conn, func(write func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer))) {
	p := &Plan{URL: mustURL(t, "https://example.test/")}
	req, _ := p.h2Request()
	c := newH2Conn(req, rec, 10)
	var out, buf bytes.Buffer
	fr, enc := http2.NewFramer(&out, nil), hpack.NewEncoder(&buf)
	feed := func(write func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer)) {
		out.Reset()
		write(fr, enc, &buf)
		n := copy(c.in.space(), out.Bytes())
		if n != out.Len() {
			t.Fatalf("%d bytes fed, %d given", n, out.Len())
		}
		if err := c.received(n, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	feed(func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer) { fr.WriteSettings() })
	return c, feed
}

// headers writes a header block of fields that ends stream id.
func headers(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, id uint32, fields ...hpack.HeaderField) {
	buf.Reset()
	for _, f := range fields {
		enc.WriteField(f)
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.Bytes(), EndHeaders: true, EndStream: true})
}

// The fields after :status, which the client does not decode, still keep
// its HPACK table in step with the server's: a status the server sends
// from its table, after fields it added, is read right.
func TestH2StatusAfterTableFields(t *testing.T) {
	rec := report.NewRecorder()
	c, server := h2Answers(t, rec)
	now := time.Now()
	for range 3 {
		c.open(now, now, false, 0, time.Time{})
	}
	server(func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer) {
		status := hpack.HeaderField{Name: ":status", Value: "203"} // not in the static table: added
		headers(fr, enc, buf, 1, status, hpack.HeaderField{Name: "server", Value: "a"}, hpack.HeaderField{Name: "x-secret", Value: "b", Sensitive: true})
		headers(fr, enc, buf, 3, hpack.HeaderField{Name: ":status", Value: "202"}, hpack.HeaderField{Name: "x-other", Value: "c"})
		headers(fr, enc, buf, 5, status, hpack.HeaderField{Name: "server", Value: "a"}) // both from the table, behind x-other
	})
	if rec.Requests() != 3 || c.inFlight() != 0 {
		t.Fatalf("%d responses, %d in flight", rec.Requests(), c.inFlight())
	}
	s := report.Merge(rec)
	if s.Status[203] != 2 || s.Status[202] != 1 {
		t.Errorf("statuses %v, want 2 × 203, 1 × 202", s.Status)
	}
}

// A response as nginx sends it, with literal fields after its :status,
// costs the client no allocation beyond the Framer's HEADERS frame.
func TestH2ResponseAllocs(t *testing.T) {
	rec := report.NewRecorder()
	c, _ := h2Answers(t, rec)
	fields := []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "server", Value: "nginx/1.22.1"},
		{Name: "date", Value: "Tue, 01 Dec 2026 13:55:03 GMT"}, {Name: "content-type", Value: "text/plain"},
		{Name: "content-length", Value: "13"}}
	var frames []byte
	{ // nginx's literals are never indexed: the same bytes every time
		var out, buf bytes.Buffer
		fr, enc := http2.NewFramer(&out, nil), hpack.NewEncoder(&buf)
		enc.SetMaxDynamicTableSizeLimit(0)
		for range 2 { // the first block carries the size update: dropped
			out.Reset()
			headers(fr, enc, &buf, 1, fields...)
		}
		frames = bytes.Clone(out.Bytes())
	}
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		c.open(now, now, false, 0, time.Time{})
		// The stream's id, in the frame header's last four bytes.
		id := c.streams[len(c.streams)-1].id
		frames[5], frames[6], frames[7], frames[8] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
		n := copy(c.in.space(), frames)
		c.received(n, now)
		c.out.b = c.out.b[:0]
	})
	if c.err != nil || rec.Requests() < 100 || c.inFlight() != 0 {
		t.Fatalf("error %v, %d responses, %d in flight", c.err, rec.Requests(), c.inFlight())
	}
	if allocs > 1 {
		t.Errorf("%.1f allocations a response, want at most 1", allocs)
	}
}
