// Package h1test holds what the tests of gather's HTTP/1.1 clients share:
// a table of responses and what a client must make of them, and a server
// side that answers with them. Each client (bench's blocking client and
// event loops, fetch's client, and net/http where fetch falls back on it)
// runs the same table, so a response means the same to all of them.
package h1test

import (
	"bufio"
	"net"
	"strings"
)

// A Failure is how a client must fail on a response.
type Failure int

const (
	None     Failure = iota // the response is read
	Protocol                // malformed: the parser rejects it
	Cut                     // the connection closed before the response was complete
)

// A Case is a server's answer to every request on a connection and what a
// client must make of two requests, one after the other.
type Case struct {
	Name     string
	Response string
	Close    bool    // the server closes after each response
	Status   int     // 0: want an error
	Body     int64   // body bytes, decoded
	Fail     Failure // None unless Status is 0
	Conns    int64   // connections for two requests
	// Whole: the response must arrive in one write, because what the
	// client sees depends on where the writes split it.
	Whole bool
}

var (
	bigHeaders = "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Filler: 0123456789012345678901234567890123456789\r\n", 300) + "Content-Length: 2\r\n\r\nok"
	bigBody    = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 100000)
)

// Cases are the responses every HTTP/1.1 client of gather is tested with.
var Cases = []Case{
	{Name: "content-length", Response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", Status: 200, Body: 5, Conns: 1},
	{Name: "lower-case names, no reason", Response: "HTTP/1.1 404\r\ncontent-length: 2\r\n\r\nno", Status: 404, Body: 2, Conns: 1},
	{Name: "repeated equal lengths", Response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", Status: 200, Body: 2, Conns: 1},
	{Name: "chunked with extension and trailer", Response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n", Status: 200, Body: 21, Conns: 1},
	{Name: "empty body", Response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Status: 200, Body: 0, Conns: 1},
	{Name: "204 has no body", Response: "HTTP/1.1 204 No Content\r\n\r\n", Status: 204, Body: 0, Conns: 1},
	{Name: "304 has no body", Response: "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", Status: 304, Body: 0, Conns: 1},
	{Name: "interim 100 skipped", Response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", Status: 201, Body: 1, Conns: 1},
	{Name: "103 with headers skipped", Response: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", Status: 200, Body: 2, Conns: 1},
	{Name: "connection close", Response: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", Close: true, Status: 200, Body: 2, Conns: 2},
	{Name: "HTTP/1.0 closes", Response: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", Close: true, Status: 200, Body: 2, Conns: 2},
	{Name: "HTTP/1.0 keep-alive", Response: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", Status: 200, Body: 2, Conns: 1},
	{Name: "no length: body to EOF", Response: "HTTP/1.1 200 OK\r\n\r\nuntil the end", Close: true, Status: 200, Body: 13, Conns: 2},
	{Name: "server closes idle connection", Response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", Close: true, Status: 200, Body: 2, Conns: 2},
	{Name: "large header block", Response: bigHeaders, Status: 200, Body: 2, Conns: 1},
	{Name: "large body", Response: bigBody, Status: 200, Body: 100000, Conns: 1},
	{Name: "garbage", Response: "HELLO\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "bad status code", Response: "HTTP/1.1 2x0 OK\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "status below 100", Response: "HTTP/1.1 099 OK\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "HTTP/2 status line", Response: "HTTP/2 200 OK\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "bare LF", Response: "HTTP/1.1 200 OK\nContent-Length: 0\n\n", Fail: Protocol, Conns: 2},
	{Name: "header without colon", Response: "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok", Fail: Protocol, Conns: 2},
	{Name: "space in header name", Response: "HTTP/1.1 200 OK\r\nContent Length: 2\r\n\r\nok", Fail: Protocol, Conns: 2},
	// RFC 9112, 5.2: a user agent replaces an obs-fold with spaces; the
	// parser interprets no field but the framing ones, whose folding it
	// rejects rather than misread.
	{Name: "folded header", Response: "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\t3\r\nContent-Length: 0\r\n\r\n", Status: 200, Body: 0, Conns: 1},
	{Name: "folded length", Response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 0\r\n\r\nok", Fail: Protocol, Conns: 2},
	{Name: "folded connection", Response: "HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n close\r\nContent-Length: 2\r\n\r\nok", Fail: Protocol, Conns: 2},
	{Name: "whitespace before the first field", Response: "HTTP/1.1 200 OK\r\n X-A: 1\r\nContent-Length: 0\r\n\r\n", Fail: Protocol, Conns: 2},
	// RFC 9112, 9.6: close in any Connection field closes the connection.
	{Name: "close, then keep-alive", Response: "HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", Status: 200, Body: 2, Conns: 2},
	{Name: "HTTP/1.0 keep-alive, then close", Response: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", Status: 200, Body: 2, Conns: 2},
	// RFC 9112, 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
	// framing; the connection is closed after it.
	{Name: "HTTP/1.0 chunked", Response: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", Status: 200, Body: 2, Conns: 2},
	// Chunked applied twice (RFC 9112, 7), as net/http also rejects.
	{Name: "two transfer encodings", Response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", Fail: Protocol, Conns: 2},
	// RFC 9110, 5.5: CR and NUL in a field value are rejected (or would
	// have to be read as spaces: "close\0" is the close option).
	{Name: "NUL in a field value", Response: "HTTP/1.1 200 OK\r\nConnection: close\x00\r\nContent-Length: 2\r\n\r\nok", Fail: Protocol, Conns: 2},
	{Name: "bare CR in a field value", Response: "HTTP/1.1 200 OK\r\nX-A: 1\r2\r\nContent-Length: 2\r\n\r\nok", Fail: Protocol, Conns: 2},
	{Name: "bad trailer line", Response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nno colon\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "folded trailer", Response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nT: 1\r\n 2\r\n\r\n", Status: 200, Body: 2, Conns: 1},
	{Name: "bad length", Response: "HTTP/1.1 200 OK\r\nContent-Length: 2a\r\n\r\nok", Fail: Protocol, Conns: 2},
	{Name: "negative length", Response: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "conflicting lengths", Response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", Fail: Protocol, Conns: 2},
	{Name: "unsupported encoding", Response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "bad chunk size", Response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Fail: Protocol, Conns: 2},
	{Name: "chunk without CRLF", Response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "bytes after the body", Response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", Fail: Protocol, Conns: 2, Whole: true},
	{Name: "bytes after a chunked body", Response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nEXTRA", Fail: Protocol, Conns: 2, Whole: true},
	{Name: "bytes after a 204", Response: "HTTP/1.1 204 No Content\r\n\r\nEXTRA", Fail: Protocol, Conns: 2, Whole: true},
	{Name: "upgrade", Response: "HTTP/1.1 101 Switching Protocols\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "long header line", Response: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("y", 5000) + "\r\nContent-Length: 0\r\n\r\n", Status: 200, Body: 0, Conns: 1},
	{Name: "header line too long", Response: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("y", 70000) + "\r\n\r\n", Fail: Protocol, Conns: 2},
	{Name: "truncated body", Response: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", Close: true, Fail: Cut, Conns: 2},
	{Name: "truncated header", Response: "HTTP/1.1 200 OK\r\nContent-Le", Close: true, Fail: Cut, Conns: 2},
	{Name: "closed without a byte", Response: "", Close: true, Fail: Cut, Conns: 2},
}

// ReadRequest reads one bodyless request's header block.
func ReadRequest(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" {
			return b.String(), nil
		}
	}
}

// Canned answers every request on a connection with resp, written in one
// piece or byte by byte, and returns after it if close is set (the caller
// closes the connection).
func Canned(resp string, byteByByte, close bool) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := ReadRequest(br); err != nil {
				return
			}
			if byteByByte {
				for i := range len(resp) {
					if _, err := c.Write([]byte{resp[i]}); err != nil {
						return
					}
				}
			} else if _, err := c.Write([]byte(resp)); err != nil {
				return
			}
			if close {
				return
			}
		}
	}
}
