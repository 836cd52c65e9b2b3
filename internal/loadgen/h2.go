package loadgen

// gather's own HTTP/2 client connection, on golang.org/x/net/http2's
// Framer and hpack: the framing and header compression are theirs; the
// streams, flow control and pacing are this file's and h2_engine.go's.
//
// An h2Conn is a state machine that takes the bytes the server sent and
// leaves the bytes to send in out, so that whatever drives the socket
// (one goroutine per connection, see h2_engine.go) owns all of the I/O.
// Bytes are framed only once a frame is whole in the buffer: ReadFrame
// never waits for more.
//
// Costs per request: the request's header blocks are encoded once for the
// run (the first of a connection's, and every later one's, see
// h2_wire.go) and each HEADERS frame writes one with the stream's id; the
// Framer allocates one HeadersFrame per response it reads, and hpack a
// string per field the server adds to the table (nginx adds four a
// response, and never refers to them).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gather-dev/gather/internal/report"
)

// The client's settings: no server push, large receive windows (a
// benchmark should measure the server, not flow control) and the
// default frame size.
const (
	h2StreamWindow  = 1 << 24 // SETTINGS_INITIAL_WINDOW_SIZE, per stream
	h2ConnWindow    = 1 << 30 // the connection's receive window
	h2MaxFrame      = 16384   // SETTINGS_MAX_FRAME_SIZE (the default)
	h2MaxHeaderList = 1 << 20 // the largest header block the client decodes
	// h2StreamsBeforeSettings bounds the streams opened before the
	// server's SETTINGS say how many it takes (RFC 9113 recommends at
	// least 100).
	h2StreamsBeforeSettings = 100
)

// ErrHTTP2 is wrapped by the errors of a server that broke HTTP/2: a
// malformed frame or header block, a frame out of place, a connection
// error it sent in GOAWAY. They are of kind protocol.
var ErrHTTP2 = errors.New("HTTP/2 protocol error")

// errStreamReset is a stream the server reset (RST_STREAM), or one a
// GOAWAY ended; it is of kind reset.
type errStreamReset struct {
	code   http2.ErrCode
	goaway bool
}

func (e errStreamReset) Error() string {
	if e.goaway {
		return "HTTP/2 connection closed by the server's GOAWAY (" + e.code.String() + ") before the response ended"
	}
	return "HTTP/2 stream reset by the server: " + e.code.String()
}

// errStalled is a request whose body waited for a flow-control window
// the server never opened; it is of kind timeout.
var errStalled = fmt.Errorf("HTTP/2 flow-control window stayed at 0: %w", errTimeout)

// errWriteStalled is a connection whose write waited past the deadline
// of its requests (see h2Worker.armWrite): the server stopped reading,
// with its windows open and the socket's buffers full. It is of kind
// timeout.
var errWriteStalled = fmt.Errorf("HTTP/2 server stopped reading (a write waited past the request's deadline): %w", errTimeout)

// errHTTP1Answer is a server that answered the client's preface in
// HTTP/1.x: it will answer no request in HTTP/2, and the run stops.
var errHTTP1Answer = fmt.Errorf("%w: the server answered in HTTP/1.x: it does not speak HTTP/2 here", ErrHTTP2)

func h2Error(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrHTTP2, fmt.Sprintf(format, args...))
}

// h2Stream is one request in flight on a connection.
type h2Stream struct {
	id       uint32
	due      time.Time // intended start (open model); the send otherwise
	start    time.Time // sent
	deadline time.Time // zero without a timeout
	first    time.Time // first frame of the response
	late     bool
	retries  int // times sent before and not processed (see h2MaxRetries)
	status   int
	bytes    int64
	headers  bool  // a final (non-1xx) header block has come
	sent     int   // bytes of the body sent
	window   int64 // the server's window for this stream's body
	received int64 // body bytes since the last WINDOW_UPDATE for it
}

