package loadgen

import (
	"net"
	"testing"
	"time"
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
	// 20 req/s for 200 ms: 4 requests, the last due at 150 ms.
	for _, http2 := range []bool{false, true} {
		p := &Plan{URL: mustURL(t, url), HTTP2: http2, Rate: 20, Duration: 200 * time.Millisecond, Connections: 2, Timeout: 10 * time.Second}
		s, err := Run(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if s.Requests != 4 || s.Errors != 4 || s.Dropped != 0 || s.Elapsed < 140*time.Millisecond {
			t.Errorf("http2 %v: %d requests, %d errors, %d dropped in %v; want 4 failed, none dropped, in about 150 ms",
				http2, s.Requests, s.Errors, s.Dropped, s.Elapsed)
		}
	}
}
