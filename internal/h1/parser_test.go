package h1

import (
	"strings"
	"testing"

	"github.com/gather-dev/gather/internal/h1/h1test"
)

// parsed is what a parser made of a connection's bytes.
type parsed struct {
	status int
	body   int64
	keep   bool
	err    error
}

// parseStream feeds resp to a parser in pieces cut at cuts, as a reader
// would: the bytes a feed leaves are fed again with the next piece. At the
// end the connection closes.
func parseStream(resp string, cuts ...int) parsed {
	var p Parser
	var pending []byte
	prev := 0
	for _, cut := range append(cuts, len(resp)) {
		pending = append(pending, resp[prev:cut]...)
		prev = cut
		n, err := p.Feed(pending)
		if err != nil {
			return parsed{err: err}
		}
		pending = pending[n:]
		if p.Done() {
			if len(pending) > 0 {
				return parsed{err: errUnsolicited}
			}
		}
	}
	if !p.Done() {
		if err := p.EOF(); err != nil {
			return parsed{err: err}
		}
	}
	return parsed{status: p.status, body: p.body, keep: p.keep}
}

// Reads cut a response anywhere; none of the cuts changes what the parser
// makes of it.
func TestParserCuts(t *testing.T) {
	t.Parallel()
	for _, tt := range h1test.Cases {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			whole := parseStream(tt.Response)
			if whole.err == nil && (whole.status != tt.Status || whole.body != tt.Body) {
				t.Fatalf("whole: %+v, want status %d and %d body bytes", whole, tt.Status, tt.Body)
			}
			step := max(1, len(tt.Response)/3000) // every cut of the short ones
			for cut := 1; cut < len(tt.Response); cut += step {
				if got := parseStream(tt.Response, cut); got != whole {
					t.Fatalf("cut at %d: %+v; whole: %+v", cut, got, whole)
				}
			}
			if len(tt.Response) < 2000 {
				cuts := make([]int, 0, len(tt.Response))
				for i := 1; i < len(tt.Response); i++ {
					cuts = append(cuts, i)
				}
				if got := parseStream(tt.Response, cuts...); got != whole {
					t.Fatalf("byte by byte: %+v; whole: %+v", got, whole)
				}
			}
		})
	}
}

// The line limit holds whether a long line comes whole or in pieces.
func TestParserLineLimit(t *testing.T) {
	t.Parallel()
	for _, n := range []int{100, LineLimit - 1, LineLimit, 3 * LineLimit} {
		// A header line of n bytes, its CRLF included.
		line := "X: " + strings.Repeat("v", n-5) + "\r\n"
		resp := "HTTP/1.1 200 OK\r\n" + line + "Content-Length: 0\r\n\r\n"
		wantErr := len(line) >= LineLimit
		for _, cuts := range [][]int{nil, {20}, {20, 20 + len(line)/2}} {
			got := parseStream(resp, cuts...)
			if (got.err == errTooLarge) != wantErr || (!wantErr && got.err != nil) {
				t.Errorf("line of %d bytes, cuts %v: %+v; want too large: %v", len(line), cuts, got, wantErr)
			}
		}
	}
}

// FuzzParser checks that no input panics the parser and that where reads
// cut it does not change what the parser makes of it.
func FuzzParser(f *testing.F) {
	for _, tt := range h1test.Cases {
		if len(tt.Response) < 4096 {
			f.Add(tt.Response, uint16(len(tt.Response)/2))
		}
	}
	f.Fuzz(func(t *testing.T, resp string, cut uint16) {
		c := int(cut) % (len(resp) + 1)
		if whole, got := parseStream(resp), parseStream(resp, c); whole != got {
			t.Fatalf("cut at %d: %+v; whole: %+v", c, got, whole)
		}
	})
}