// h2Conn is one HTTP/2 connection's state.
type h2Conn struct {
	req        *h2Request
	rec        *report.Recorder
	mu         *sync.Mutex // guards rec if shared
	fr         *http2.Framer
	in         h2Input
	out        h2Output
	dec        *hpack.Decoder
	streams    []h2Stream // in flight, in no order
	maxStreams int        // what the server takes and the run asks, whichever is less
	want       int        // streams per connection the run asks for
	limit      int        // streams the connection may carry in all (--requests-per-conn); 0: no limit
	opened     int        // streams opened
	nextID     uint32
	settings   bool // the server's first SETTINGS has come
	// The server's windows for what the client sends.
	connWindow    int64
	initialWindow int64
	maxFrame      int
	connReceived  int64 // DATA bytes since the last connection WINDOW_UPDATE
	// headerStream is the stream whose header block is being decoded;
	// decoded the block's :status.
	headerStream uint32
	decoded      int
	table        h2Table
	goaway       bool // no new streams: the server is going away
	lastStream   uint32
	goawayCode   http2.ErrCode
	retry        []h2Stream // sent, never processed (above a GOAWAY's last stream, or refused)
	err          error      // the connection failed: every stream fails with it
	now          time.Time  // of the bytes being processed
}

// h2Table is what the server's HPACK table holds of the client's fields,
// and so which of the request's header blocks is next.
type h2Table uint8

const (
	tableEmpty  h2Table = iota // nothing yet: req.first adds the fields
	tableFilled                // the fields: req.again refers to them
	tableUnused                // the fields do not fit: req.block
	tableShrunk                // the server's SETTINGS shrank it: req.reset empties it
	tableZero                  // emptied, size 0: req.block
)

// requestBlock returns the header block of the next request, in the
// order the server decodes them.
func (c *h2Conn) requestBlock() []byte {
	r := c.req
	switch c.table {
	case tableEmpty:
		if r.first == nil {
			c.table = tableUnused
			return r.block
		}
		c.table = tableFilled
		return r.first
	case tableFilled:
		return r.again
	case tableShrunk:
		c.table = tableZero
		return r.reset
	}
	return r.block
}

// newH2Conn returns a connection that sends req, records into rec, and
// opens up to streams streams at once. Its preface is in out.
func newH2Conn(req *h2Request, rec *report.Recorder, streams int) *h2Conn {
	c := &h2Conn{
		req:           req,
		rec:           rec,
		streams:       make([]h2Stream, 0, streams),
		want:          streams,
		maxStreams:    min(streams, h2StreamsBeforeSettings),
		nextID:        1,
		connWindow:    65535,
		initialWindow: 65535,
		maxFrame:      16384,
	}
	c.fr = http2.NewFramer(&c.out, &c.in)
	c.fr.SetReuseFrames()
	c.fr.SetMaxReadFrameSize(h2MaxFrame)
	c.dec = hpack.NewDecoder(4096, c.field)
	c.dec.SetMaxStringLength(h2MaxHeaderList)
	c.out.b = append(c.out.b, http2.ClientPreface...)
	c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: h2MaxFrame},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: h2MaxHeaderList},
	)
	c.fr.WriteWindowUpdate(0, h2ConnWindow-65535)
	return c
}

// canOpen reports whether the connection takes another stream now.
func (c *h2Conn) canOpen() bool {
	return c.err == nil && !c.goaway && len(c.streams) < c.maxStreams && c.nextID < 1<<31-1 && !c.spent()
}

// spent reports whether the connection has carried all the streams the
// run lets one connection carry: once they are done, the client closes it.
func (c *h2Conn) spent() bool { return c.limit > 0 && c.opened >= c.limit }

// h2MaxRetries bounds how many times a request the server did not process
// (REFUSED_STREAM, or above a GOAWAY's last stream) is sent again: a
// GOAWAY may cross a request sent again in flight, but a server that
// refuses everything must not keep a request going for ever.
const h2MaxRetries = 3

