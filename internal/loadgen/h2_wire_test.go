package loadgen

import (
	"bytes"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// blockServer serves HTTP/2 requests as a server decodes them, with one
// HPACK table for the connection, and keeps each request's header block
// and decoded fields; shrink sends SETTINGS_HEADER_TABLE_SIZE 0 first.
type blockServer struct {
	mu     sync.Mutex
	blocks [][]byte
	fields [][]hpack.HeaderField
	errs   []error
}

func (bs *blockServer) serve(shrink bool) func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, _ net.Conn) {
	return func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, _ net.Conn) {
		dec := hpack.NewDecoder(h2TableSize, nil)
		if shrink {
			fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
			dec.SetAllowedMaxDynamicTableSize(0) // a size update above 0 is an error
		}
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			h, ok := f.(*http2.HeadersFrame)
			if !ok {
				continue
			}
			block := bytes.Clone(h.HeaderBlockFragment())
			fields, err := dec.DecodeFull(block)
			bs.mu.Lock()
			bs.blocks, bs.fields = append(bs.blocks, block), append(bs.fields, fields)
			if err != nil {
				bs.errs = append(bs.errs, err)
			}
			bs.mu.Unlock()
			if err != nil || respond(fr, enc, buf, h.StreamID, "200", "ok") != nil {
				return
			}
		}
	}
}

func (bs *blockServer) run(t *testing.T, shrink bool) (want []hpack.HeaderField) {
	t.Helper()
	srv := h2Script(t, bs.serve(shrink))
	p := &Plan{URL: mustURL(t, "http://"+srv.addr()+"/x"), HTTP2: true, Streams: 10, Connections: 1, Requests: 30,
		Header: [][2]string{{"X-Test", "yes"}}, Timeout: 10 * time.Second}
	s, err := Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status[200] != 30 {
		t.Errorf("statuses %v, errors %v; want 30 × 200", s.Status, s.ErrorKinds)
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if len(bs.errs) > 0 || len(bs.fields) != 30 {
		t.Fatalf("%d requests decoded, errors %v", len(bs.fields), bs.errs)
	}
	want = []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: srv.addr()}, {Name: ":path", Value: "/x"},
		{Name: "user-agent", Value: UserAgent}, {Name: "x-test", Value: "yes"}}
	for i, got := range bs.fields {
		if !slices.Equal(got, want) {
			t.Fatalf("request %d: fields %v, want %v", i, got, want)
		}
	}
	return want
}

// The first request of a connection adds its fields to the server's
// HPACK table, and every later one refers to them, a byte a field.
func TestH2HeaderBlocksIndexed(t *testing.T) {
	t.Parallel()
	var bs blockServer
	want := bs.run(t, false)
	if len(bs.blocks[0]) <= 2*len(want) {
		t.Errorf("the first block has %d bytes: it cannot hold the fields as literals", len(bs.blocks[0]))
	}
	for i, b := range bs.blocks[1:] {
		if len(b) != len(want) {
			t.Errorf("block %d has %d bytes, want %d (one index per field): %x", i+1, len(b), len(want), b)
		}
	}
}

// A server whose SETTINGS shrink its HPACK table below the default is
// told of the change in the next block (a size update to 0, RFC 7541,
// 4.2), and is sent no reference to the table after it.
func TestH2HeaderTableShrunk(t *testing.T) {
	t.Parallel()
	var bs blockServer
	bs.run(t, true) // a reference to an emptied table fails to decode
	updates := 0
	for _, b := range bs.blocks {
		if b[0]&0xe0 == 0x20 { // 001xxxxx: a dynamic table size update
			updates++
			if b[0] != 0x20 {
				t.Errorf("a size update to %d, want 0", b[0]&0x1f)
			}
		}
	}
	if updates != 1 {
		t.Errorf("%d blocks began with a size update, want 1", updates)
	}
}
