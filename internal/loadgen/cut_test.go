package loadgen

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// Requests in flight when the run is stopped are counted as Cut, on every
// engine and in both models, in the summary and in the series' last
// interval: a run stopped before any answer reported nothing at all.
func TestStopCountsCutRequests(t *testing.T) {
	t.Parallel()
	const conns = 3
	engines := []struct {
		name string
		plan Plan
	}{
		{"event loops", Plan{}},
		{"goroutines", Plan{Goroutines: true}},
		{"net/http", Plan{NetHTTP: true}},
		{"HTTP/2", Plan{HTTP2: true}},
	}
	for _, eng := range engines {
		for _, rate := range []float64{0, 1000} {
			model := map[bool]string{false: "closed", true: "open"}[rate > 0]
			t.Run(eng.name+", "+model, func(t *testing.T) {
				t.Parallel()
				var arrived atomic.Int64
				all := make(chan struct{})
				release := make(chan struct{})
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if arrived.Add(1) == conns {
						close(all)
					}
					select { // held until the client goes
					case <-r.Context().Done():
					case <-release:
					}
				})
				srv := httptest.NewUnstartedServer(h)
				srv.Config.ErrorLog = log.New(io.Discard, "", 0)
				srv.Config.Protocols = new(http.Protocols)
				srv.Config.Protocols.SetHTTP1(true)
				srv.Config.Protocols.SetUnencryptedHTTP2(true)
				srv.Start()
				t.Cleanup(srv.Close)
				t.Cleanup(func() { close(release) })

				p := eng.plan
				p.URL = mustURL(t, srv.URL+"/")
				p.Connections, p.Rate, p.Duration, p.Timeout = conns, rate, time.Minute, time.Minute
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				go func() {
					select {
					case <-all:
						cancel()
					case <-ctx.Done():
					}
				}()
				s, err := Run(ctx, &p)
				if err != nil {
					t.Fatal(err)
				}
				if s.Cut != conns || s.Requests != 0 || !s.Interrupted {
					var why []string
					for k := range report.ErrorKind(len(s.ErrorKinds)) {
						why = append(why, s.ErrorSamples(k)...)
					}
					t.Errorf("%s: cut %d, requests %d (statuses %v, errors %q), interrupted %v; want %d, 0, true",
						s.Generator.Engine, s.Cut, s.Requests, s.Status, why, s.Interrupted, conns)
				}
				if s.Series == nil || s.Series.Totals().Cut != conns || s.Series.At(s.Series.Len()-1).Cut != conns {
					t.Errorf("%s: the series does not count the %d cut in its last interval", s.Generator.Engine, conns)
				}
			})
		}
	}
}