// open sends a request on a new stream, to fail at deadline (zero: never);
// retries counts the times it was sent before and not processed.
func (c *h2Conn) open(due, now time.Time, late bool, retries int, deadline time.Time) {
	s := h2Stream{id: c.nextID, due: due, start: now, deadline: deadline, late: late, retries: retries, window: c.initialWindow}
	c.nextID += 2
	c.opened++
	c.writeHeaders(s.id, c.requestBlock(), len(c.req.body) == 0)
	c.streams = append(c.streams, s)
	if len(c.req.body) > 0 {
		c.sendBody(&c.streams[len(c.streams)-1])
	}
}

// writeHeaders writes header block b, in CONTINUATION frames after the
// HEADERS one if it is longer than a frame.
func (c *h2Conn) writeHeaders(id uint32, b []byte, endStream bool) {
	frag := b[:min(len(b), c.maxFrame)]
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: endStream, EndHeaders: len(frag) == len(b)})
	for b = b[len(frag):]; len(b) > 0; b = b[len(frag):] {
		frag = b[:min(len(b), c.maxFrame)]
		c.fr.WriteContinuation(id, len(frag) == len(b), frag)
	}
}

// sendBody sends what the windows allow of s's body.
func (c *h2Conn) sendBody(s *h2Stream) {
	body := c.req.body
	for s.sent < len(body) {
		n := int(min(int64(len(body)-s.sent), int64(c.maxFrame), s.window, c.connWindow))
		if n <= 0 {
			return // until a WINDOW_UPDATE
		}
		end := s.sent+n == len(body)
		c.fr.WriteData(s.id, end, body[s.sent:s.sent+n])
		s.sent += n
		s.window -= int64(n)
		c.connWindow -= int64(n)
	}
}

// inFlight returns the number of streams awaiting their response.
func (c *h2Conn) inFlight() int { return len(c.streams) }

// received processes the whole frames among the bytes the server sent,
// the last n of them new, at now.
func (c *h2Conn) received(n int, now time.Time) error {
	c.in.w += n
	c.now = now
	for c.err == nil {
		avail := c.in.w - c.in.r
		if avail < 9 {
			break
		}
		b := c.in.b[c.in.r:]
		length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if length > h2MaxFrame {
			if !c.settings && bytes.HasPrefix(b, []byte("HTTP/1.")) {
				c.fail(errHTTP1Answer)
			} else {
				c.fail(h2Error("a frame of %d bytes, over the %d the client allows", length, h2MaxFrame))
			}
			break
		}
		if avail < 9+length {
			break
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.fail(c.frameError(err))
			break
		}
		c.frame(f)
	}
	c.in.compact()
	return c.err
}

// frameError turns the Framer's error into the connection's.
func (c *h2Conn) frameError(err error) error {
	if d := c.fr.ErrorDetail(); d != nil {
		return h2Error("%v: %v", err, d)
	}
	return h2Error("%v", err)
}

// frame handles one frame from the server.
func (c *h2Conn) frame(f http2.Frame) {
	if !c.settings {
		if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
			c.fail(h2Error("the server's first frame is %v, not SETTINGS", f.Header().Type))
			return
		}
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return
		}
		if err := c.settingsFrame(f); err != nil {
			c.fail(err)
			return
		}
		c.fr.WriteSettingsAck()
	case *http2.HeadersFrame:
		c.headerStream, c.decoded = f.StreamID, 0
		c.dec.SetEmitEnabled(true) // until the block's :status (see field)
		c.headerBlock(f.StreamID, f.HeaderBlockFragment(), f.HeadersEnded(), f.StreamEnded())
	case *http2.ContinuationFrame:
		c.headerBlock(f.StreamID, f.HeaderBlockFragment(), f.HeadersEnded(), false)
	case *http2.DataFrame:
		c.data(f)
	case *http2.WindowUpdateFrame:
		c.windowUpdate(f.StreamID, int64(f.Increment))
	case *http2.PingFrame:
		if !f.IsAck() {
			c.fr.WritePing(true, f.Data)
		}
	case *http2.RSTStreamFrame:
		if i := c.find(f.StreamID); i >= 0 {
			if f.ErrCode == http2.ErrCodeRefusedStream && c.streams[i].retries < h2MaxRetries {
				c.retry = append(c.retry, c.streams[i]) // never processed: RFC 9113, 8.7
				c.remove(i)
				return
			}
			c.end(i, errStreamReset{code: f.ErrCode})
		}
	case *http2.GoAwayFrame:
		c.goAway(f.LastStreamID, f.ErrCode)
	case *http2.PushPromiseFrame:
		c.fail(h2Error("PUSH_PROMISE, which the client's SETTINGS disabled"))
	}
	// PRIORITY and frames of unknown types are ignored (RFC 9113, 5.5).
}

