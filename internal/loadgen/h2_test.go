package loadgen

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gather-dev/gather/internal/report"
)

// concurrency counts, per connection, the most requests a server had in
// flight at once.
type concurrency struct {
	mu    sync.Mutex
	now   map[string]int
	most  map[string]int
	proto map[string]int
}

func (cc *concurrency) handler(delay time.Duration, body string) http.Handler {
	cc.now, cc.most, cc.proto = map[string]int{}, map[string]int{}, map[string]int{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc.mu.Lock()
		cc.now[r.RemoteAddr]++
		cc.most[r.RemoteAddr] = max(cc.most[r.RemoteAddr], cc.now[r.RemoteAddr])
		cc.proto[r.Proto]++
		cc.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		time.Sleep(delay)
		cc.mu.Lock()
		cc.now[r.RemoteAddr]--
		cc.mu.Unlock()
		io.WriteString(w, body)
	})
}

// mostInFlight returns the most requests in flight on any one connection.
func (cc *concurrency) mostInFlight() (most, conns int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, n := range cc.most {
		most = max(most, n)
	}
	return most, len(cc.most)
}

// h2Servers starts net/http's HTTP/2 server over TLS (ALPN h2) and over
// cleartext with prior knowledge, allowing maxStreams streams per
// connection (0: its default).
func h2Servers(t *testing.T, h http.Handler, maxStreams uint32) map[string]string {
	quietLog := log.New(io.Discard, "", 0)
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.Config.ErrorLog = quietLog
	tlsSrv.TLS = serverTLS(0)
	tlsSrv.TLS.NextProtos = []string{"h2"}
	tlsSrv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: int(maxStreams)}
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	h2c := httptest.NewUnstartedServer(h)
	h2c.Config.ErrorLog = quietLog
	h2c.Config.Protocols = new(http.Protocols)
	h2c.Config.Protocols.SetUnencryptedHTTP2(true)
	h2c.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: int(maxStreams)}
	h2c.Start()
	t.Cleanup(h2c.Close)
	return map[string]string{"TLS": tlsSrv.URL, "h2c": h2c.URL}
}

// The own client speaks HTTP/2 over TLS and h2c, keeps --streams
// requests in flight on each connection, and counts what net/http's
// server served.
func TestH2Streams(t *testing.T) {
	t.Parallel()
	for _, streams := range []int{1, 10} {
		for _, over := range []string{"TLS", "h2c"} {
			t.Run(over+", "+count(streams, "stream"), func(t *testing.T) {
				t.Parallel()
				var cc concurrency
				url := h2Servers(t, cc.handler(20*time.Millisecond, "hello"), 0)[over]
				p := &Plan{URL: mustURL(t, url), HTTP2: true, Streams: streams, RootCAs: testRoots(),
					Connections: 2, Requests: 60, Timeout: 10 * time.Second}
				s, err := Run(t.Context(), p)
				if err != nil {
					t.Fatal(err)
				}
				if s.Status[200] != 60 || s.Bytes != 5*60 {
					t.Errorf("statuses %v, errors %v, %d bytes", s.Status, s.ErrorKinds, s.Bytes)
				}
				want := "2 goroutines, own HTTP/2 client over TLS 1.3, " + count(streams, "stream") + " per connection"
				if over == "h2c" {
					want = "2 goroutines, own HTTP/2 client over cleartext (h2c), " + count(streams, "stream") + " per connection"
				}
				if s.Generator.Engine != want {
					t.Errorf("engine %q, want %q", s.Generator.Engine, want)
				}
				most, conns := cc.mostInFlight()
				// The handler's 20 ms let every stream of a connection meet
				// the others in flight, however loaded the machine.
				if most != streams || conns != 2 || cc.proto["HTTP/2.0"] != 60 {
					t.Errorf("server saw at most %d in flight over %d connections, %v; want %d over 2, HTTP/2", most, conns, cc.proto, streams)
				}
				if s.ConnectionsOpened() != 2 || s.FirstByte().Count != 60 {
					t.Errorf("%d connections, %d first bytes", s.ConnectionsOpened(), s.FirstByte().Count)
				}
			})
		}
	}
}

