package h1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/gather-dev/gather/internal/h1/h1test"
)

// hooked is what the hooks of a parser saw of a response.
type hooked struct {
	parsed
	fields string // "Name: value\n" for each field, as the hook saw it
	body   string
}

// parseHooked feeds resp as parseStream does, with every hook set and,
// if pause, PauseAfterHeader: then each pause must come with HeaderDone
// and no body byte yet.
func parseHooked(t *testing.T, resp string, pause bool, cuts ...int) hooked {
	var h hooked
	var fields, body strings.Builder
	p := Parser{PauseAfterHeader: pause,
		Field: func(name, value []byte) { fields.WriteString(string(name) + ": " + string(value) + "\n") },
		Body:  func(b []byte) error { body.Write(b); return nil },
	}
	var pending []byte
	prev, pauses := 0, 0
	finish := func(err error) hooked {
		h.parsed = parsed{status: p.status, body: p.body, keep: p.keep, err: err}
		if err != nil {
			h.parsed = parsed{err: err}
		}
		h.fields, h.body = fields.String(), body.String()
		return h
	}
	for _, cut := range append(cuts, len(resp)) {
		pending = append(pending, resp[prev:cut]...)
		prev = cut
		for {
			before := p.HeaderDone()
			n, err := p.Feed(pending)
			if err != nil {
				return finish(err)
			}
			pending = pending[n:]
			if !pause || before || !p.HeaderDone() {
				break
			}
			pauses++
			if body.Len() > 0 {
				t.Fatalf("paused after %d body bytes", body.Len())
			}
		}
		if p.Done() && len(pending) > 0 {
			return finish(errUnsolicited)
		}
	}
	if !p.Done() {
		if err := p.EOF(); err != nil {
			return finish(err)
		}
	}
	if pause && pauses != 1 {
		t.Fatalf("paused %d times, want once", pauses)
	}
	return finish(nil)
}

// The hooks see what net/http reads of the same response: the fields of
// the final response's header (not of interim ones, nor trailers) and the
// body without its chunk framing, wherever reads cut it, paused or not.
// The hooks change nothing of what the parser makes of a response.
func TestParserHooks(t *testing.T) {
	t.Parallel()
	for _, tt := range h1test.Cases {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			want := parseStream(tt.Response)
			whole := parseHooked(t, tt.Response, false)
			if whole.parsed != want {
				t.Fatalf("with hooks: %+v; without: %+v", whole.parsed, want)
			}
			if tt.Status == 0 {
				return
			}
			fields, body := netHTTPReads(t, tt.Response)
			// net/http ignores Transfer-Encoding in an HTTP/1.0 response;
			// the parser decodes it, then closes (RFC 9112, 6.1).
			if tt.Name != "HTTP/1.0 chunked" && whole.body != body {
				t.Errorf("body hook saw %d bytes %.40q, net/http reads %d bytes %.40q", len(whole.body), whole.body, len(body), body)
			}
			// net/http joins a folded line to its field; the parser does
			// not interpret such fields and gives the first line only.
			if !strings.Contains(tt.Name, "folded") && whole.fields != fields {
				t.Errorf("field hook saw\n%s\nnet/http reads\n%s", whole.fields, fields)
			}
			step := max(1, len(tt.Response)/500)
			for cut := 1; cut < len(tt.Response); cut += step {
				for _, pause := range []bool{false, true} {
					if got := parseHooked(t, tt.Response, pause, cut); got != whole {
						t.Fatalf("cut at %d, pause %v: %+v; whole: %+v", cut, pause, got, whole)
					}
				}
			}
		})
	}
}

// netHTTPReads returns the fields, in order, and the body of the final
// response in resp as net/http reads them.
func netHTTPReads(t *testing.T, resp string) (fields, body string) {
	br := bufio.NewReader(strings.NewReader(resp))
	for {
		// The order of the fields, which http.Header loses.
		head, err := h1test.ReadRequest(br) // a response head reads the same
		if err != nil {
			t.Fatal(err)
		}
		r, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(head), br)), nil)
		if err != nil {
			t.Fatalf("net/http: %v", err)
		}
		if r.StatusCode >= 200 {
			b, err := io.ReadAll(r.Body)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("net/http body: %v", err)
			}
			var f strings.Builder
			tp := textproto.NewReader(bufio.NewReader(strings.NewReader(head)))
			tp.ReadLine() // the status line
			for {
				line, err := tp.ReadLine()
				if err != nil || line == "" {
					break
				}
				name, value, _ := strings.Cut(line, ":")
				f.WriteString(name + ": " + strings.Trim(value, " \t") + "\n")
			}
			return f.String(), string(b)
		}
	}
}

// A Body hook's error stops Feed and is returned; a Body hook is not
// called for a response without a body.
func TestParserBodyError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	calls := 0
	p := Parser{Body: func([]byte) error { calls++; return boom }}
	_, err := p.Feed([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	if err != boom || calls != 1 {
		t.Fatalf("Feed = %v after %d calls, want %v after 1", err, calls, boom)
	}
	p.Reset()
	calls = 0
	if _, err := p.Feed([]byte("HTTP/1.1 204 No Content\r\n\r\n")); err != nil || calls != 0 || !p.Done() {
		t.Fatalf("204: Feed = %v, %d calls, done %v", err, calls, p.Done())
	}
}