func (c *h2Conn) settingsFrame(f *http2.SettingsFrame) error {
	first := !c.settings
	c.settings = true
	if first {
		c.maxStreams = c.want // unless the server says fewer
	}
	return f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return h2Error("SETTINGS: %v", err)
		}
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.maxStreams = min(c.want, int(s.Val))
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.initialWindow
			c.initialWindow = int64(s.Val)
			for i := range c.streams {
				c.streams[i].window += delta
				c.sendBody(&c.streams[i])
			}
		case http2.SettingMaxFrameSize:
			c.maxFrame = int(s.Val)
		case http2.SettingHeaderTableSize:
			// Smaller than the table the client may have filled: the
			// next block must say so (RFC 7541, 4.2), and the client
			// then uses none.
			if s.Val < h2TableSize && c.table != tableZero {
				c.table = tableShrunk
			}
		}
		return nil
	})
}

// headerBlock decodes a piece of a header block for stream id; a block
// is decoded whatever its stream, since HPACK's table depends on all of
// them.
func (c *h2Conn) headerBlock(id uint32, frag []byte, endHeaders, endStream bool) {
	if _, err := c.dec.Write(frag); err != nil {
		c.fail(h2Error("header block: %v", err))
		return
	}
	i := c.find(id)
	if i >= 0 && c.streams[i].first.IsZero() {
		c.streams[i].first = c.now
	}
	if !endHeaders {
		c.headerStream = id
		return
	}
	if err := c.dec.Close(); err != nil {
		c.fail(h2Error("header block: %v", err))
		return
	}
	c.headerStream = 0
	if i < 0 {
		return // a stream the client has given up on
	}
	s := &c.streams[i]
	if !s.headers {
		switch {
		case c.decoded == 0:
			c.end(i, h2Error("stream %d: a response without :status", id))
			return
		case c.decoded >= 200:
			s.status, s.headers = c.decoded, true
		case c.decoded == 101:
			c.end(i, h2Error("stream %d: status 101, which HTTP/2 forbids", id))
			return
		default: // 1xx: interim, the final response follows
			if endStream {
				c.end(i, h2Error("stream %d: ended after an interim response", id))
			}
			return
		}
	}
	if endStream {
		c.end(i, nil)
	}
}

// field is the decoder's emit function: it keeps the status. The status
// comes first (RFC 9113, 8.3), and the client wants nothing after it, so
// the decoder stops emitting the block's fields there: it then only
// keeps its table in step, and skips without decoding the strings of the
// fields it does not add to the table (four literals of a response, four
// allocations fewer, see TestH2ResponseAllocs). nginx adds its fields to
// the table, whose strings hpack must decode: 12% of the client's CPU
// time against nginx at 10 streams, measured, as nghttp2 must for h2load.
func (c *h2Conn) field(f hpack.HeaderField) {
	if f.Name == ":status" {
		c.decoded = 0
		if len(f.Value) == 3 {
			if n, err := strconv.Atoi(f.Value); err == nil && n >= 100 {
				c.decoded = n
			}
		}
		c.dec.SetEmitEnabled(false)
	}
}

func (c *h2Conn) data(f *http2.DataFrame) {
	// Flow control counts the whole frame, padding included.
	n := int64(f.Length)
	c.connReceived += n
	if c.connReceived >= h2ConnWindow/2 {
		c.fr.WriteWindowUpdate(0, uint32(c.connReceived))
		c.connReceived = 0
	}
	i := c.find(f.StreamID)
	if i < 0 {
		return
	}
	s := &c.streams[i]
	if !s.headers {
		c.end(i, h2Error("stream %d: DATA before the response's headers", f.StreamID))
		return
	}
	s.bytes += int64(len(f.Data()))
	s.received += n
	if f.StreamEnded() {
		c.end(i, nil)
		return
	}
	if s.received >= h2StreamWindow/2 {
		c.fr.WriteWindowUpdate(s.id, uint32(s.received))
		s.received = 0
	}
}