// The server's SETTINGS_MAX_CONCURRENT_STREAMS bounds the streams, and a
// request body goes out in DATA frames within the server's windows.
func TestH2MaxConcurrentStreamsAndBody(t *testing.T) {
	t.Parallel()
	var cc concurrency
	var bodies atomic.Int64
	h := cc.handler(10*time.Millisecond, "")
	url := h2Servers(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if len(b) == 200000 && r.ContentLength == 200000 {
			bodies.Add(1)
		}
		h.ServeHTTP(w, r)
	}), 3)["h2c"]
	p := &Plan{URL: mustURL(t, url), HTTP2: true, Streams: 10, Method: "POST", Body: bytes.Repeat([]byte("x"), 200000),
		Connections: 1, Requests: 20, Timeout: 10 * time.Second}
	s, err := Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status[200] != 20 || bodies.Load() != 20 {
		t.Errorf("statuses %v, errors %v, %d whole bodies", s.Status, s.ErrorKinds, bodies.Load())
	}
	if most, _ := cc.mostInFlight(); most > 3 {
		t.Errorf("%d streams in flight, the server allows 3", most)
	}
}

// h2Script is a server that speaks HTTP/2 frame by frame, for what
// net/http's server never does: each connection's preface and SETTINGS
// are read, an empty SETTINGS sent, and then serve has the connection.
func h2Script(t *testing.T, serve func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, conn net.Conn)) *rawServer {
	return newRawServer(t, func(c net.Conn) {
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
			return
		}
		fr := http2.NewFramer(c, c)
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		if fr.WriteSettings() != nil {
			return
		}
		serve(fr, enc, &buf, c)
	})
}

// respond writes a whole response to stream id: HEADERS with :status,
// then DATA with body, ending the stream.
func respond(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, id uint32, status, body string) error {
	buf.Reset()
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: status})
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.Bytes(), EndHeaders: true, EndStream: body == ""}); err != nil {
		return err
	}
	if body != "" {
		return fr.WriteData(id, true, []byte(body))
	}
	return nil
}

// eachRequest calls f with each request's stream id, skipping the
// client's other frames; it returns when the connection ends.
func eachRequest(fr *http2.Framer, f func(id uint32) error) {
	for {
		fm, err := fr.ReadFrame()
		if err != nil {
			return
		}
		if h, ok := fm.(*http2.HeadersFrame); ok {
			if f(h.StreamID) != nil {
				return
			}
		}
	}
}

