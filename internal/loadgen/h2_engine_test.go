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
	// 4 req/s for 1 s: 4 requests, the last due at 750 ms, 250 ms before
	// the end, which a loaded machine (the full suite under -race) needs
	// to send it: with 50 ms (20 req/s for 200 ms), it was at times
	// dropped, its loop held up past the end.
	for _, http2 := range []bool{false, true} {
		p := &Plan{URL: mustURL(t, url), HTTP2: http2, Rate: 4, Duration: time.Second, Connections: 2, Timeout: 10 * time.Second}
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Requests != 4 || s.Errors != 4 || s.Dropped != 0 || s.Elapsed < 740*time.Millisecond {
			t.Errorf("http2 %v: %d requests, %d errors, %d dropped in %v; want 4 failed, none dropped, in about 750 ms or more",
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
		{20, 0, 200 * time.Millisecond, 4}, // the last due at 150 ms
	} {
		before := srv.conns.Load()
		p := &Plan{URL: mustURL(t, srv.url()), HTTP2: true, Rate: tt.rate, Requests: tt.requests, Duration: tt.duration,
			Connections: 1, Timeout: 10 * time.Second}
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		accepted := srv.conns.Load() - before
		if s.Requests != tt.want || s.ErrorKinds[report.ErrReset] != tt.want || s.ConnectionsOpened() != tt.want || accepted != tt.want {
			t.Errorf("rate %v: %d requests, errors %v, %d connections (server: %d); want %d of each, reset",
				tt.rate, s.Requests, s.ErrorKinds, s.ConnectionsOpened(), accepted, tt.want)
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
				// Unprocessed, late in the request's time.
				time.Sleep(300 * time.Millisecond)
				fr.WriteGoAway(0, http2.ErrCodeNo, nil)
			}
			return nil // the second connection never answers
		})
	})
	p := &Plan{URL: mustURL(t, srv.url()), HTTP2: true, Connections: 1, Requests: 1, Timeout: 500 * time.Millisecond}
	s, err := Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	// Each try given its own 500 ms, the request would end 800 ms in.
	if s.ErrorKinds[report.ErrTimeout] != 1 || s.ConnectionsOpened() != 2 || s.Elapsed > 700*time.Millisecond {
		t.Errorf("errors %v, %d connections, in %v: want one timeout after 500 ms, sent on 2 connections",
			s.ErrorKinds, s.ConnectionsOpened(), s.Elapsed)
	}
}