func (c *h2Conn) windowUpdate(id uint32, incr int64) {
	if id == 0 {
		c.connWindow += incr
		for i := range c.streams {
			c.sendBody(&c.streams[i])
		}
		return
	}
	if i := c.find(id); i >= 0 {
		c.streams[i].window += incr
		c.sendBody(&c.streams[i])
	}
}

// goAway stops new streams; those above last were never processed and
// are sent again on another connection, and an error code other than
// NO_ERROR fails the connection at once.
func (c *h2Conn) goAway(last uint32, code http2.ErrCode) {
	c.goaway, c.lastStream, c.goawayCode = true, last, code
	for i := 0; i < len(c.streams); {
		switch s := &c.streams[i]; {
		case s.id <= last:
			i++
		case s.retries >= h2MaxRetries:
			c.end(i, errStreamReset{code: code, goaway: true})
		default:
			c.retry = append(c.retry, *s)
			c.remove(i)
		}
	}
	if code != http2.ErrCodeNo {
		c.fail(fmt.Errorf("%w: the server sent GOAWAY with %v", ErrHTTP2, code))
	}
}

// find returns the index of stream id among those in flight, or -1.
func (c *h2Conn) find(id uint32) int {
	for i := range c.streams {
		if c.streams[i].id == id {
			return i
		}
	}
	return -1
}

func (c *h2Conn) remove(i int) {
	last := len(c.streams) - 1
	c.streams[i] = c.streams[last]
	c.streams = c.streams[:last]
}

// end records stream i's response, or its failure, and forgets it. A
// stream the client ends before the server does is reset, so that the
// server stops sending.
func (c *h2Conn) end(i int, err error) {
	s := &c.streams[i]
	sample := report.Sample{Response: c.now.Sub(s.due), Service: c.now.Sub(s.start), Late: s.late, Bytes: s.bytes, End: c.now}
	if err != nil {
		sample.Err, sample.Error = Classify(err), err
		if _, reset := err.(errStreamReset); !reset {
			c.fr.WriteRSTStream(s.id, http2.ErrCodeCancel)
		}
	} else {
		sample.Status = s.status
		sample.FirstByte = s.first.Sub(s.start)
	}
	if c.mu != nil {
		c.mu.Lock()
		c.rec.Record(sample)
		c.mu.Unlock()
	} else {
		c.rec.Record(sample)
	}
	c.remove(i)
}

// expire fails the streams whose deadline has passed by now, and returns
// the earliest deadline left (zero: none).
func (c *h2Conn) expire(now time.Time) time.Time {
	c.now = now
	var next time.Time
	for i := 0; i < len(c.streams); {
		s := &c.streams[i]
		if !s.deadline.IsZero() && !now.Before(s.deadline) {
			err := errTimeout
			if s.sent < len(c.req.body) {
				err = errStalled
			}
			c.end(i, err)
			continue
		}
		if !s.deadline.IsZero() && (next.IsZero() || s.deadline.Before(next)) {
			next = s.deadline
		}
		i++
	}
	return next
}

// fail ends the connection with err, and every stream in flight with it.
func (c *h2Conn) fail(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	for len(c.streams) > 0 {
		c.end(len(c.streams)-1, err)
	}
}

// closed tells the connection that the socket failed or ended with err.
func (c *h2Conn) closed(err error, now time.Time) {
	c.now = now
	if err == nil {
		err = io.ErrUnexpectedEOF // a stream in flight cannot end well here
	}
	if c.goaway && c.goawayCode == http2.ErrCodeNo {
		err = errStreamReset{code: http2.ErrCodeNo, goaway: true}
	}
	c.fail(err)
}