// Each way a server may end streams or stall them is handled without a
// hang, and counted under a clear kind; PING is answered.
func TestH2ServerBehaviour(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		serve   func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, conn net.Conn)
		post    bool
		timeout time.Duration
		ok      int64 // 200s among the 6 requests
		kind    report.ErrorKind
		conns   int64 // at least
	}{
		{name: "GOAWAY after each response: the rest are sent again", ok: 6, conns: 6,
			serve: func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, _ net.Conn) {
				// As a server that goes away does: streams above the last
				// one it named are left unprocessed.
				gone := false
				eachRequest(fr, func(id uint32) error {
					if gone {
						return nil
					}
					gone = true
					respond(fr, enc, buf, id, "200", "ok")
					return fr.WriteGoAway(id, http2.ErrCodeNo, nil)
				})
			}},
		{name: "RST_STREAM", kind: report.ErrReset, conns: 1,
			serve: func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, _ net.Conn) {
				eachRequest(fr, func(id uint32) error { return fr.WriteRSTStream(id, http2.ErrCodeInternal) })
			}},
		{name: "REFUSED_STREAM always: sent again a few times, then failed", kind: report.ErrReset, conns: 1,
			serve: func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, _ net.Conn) {
				eachRequest(fr, func(id uint32) error { return fr.WriteRSTStream(id, http2.ErrCodeRefusedStream) })
			}},
		{name: "PING before each response", ok: 6, conns: 1,
			serve: func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, _ net.Conn) {
				for {
					fm, err := fr.ReadFrame()
					if err != nil {
						return
					}
					switch f := fm.(type) {
					case *http2.HeadersFrame:
						fr.WritePing(false, [8]byte{byte(f.StreamID)})
					case *http2.PingFrame:
						if f.IsAck() { // answered: now the response
							respond(fr, enc, buf, uint32(f.Data[0]), "200", "ok")
						}
					}
				}
			}},
		{name: "a window that stays at 0", post: true, timeout: 300 * time.Millisecond, kind: report.ErrTimeout, conns: 1,
			serve: func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, _ net.Conn) {
				fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
				eachRequest(fr, func(uint32) error { return nil })
			}},
		{name: "GOAWAY with an error", kind: report.ErrProtocol, conns: 1,
			serve: func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, _ net.Conn) {
				eachRequest(fr, func(id uint32) error { return fr.WriteGoAway(id, http2.ErrCodeEnhanceYourCalm, nil) })
			}},
		{name: "a response without :status", kind: report.ErrProtocol, conns: 1,
			serve: func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, _ net.Conn) {
				eachRequest(fr, func(id uint32) error {
					buf.Reset()
					enc.WriteField(hpack.HeaderField{Name: "server", Value: "x"})
					return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.Bytes(), EndHeaders: true, EndStream: true})
				})
			}},
		{name: "a broken header block", kind: report.ErrProtocol, conns: 1,
			serve: func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, _ net.Conn) {
				eachRequest(fr, func(id uint32) error {
					return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: []byte{0xff, 0xff, 0xff}, EndHeaders: true, EndStream: true})
				})
			}},
		{name: "interim 103, then 204", ok: 0, conns: 1,
			serve: func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer, _ net.Conn) {
				eachRequest(fr, func(id uint32) error {
					buf.Reset()
					enc.WriteField(hpack.HeaderField{Name: ":status", Value: "103"})
					fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.Bytes(), EndHeaders: true})
					return respond(fr, enc, buf, id, "204", "")
				})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := h2Script(t, tt.serve)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			p := &Plan{URL: mustURL(t, "http://"+srv.addr()+"/"), HTTP2: true, Streams: 2, Connections: 1, Requests: 6, Timeout: timeout}
			if tt.post {
				p.Method, p.Body = "POST", []byte("a body that waits for a window")
			}
			s, err := Run(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			if s.Requests != 6 || s.Status[200] != tt.ok {
				t.Errorf("%d requests, statuses %v, errors %v; want 6 with %d × 200", s.Requests, s.Status, s.ErrorKinds, tt.ok)
			}
			if tt.kind != report.ErrNone && s.ErrorKinds[tt.kind] != 6-tt.ok {
				t.Errorf("errors %v, want %d × %v", s.ErrorKinds, 6-tt.ok, tt.kind)
			}
			if tt.name == "interim 103, then 204" && s.Status[204] != 6 {
				t.Errorf("statuses %v, want 6 × 204", s.Status)
			}
			if got := srv.conns.Load(); got < tt.conns || s.ConnectionsOpened() != got {
				t.Errorf("%d connections, %d in the report; want at least %d", got, s.ConnectionsOpened(), tt.conns)
			}
		})
	}
}

