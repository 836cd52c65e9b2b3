package loadgen

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gather-dev/gather/internal/report"
)

// refusedURL returns an http:// URL on loopback where nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/"
}

// In the open model a request that finds no connection fails at its due
// time, not when it is claimed, and counts as sent: the HTTP/2 client
// reports what the HTTP/1.1 engines report for the same run.
func TestH2DialsWhenDue(t *testing.T) {
	t.Parallel()
	url := refusedURL(t)
	// 2 req/s for 2 s: 4 requests, the last due at 1.5 s, 500 ms before
	// the end, which a loaded machine (the full suite under -race) needs
	// to send it: with 50 ms (20 req/s for 200 ms), and with 250 ms (4
	// req/s for 1 s, at load 14), it was at times dropped, its loop held
	// up past the end.
	for _, http2 := range []bool{false, true} {
		p := &Plan{URL: mustURL(t, url), HTTP2: http2, Rate: 2, Duration: 2 * time.Second, Connections: 2, Timeout: 10 * time.Second}
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Requests != 4 || s.Errors != 4 || s.Dropped != 0 || s.Elapsed < 1490*time.Millisecond {
			t.Errorf("http2 %v: %d requests, %d errors, %d dropped in %v; want 4 failed, none dropped, in about 1.5 s or more",
				http2, s.Requests, s.Errors, s.Dropped, s.Elapsed)
		}
	}
}

// A server that closes every connection at once costs one connection per
// request, each request failed as reset, in both models: never a redial
// loop faster than the requests come.
func TestH2ClosedAtOnce(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(net.Conn) {})
	for _, tt := range []struct {
		rate     float64
		requests int64
		duration time.Duration
		want     int64
	}{
		{0, 5, 0, 5},
		// The last due at 750 ms, 250 ms before the end: at 20 req/s for
		// 200 ms a loaded machine (load 14) dropped from 1 to all 4.
		{4, 0, time.Second, 4},
	} {
		before := srv.conns.Load()
		p := &Plan{URL: mustURL(t, srv.url()), HTTP2: true, Rate: tt.rate, Requests: tt.requests, Duration: tt.duration,
			Connections: 1, Timeout: 10 * time.Second}
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		accepted := srv.conns.Load() - before
		// One connection per request sent: a loop held up past the end
		// may drop the last ones, which costs none.
		n := s.Requests
		if n < 1 || n+s.Dropped != tt.want || (tt.rate == 0 && n != tt.want) ||
			s.ErrorKinds[report.ErrReset] != n || s.ConnectionsOpened() != n || accepted != n {
			t.Errorf("rate %v: %d requests (%d dropped), errors %v, %d connections (server: %d); want %d, one connection each, reset",
				tt.rate, s.Requests, s.Dropped, s.ErrorKinds, s.ConnectionsOpened(), accepted, tt.want)
		}
	}
}

// A request the server did not process (above a GOAWAY's last stream) is
// sent again on a new connection with the deadline of its first send:
// --timeout bounds the request, not each of its tries.
func TestH2RetryKeepsDeadline(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := h2Script(t, func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, _ net.Conn) {
		first := conns.Add(1) == 1
		eachRequest(fr, func(uint32) error {
			if first {
				// Unprocessed, half-way through the request's time: a
				// loaded machine may send the GOAWAY up to 1.5 s late and
				// end the run up to 1.2 s late (with 300 ms of a 500 ms
				// -t, both were seen at load 14).
				time.Sleep(1500 * time.Millisecond)
				fr.WriteGoAway(0, http2.ErrCodeNo, nil)
			}
			return nil // the second connection never answers
		})
	})
	p := &Plan{URL: mustURL(t, srv.url()), HTTP2: true, Connections: 1, Requests: 1, Timeout: 3 * time.Second}
	s, err := Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	// Each try given its own 3 s, the request would end 4.5 s in.
	if s.ErrorKinds[report.ErrTimeout] != 1 || s.ConnectionsOpened() != 2 || s.Elapsed > 4200*time.Millisecond {
		t.Errorf("errors %v, %d connections, in %v: want one timeout after 3 s, sent on 2 connections",
			s.ErrorKinds, s.ConnectionsOpened(), s.Elapsed)
	}
}
