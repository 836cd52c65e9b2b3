// Package h1 holds what gather's HTTP/1.1 clients share: a strict push
// parser for responses, and the bytes of a request. bench's event loops and
// blocking client and fetch's client all read responses with [Parser], so a
// response means the same to each of them.
package h1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrProtocol is wrapped by every error [Parser] returns for a
// response it cannot parse: a bad status line, a bad header, a bad
// Content-Length or chunk size, a header line longer than 64 KiB, or bytes
// the server sent that no request asked for.
var ErrProtocol = errors.New("malformed HTTP response")

// The parser's errors are made once, so that a stream of malformed
// responses costs no allocation either.
var (
	errStatusLine  = fmt.Errorf("%w: bad status line", ErrProtocol)
	errHeaderLine  = fmt.Errorf("%w: bad header line", ErrProtocol)
	errFieldValue  = fmt.Errorf("%w: CR or NUL in a field", ErrProtocol)
	errLineEnding  = fmt.Errorf("%w: line not ended by CRLF", ErrProtocol)
	errTooLarge    = fmt.Errorf("%w: header line longer than 64 KiB", ErrProtocol)
	errLength      = fmt.Errorf("%w: bad Content-Length", ErrProtocol)
	errEncoding    = fmt.Errorf("%w: unsupported Transfer-Encoding", ErrProtocol)
	errChunk       = fmt.Errorf("%w: bad chunk", ErrProtocol)
	errUnsolicited = fmt.Errorf("%w: bytes after the response", ErrProtocol)
	errUpgrade     = fmt.Errorf("%w: unexpected 101 Switching Protocols", ErrProtocol)
)

// LineLimit bounds a line of a response: the longest status, header,
// chunk-size or trailer line [Parser] takes, its CRLF included, is one byte
// less. A reader's buffer must hold at least LineLimit bytes, so that a line
// the parser leaves unconsumed can be fed again whole.
const LineLimit = 64 << 10

const maxInterimFrames = 8 // 1xx responses and the final one

// A Parser reads HTTP/1.1 responses from bytes pushed to it as they
// arrive, in pieces of any size, so that the same strict parser serves the
// clients that block on their connection and the event loops that
// never block. It holds no buffer: a line split across two reads is left
// unconsumed, and the caller feeds it again with the bytes that follow.
// Body bytes are counted and dropped as they pass.
//
// It accepts what gather's HTTP/1.1 clients promise to read:
// a status line "HTTP/1.0" or "HTTP/1.1", header lines ended by CRLF,
// Content-Length (repeated only with equal values), chunked
// Transfer-Encoding with extensions and trailers, a body that runs to the
// end of the connection, and up to maxInterimFrames interim 1xx responses
// before the final one. Obsolete line folding (RFC 9112, 5.2) is accepted
// in the fields the parser does not interpret, and rejected in the
// framing ones (Content-Length, Transfer-Encoding, Connection), whose value
// it would otherwise misread.
//
// Three optional hooks let a client that wants more than a status and a
// byte count (fetch's: redirects, gzip, bodies kept) see the response
// without a second parse and without copies; bench leaves them unset and
// pays one nil check per field and per body piece.
type Parser struct {
	// NoBody says the request was HEAD: no response carries a body.
	NoBody bool
	// Field, if set, is called with each field of the final response's
	// header section (not those of interim responses, nor trailers). Name
	// and value (without surrounding white space) point into the bytes
	// being fed and are valid only during the call.
	Field func(name, value []byte)
	// Body, if set, is called with the body's bytes as they pass, without
	// chunk framing, valid only during the call. An error it returns stops
	// Feed, which returns it.
	Body func(b []byte) error
	// PauseAfterHeader makes Feed return as soon as the final response's
	// header section is complete, having consumed its blank line, so that
	// the caller can look at the status and fields before choosing where
	// the body goes. The next Feed goes on with the body.
	PauseAfterHeader bool

	state   parseState
	got     bool  // a byte of the response has arrived
	interim int   // interim responses skipped
	status  int   // of the response being read
	keep    bool  // the connection may carry another request
	http10  bool  // the status line said HTTP/1.0
	close   bool  // a Connection field held the close option
	fold    bool  // a line that starts with a space continues the last field
	length  int64 // Content-Length, -1 if none
	chunked bool
	left    int64 // bytes still to come of the body or the chunk
	body    int64 // body bytes so far, decoded
	header  bool  // the final response's header section is complete
	pause   bool  // Feed returns now: the header section just ended
}