// A server that is not HTTP/2 where --http2 asks for it: a TLS server
// that offers no h2 in ALPN is a tls failure, an HTTP/1 server asked
// with prior knowledge a protocol one.
func TestH2NotSpoken(t *testing.T) {
	t.Parallel()
	h1TLS := newTLSServer(t, serverTLS(0), canned(helloResponse, false, false))
	h1Plain := newRawServer(t, canned("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", false, true))
	for _, tt := range []struct {
		url  string
		kind report.ErrorKind
	}{
		{h1TLS.url(), report.ErrTLS},
		{h1Plain.url(), report.ErrProtocol},
	} {
		// A server that does not speak HTTP/2 never will: the run stops
		// at the first request of each connection, and says why, in the
		// closed and in the open model, where it does not wait out the
		// schedule's 10 s.
		for _, rate := range []float64{0, 5} {
			p := &Plan{URL: mustURL(t, tt.url), HTTP2: true, RootCAs: testRoots(), Connections: 2, Requests: 50, Rate: rate, Timeout: 10 * time.Second}
			s, err := Run(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			w := s.Generator.Warnings
			stopped := slices.ContainsFunc(w, func(w string) bool {
				return strings.HasPrefix(w, "stopped early: ") && strings.Contains(w, "no request would be answered in HTTP/2")
			})
			if s.Elapsed > 5*time.Second {
				t.Errorf("%s, rate %v: the run lasted %v after it stopped early", tt.url, rate, s.Elapsed)
			}
			if s.Requests < 1 || s.Requests > 2 || s.ErrorKinds[tt.kind] != s.Requests || s.ConnectionsOpened() > 2 || !stopped || !s.Generator.StoppedEarly {
				t.Errorf("%s, rate %v: %d requests, errors %v, %d connections, warnings %q, stopped early %v; want the run stopped at 1 or 2 × %v, saying why",
					tt.url, rate, s.Requests, s.ErrorKinds, s.ConnectionsOpened(), w, s.Generator.StoppedEarly, tt.kind)
			}
		}
	}
	// The message names what was missing.
	w := &h2Worker{e: newH2Engine(&Plan{URL: mustURL(t, h1TLS.url()), HTTP2: true, RootCAs: testRoots(), Connections: 1, Requests: 1}, 1),
		rec: report.NewRecorder()}
	err := w.dial(t.Context(), time.Now())
	if err == nil || !strings.Contains(err.Error(), "the server offered no h2 in ALPN") || Classify(err) != report.ErrTLS {
		t.Errorf("error %v (%v), want the ALPN named, kind tls", err, Classify(err))
	}
}

// h2Frames returns the bytes of frames written by write.
func h2Frames(write func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer)) []byte {
	var out, buf bytes.Buffer
	write(http2.NewFramer(&out, nil), hpack.NewEncoder(&buf), &buf)
	return out.Bytes()
}

// FuzzH2Response feeds a connection with three streams in flight any
// bytes as the server's, in pieces of any size: it must never panic, and
// every stream must end up answered, failed, waiting or owed again,
// exactly once.
func FuzzH2Response(f *testing.F) {
	settings := h2Frames(func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 2})
	})
	f.Add(append(settings, h2Frames(func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer) {
		respond(fr, enc, buf, 1, "200", "hello")
		respond(fr, enc, buf, 3, "404", "")
		fr.WritePing(false, [8]byte{1})
		fr.WriteWindowUpdate(0, 1000)
		respond(fr, enc, buf, 5, "200", "x")
	})...), uint8(7))
	f.Add(append(settings, h2Frames(func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer) {
		buf.Reset()
		enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		enc.WriteField(hpack.HeaderField{Name: "x-long", Value: strings.Repeat("v", 100)})
		b := buf.Bytes()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:10]})
		fr.WriteContinuation(1, true, b[10:])
		fr.WriteData(1, false, []byte("part"))
		fr.WriteRSTStream(3, http2.ErrCodeRefusedStream)
		fr.WriteGoAway(1, http2.ErrCodeNo, nil)
		fr.WriteData(1, true, nil)
	})...), uint8(1))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), uint8(3))
	f.Fuzz(func(t *testing.T, server []byte, piece uint8) {
		rec := report.NewRecorder()
		p := &Plan{URL: mustURL(t, "https://example.test/"), Method: "POST", Body: []byte("body")}
		req, _ := p.h2Request()
		c := newH2Conn(req, rec, 3)
		now := time.Now()
		for range 3 {
			c.open(now, now, false, 0, now.Add(time.Second))
		}
		size := int(piece)%64 + 1
		for len(server) > 0 {
			n := copy(c.in.space(), server[:min(size, len(server))])
			server = server[n:]
			if c.received(n, now) != nil {
				break
			}
		}
		if c.err == nil {
			c.closed(io.EOF, now)
		}
		if got := rec.Requests() + int64(len(c.retry)); got != 3 || c.inFlight() != 0 {
			t.Errorf("%d recorded + %d owed again, %d in flight; want 3 in all, none in flight", rec.Requests(), len(c.retry), c.inFlight())
		}
	})
}

