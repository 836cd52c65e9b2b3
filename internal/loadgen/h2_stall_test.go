package loadgen

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gather-dev/gather/internal/report"
)

// A server that stops reading while its flow-control windows allow more
// than the socket buffers hold blocks the client's write: the write ends
// at the requests' deadline (--timeout), or without one at the run's end
// (-d), the connection and its requests counted as timeouts, and the run
// reports as any other.
func TestH2ServerStopsReading(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		timeout  time.Duration
		duration time.Duration
		requests int64
		want     int64 // requests, each a timeout, each on its own connection
	}{
		{name: "--timeout", timeout: 300 * time.Millisecond, requests: 2, want: 2},
		{name: "-d without --timeout", duration: 500 * time.Millisecond, want: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan struct{})
			srv := h2Script(t, func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, _ net.Conn) {
				// Windows as large as HTTP/2 allows, then no read again.
				fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
				fr.WriteWindowUpdate(0, 1<<31-1-65535)
				<-done
			})
			t.Cleanup(func() { close(done) }) // before srv's own cleanup closes the connections
			p := &Plan{URL: mustURL(t, "http://"+srv.addr()+"/"), HTTP2: true, Streams: 1, Connections: 1,
				Requests: tt.requests, Duration: tt.duration, Timeout: tt.timeout,
				// More than loopback's socket buffers hold, both sides.
				Method: "POST", Body: make([]byte, 32<<20)}
			// Bounded, so that a hang fails the test rather than the package.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			begin := time.Now()
			s, err := Run(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(begin); took > 15*time.Second {
				t.Errorf("the run took %v", took)
			}
			if s.Requests != tt.want || s.ErrorKinds[report.ErrTimeout] != tt.want || s.Cut != 0 {
				t.Errorf("%d requests, errors %v, %d cut; want %d, each a timeout", s.Requests, s.ErrorKinds, s.Cut, tt.want)
			}
			if got := srv.conns.Load(); got != tt.want || s.ConnectionsOpened() != got {
				t.Errorf("%d connections, %d in the report; want %d", got, s.ConnectionsOpened(), tt.want)
			}
		})
	}
}
