package fetcher

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/h1/h1test"
)

// caseServer is a loopback server whose every connection is answered by
// handle; it counts the connections, and stops at the end of the test.
func caseServer(t *testing.T, handle func(net.Conn)) (url string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), conns
}

// The shared response cases (h1test.Cases), two requests one after the
// other on each client: the own client must make of each what bench's
// clients make of it, with the same connections; net/http, more lenient,
// where it differs, is said case by case.
func TestResponseCases(t *testing.T) {
	t.Parallel()
	for _, tt := range h1test.Cases {
		for _, byteByByte := range []bool{false, true} {
			if byteByByte && (tt.Whole || len(tt.Response) > 20000) {
				continue
			}
			name := tt.Name
			if byteByByte {
				name += ", byte by byte"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				forClients(t, func(t *testing.T, client Client) {
					url, conns := caseServer(t, h1test.Canned(tt.Response, byteByByte, tt.Close))
					want := []string{caseOutcome(tt)}
					if o, ok := netHTTPOutcomes[tt.Name]; ok && client == ClientNetHTTP {
						want = o
					}
					// A case that ends in a timeout waits for it: 1 s. The
					// others get 10 s, which a loaded machine needs to
					// send a large header block byte by byte (seen: over
					// 1 s at load 15).
					timeout := 10 * time.Second
					if slices.ContainsFunc(want, func(o string) bool { return strings.Contains(o, KindTimeout) }) {
						timeout = time.Second
					}
					f := mustNew(t, Options{Client: client, Timeout: timeout})
					recs := run(t, f, []string{url + "/1", url + "/2"})
					for _, r := range recs {
						if got := outcome(r, tt.Status == 0); !slices.Contains(want, got) {
							t.Errorf("line %d: %s (%s %s), want one of %q", r.Line, got, r.Error, r.Message, want)
						}
					}
					if client == ClientAuto && conns.Load() != tt.Conns {
						t.Errorf("%d connections for two requests, want %d", conns.Load(), tt.Conns)
					}
				})
			})
		}
	}
}

// outcome is what a test compares of a record: status, bytes and error
// kind of a response read, the kind alone of a failure (the status and
// bytes of a body that failed half way are those of its head and of what
// came).
func outcome(r Record, failure bool) string {
	if failure {
		return r.Error
	}
	return fmt.Sprintf("%d %d %s", r.Status, r.Bytes, r.Error)
}

// caseOutcome is the outcome a client must make of c.
func caseOutcome(c h1test.Case) string {
	switch {
	case c.Status == 0:
		return KindConnection
	case c.Status >= 400:
		return fmt.Sprintf("%d %d %s", c.Status, c.Body, KindStatus)
	}
	return fmt.Sprintf("%d %d ", c.Status, c.Body)
}

// netHTTPOutcomes are the cases net/http reads differently from gather's
// parser, and what it may make of them.
var netHTTPOutcomes = map[string][]string{
	// It ignores what a server sends after a response and logs it, when
	// its connection's reader sees the bytes before the next request; if
	// not, the next response is malformed.
	"bytes after the body":       {"", KindConnection},
	"bytes after a chunked body": {"", KindConnection},
	"bytes after a 204":          {"", KindConnection},
	// It hands a 101 to its caller as a response.
	"upgrade": {""},
	// It reads these headers (lines ended by LF alone, a folded
	// Connection field), where the parser rejects them.
	"bare LF":           {""},
	"folded connection": {""},
	// It reads these as responses whose body runs to the end of the
	// connection, which the server keeps open: a header line longer than
	// the parser's limit (net/http's is 1 MiB), a field name with a space
	// (so no Content-Length), Transfer-Encoding in an HTTP/1.0 response
	// (its 12 bytes of framing taken for body).
	"header line too long": {KindTimeout},
	"space in header name": {KindTimeout},
	"HTTP/1.0 chunked":     {"200 12 " + KindTimeout},
	// It takes a status below 100 for an interim response, and waits.
	"status below 100": {KindTimeout},
}
