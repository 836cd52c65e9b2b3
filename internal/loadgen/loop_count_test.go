//go:build linux

package loadgen

import (
	"bufio"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// answering answers up to perConn requests on a connection (0: any
// number) with helloResponse, a keep-alive answer, then closes it
// without saying so, and counts the answers it wrote.
func answering(perConn int, answered *atomic.Int64) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for n := 0; perConn == 0 || n < perConn; n++ {
			if _, err := readRequest(br); err != nil {
				return
			}
			if _, err := c.Write([]byte(helloResponse)); err != nil {
				return
			}
			answered.Add(1)
		}
	}
}

// Every request the event loops send is counted once, whichever way its
// connection ends: a server that closes a keep-alive connection right
// after an answer (the next request meets a stale connection and is sent
// again on a new one, the last of the schedule too), a connection retired
// by RequestsPerConn, over HTTP and HTTPS, in the open and the closed
// model. The sum of 200s, errors, dropped and cut is the plan's count,
// and each 200 is an answer the server wrote.
func TestLoopCountsEveryRequestOnce(t *testing.T) {
	t.Parallel()
	const n = 20
	for _, scheme := range []string{"http", "https"} {
		for _, tt := range []struct {
			name    string
			perConn int // answers the server gives a connection before it closes it
			retire  int // Plan.RequestsPerConn
		}{
			{"server closes after each answer", 1, 0},
			{"server closes after 3 answers", 3, 0},
			{"retired after 2 requests", 0, 2},
			{"retired after 3, server closes after 2", 2, 3},
		} {
			for _, rate := range []float64{0, 100, 2000} {
				name := fmt.Sprintf("%s/%s/rate %v", scheme, tt.name, rate)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					var answered atomic.Int64
					var srv *rawServer
					if scheme == "https" {
						srv = newTLSServer(t, serverTLS(0), answering(tt.perConn, &answered))
					} else {
						srv = newRawServer(t, answering(tt.perConn, &answered))
					}
					p := &Plan{URL: mustURL(t, srv.url()), RootCAs: testRoots(), Rate: rate, Requests: n,
						Connections: 2, RequestsPerConn: tt.retire, Timeout: 10 * time.Second}
					s := runLoops(t, t.Context(), p)
					if s.Requests != n || s.Status[200] != n || s.Errors != 0 || s.Dropped != 0 || s.Cut != 0 ||
						answered.Load() != n {
						t.Errorf("requests %d: statuses %v, errors %v (%d), dropped %d, cut %d; the server answered %d; want %d × 200",
							s.Requests, s.Status, s.ErrorKinds, s.Errors, s.Dropped, s.Cut, answered.Load(), n)
					}
				})
			}
		}
	}
}
