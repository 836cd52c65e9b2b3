package loadgen

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// recordCounter is a server's socket that counts the TLS records of
// application data the client sent.
type recordCounter struct {
	net.Conn
	hdr     []byte
	left    int // bytes of the current record still to come
	records int
}

func (r *recordCounter) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	for p := b[:n]; len(p) > 0; {
		if r.left > 0 {
			k := min(r.left, len(p))
			r.left, p = r.left-k, p[k:]
			continue
		}
		k := min(5-len(r.hdr), len(p))
		r.hdr, p = append(r.hdr, p[:k]...), p[k:]
		if len(r.hdr) == 5 {
			r.left = int(r.hdr[3])<<8 | int(r.hdr[4])
			if r.hdr[0] == 23 {
				r.records++
			}
			r.hdr = r.hdr[:0]
		}
	}
	return n, err
}

// burstWriter holds what the server writes, while hold is set, for one
// write to the socket.
type burstWriter struct {
	*recordCounter
	hold bool
	buf  []byte
}

func (w *burstWriter) Write(b []byte) (int, error) {
	if w.hold {
		w.buf = append(w.buf, b...)
		return len(b), nil
	}
	return w.recordCounter.Write(b)
}

func (w *burstWriter) flush() error {
	w.hold = false
	_, err := w.recordCounter.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Over TLS, the HTTP/2 client serves every response that came in one
// read before it writes: ten responses in ten TLS records (as nginx
// writes them) that arrive together are answered with the next ten
// requests in one record, not in one record each.
func TestH2ReadsHeldRecords(t *testing.T) {
	t.Parallel()
	reaction := make(chan int, 1)
	config := serverTLS(0)
	config.NextProtos = []string{"h2"}
	srv := newRawServer(t, func(c net.Conn) {
		w := &burstWriter{recordCounter: &recordCounter{Conn: c}}
		tc := tls.Server(w, config)
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(tc, preface); err != nil {
			return
		}
		fr := http2.NewFramer(tc, tc)
		fr.WriteSettings()
		var out bytes.Buffer
		ofr := http2.NewFramer(&out, nil)
		var block bytes.Buffer
		enc := hpack.NewEncoder(&block)
		// requests reads the next n requests' stream ids.
		requests := func(n int) []uint32 {
			var ids []uint32
			for len(ids) < n {
				f, err := fr.ReadFrame()
				if err != nil {
					return nil
				}
				if h, ok := f.(*http2.HeadersFrame); ok {
					ids = append(ids, h.StreamID)
				}
			}
			return ids
		}
		// respond writes each response in a record of its own, held
		// for one write to the socket.
		respondAll := func(ids []uint32) bool {
			w.hold = true
			for _, id := range ids {
				out.Reset()
				if respond(ofr, enc, &block, id, "200", "ok") != nil {
					return false
				}
				if _, err := tc.Write(out.Bytes()); err != nil {
					return false
				}
			}
			return w.flush() == nil
		}
		first := requests(10)
		if first == nil || !respondAll(first) {
			return
		}
		before := w.records
		second := requests(10)
		reaction <- w.records - before
		if second != nil {
			respondAll(second)
		}
		io.Copy(io.Discard, tc)
	})
	p := &Plan{URL: mustURL(t, "https://"+srv.addr()+"/"), HTTP2: true, Streams: 10, RootCAs: testRoots(),
		Connections: 1, Requests: 20, Timeout: 10 * time.Second}
	s, err := Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status[200] != 20 {
		t.Fatalf("statuses %v, errors %v; want 20 × 200", s.Status, s.ErrorKinds)
	}
	// One record, or two if the ten records came in two reads.
	if got := <-reaction; got > 2 {
		t.Errorf("the ten requests after ten responses came in %d TLS records, want 1 or 2", got)
	}
}