// --no-keepalive and --requests-per-conn close HTTP/2 connections from
// the client too, and the replacements resume their TLS sessions.
func TestH2Churn(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name             string
		noKeepAlive      bool
		perConn          int
		requests, opened int64
	}{
		{"no keep-alive", true, 0, 5, 5},
		{"3 requests per connection", false, 3, 9, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cc concurrency
			url := h2Servers(t, cc.handler(0, "hi"), 0)["TLS"]
			p := &Plan{URL: mustURL(t, url), HTTP2: true, Streams: 2, RootCAs: testRoots(), NoKeepAlive: tt.noKeepAlive,
				RequestsPerConn: tt.perConn, Connections: 1, Requests: tt.requests, Timeout: 10 * time.Second}
			s, err := Run(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			full, resumed := s.TLSHandshakes()
			if _, conns := cc.mostInFlight(); s.Status[200] != tt.requests || s.ConnectionsOpened() != tt.opened ||
				int64(conns) != tt.opened || full != 1 || resumed != tt.opened-1 {
				t.Errorf("statuses %v, errors %v; %d connections (server: %d), %d full, %d resumed; want %d connections, 1 full",
					s.Status, s.ErrorKinds, s.ConnectionsOpened(), conns, full, resumed, tt.opened)
			}
		})
	}
}

// The open model paces HTTPS and HTTP/2 requests too: n requests at a
// rate take about n/rate, each stream sent at its due time.
func TestOpenModelOverTLSAndHTTP2(t *testing.T) {
	t.Parallel()
	var cc concurrency
	urls := h2Servers(t, cc.handler(0, "hi"), 0)
	for _, tt := range []struct {
		name   string
		url    string
		http2  bool
		engine string
	}{
		{"HTTPS", urls["TLS"], false, "own HTTP/1.1 client over TLS 1.3"},
		{"HTTP/2", urls["TLS"], true, "own HTTP/2 client over TLS 1.3, 4 streams per connection"},
		{"h2c", urls["h2c"], true, "own HTTP/2 client over cleartext (h2c), 4 streams per connection"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Plan{URL: mustURL(t, tt.url), HTTP2: tt.http2, RootCAs: testRoots(), Rate: 100, Requests: 20, Connections: 2, Timeout: 10 * time.Second}
			if tt.http2 {
				p.Streams = 4
			}
			s, err := Run(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			if s.Status[200] != 20 || !strings.HasSuffix(s.Generator.Engine, tt.engine) {
				t.Errorf("statuses %v, errors %v, engine %q; requests %d dropped %d cut %d elapsed %v", s.Status, s.ErrorKinds, s.Generator.Engine, s.Requests, s.Dropped, s.Cut, s.Elapsed)
			}
			// 20 requests at 100/s: the last is due at 190 ms.
			if s.Elapsed < 185*time.Millisecond || s.Generator.TargetRate != 100 {
				t.Errorf("elapsed %v, target %v: want the schedule kept, about 200 ms", s.Elapsed, s.Generator.TargetRate)
			}
		})
	}
}