type parseState uint8

const (
	parseStatus    parseState = iota // the status line
	parseHeader                      // header lines, up to the empty one
	parseBody                        // left bytes of a Content-Length body
	parseToEOF                       // a body without a length: to the end of the connection
	parseChunkSize                   // a chunk-size line
	parseChunkData                   // left bytes of a chunk
	parseChunkEnd                    // the CRLF after a chunk's data
	parseTrailer                     // trailer lines, up to the empty one
	parseDone                        // the final response is complete
)

// Reset readies p for the response to the next request. It keeps NoBody
// and the hooks.
func (p *Parser) Reset() {
	*p = Parser{NoBody: p.NoBody, Field: p.Field, Body: p.Body, PauseAfterHeader: p.PauseAfterHeader}
}

// HeaderDone reports whether the final response's header section is
// complete: Status is final, and every field has been seen.
func (p *Parser) HeaderDone() bool { return p.header }

// Done reports whether the final response is complete.
func (p *Parser) Done() bool { return p.state == parseDone }

// Status returns the status code of the response being read: the final
// one once Done.
func (p *Parser) Status() int { return p.status }

// BodyBytes returns the body bytes read so far, without the chunk framing.
func (p *Parser) BodyBytes() int64 { return p.body }

// KeepAlive reports whether the connection may carry another request after
// this response.
func (p *Parser) KeepAlive() bool { return p.keep }

// Started reports whether a byte of the response has arrived: a request
// on a reused connection that fails before it may be sent again.
func (p *Parser) Started() bool { return p.got }

// Feed parses as much of b as it can and returns the number of bytes it
// consumed. Fewer than len(b) means b ends inside a line: the caller keeps
// b[n:] and feeds it again with more bytes after it. Bytes after a complete
// final response are an error: no request asked for them, and they would
// be taken for the start of the next response.
func (p *Parser) Feed(b []byte) (n int, err error) {
	if len(b) > 0 {
		p.got = true
	}
	for n < len(b) {
		switch p.state {
		case parseBody, parseChunkData:
			k := min(int64(len(b)-n), p.left)
			if p.Body != nil {
				if err := p.Body(b[n : n+int(k)]); err != nil {
					return n, err
				}
			}
			n += int(k)
			p.left -= k
			p.body += k
			if p.left == 0 {
				if p.state == parseBody {
					p.state = parseDone
				} else {
					p.state = parseChunkEnd
				}
			}
			continue
		case parseToEOF:
			if p.Body != nil {
				if err := p.Body(b[n:]); err != nil {
					return n, err
				}
			}
			p.body += int64(len(b) - n)
			return len(b), nil
		case parseDone:
			return n, errUnsolicited
		}
		// A line, its LF included, must be shorter than LineLimit,
		// whether it comes whole or in pieces.
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 && len(b)-n < LineLimit {
			return n, nil
		}
		if i < 0 || i+1 >= LineLimit {
			return n, errTooLarge
		}
		end := n + i
		if end == n || b[end-1] != '\r' {
			return n, errLineEnding
		}
		line := b[n : end-1]
		n = end + 1
		if err := p.line(line); err != nil {
			return n, err
		}
		if p.pause {
			p.pause = false
			return n, nil
		}
	}
	return n, nil
}

// EOF tells p that the connection ended. It returns nil if that ends the
// response (a body without a length), io.EOF if not a byte of a response
// had arrived, and io.ErrUnexpectedEOF if the response was cut.
func (p *Parser) EOF() error {
	switch {
	case p.state == parseToEOF:
		p.state, p.keep = parseDone, false
		return nil
	case !p.got:
		return io.EOF
	default:
		return io.ErrUnexpectedEOF
	}
}

// line parses one line, without its CRLF, in the current state.
func (p *Parser) line(line []byte) error {
	switch p.state {
	case parseStatus:
		return p.statusLine(line)
	case parseHeader:
		if len(line) == 0 {
			return p.endHeader()
		}
		if err := p.field(line, true); err != nil {
			return err
		}
		if p.Field != nil && p.status >= 200 && line[0] != ' ' && line[0] != '\t' {
			colon := bytes.IndexByte(line, ':')
			p.Field(line[:colon], trimSpace(line[colon+1:]))
		}
		return nil
	case parseChunkSize:
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // a chunk extension
		}
		size, ok := parseHex(trimSpace(line))
		if !ok {
			return errChunk
		}
		p.left = size
		p.state = parseChunkData
		if size == 0 {
			p.state, p.fold = parseTrailer, false
		}
	case parseChunkEnd:
		if len(line) != 0 {
			return errChunk
		}
		p.state = parseChunkSize
	case parseTrailer:
		if len(line) == 0 {
			p.state = parseDone
			return nil
		}
		return p.field(line, false)
	}
	return nil
}

// statusLine parses "HTTP/1.x NNN[ reason]".
func (p *Parser) statusLine(line []byte) error {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) ||
		(line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return errStatusLine
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errStatusLine
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return errStatusLine
	}
	p.status, p.keep, p.length, p.chunked = status, line[7] == '1', -1, false
	p.http10, p.close, p.fold = line[7] == '0', false, false
	p.state = parseHeader
	return nil
}

// field checks one field line of the header section (in which it reads
// the fields that frame the response) or of the trailer section.
func (p *Parser) field(line []byte, header bool) error {
	// RFC 9110, 5.5: a field with CR or NUL is rejected, or read with
	// spaces in their place; not "close\x00" for the close option.
	if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, 0) >= 0 {
		return errFieldValue
	}
	if line[0] == ' ' || line[0] == '\t' {
		// Obsolete line folding: the line continues the previous field,
		// which is ignored, or it is rejected (see parser).
		if !p.fold {
			return errHeaderLine
		}
		return nil
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !IsToken(line[:colon]) {
		return errHeaderLine
	}
	p.fold = true
	if !header {
		return nil
	}
	name, value := line[:colon], trimSpace(line[colon+1:])
	switch {
	case EqualFold(name, "content-length"):
		p.fold = false
		n, ok := parseLength(value)
		if !ok || (p.length >= 0 && n != p.length) {
			return errLength
		}
		p.length = n
	case EqualFold(name, "transfer-encoding"):
		// Only one: chunked may not be applied twice (RFC 9112, 7).
		p.fold = false
		if !EqualFold(value, "chunked") || p.chunked {
			return errEncoding
		}
		p.chunked = true
	case EqualFold(name, "connection"):
		p.fold = false
		if hasToken(value, "close") {
			p.close = true // wherever it comes (RFC 9112, 9.6): see endHeader
		} else if hasToken(value, "keep-alive") {
			p.keep = true
		}
	}
	return nil
}

// endHeader decides, at the end of a header block, what follows it.
func (p *Parser) endHeader() error {
	// An HTTP/1.0 response with Transfer-Encoding has faulty framing, and
	// the connection must close after it (RFC 9112, 6.1).
	if p.close || p.http10 && p.chunked {
		p.keep = false
	}
	if p.status >= 200 {
		p.header, p.pause = true, p.PauseAfterHeader
	}
	switch {
	case p.status == 101:
		return errUpgrade
	case p.status < 200:
		p.interim++
		if p.interim >= maxInterimFrames {
			return errStatusLine
		}
		p.state = parseStatus
	case p.status == 204 || p.status == 304 || p.NoBody:
		p.state = parseDone
	case p.chunked:
		// Transfer-Encoding overrides Content-Length (RFC 9112, 6.3).
		p.state = parseChunkSize
	case p.length == 0:
		p.state = parseDone
	case p.length > 0:
		p.state, p.left = parseBody, p.length
	default:
		p.state, p.keep = parseToEOF, false
	}
	return nil
}
