package loadgen

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// A run at the rate limit, far behind its schedule against a server that
// never answers, stops within seconds of its context ending, on every
// HTTP/1.1 engine, and counts what it could not send as dropped: at 1e20
// req/s the schedule's count spun for ever, deaf to Ctrl-C.
func TestStopAtTheRateLimit(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // reads, never answers
	engines := []struct {
		name string
		plan Plan
	}{
		{"event loops", Plan{}},
		{"goroutines", Plan{Goroutines: true}},
		{"net/http", Plan{NetHTTP: true}},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			p := eng.plan
			p.URL = mustURL(t, "http://"+srv.addr()+"/")
			p.Connections, p.Rate, p.Duration = 2, MaxRate, time.Hour
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			s, err := Run(ctx, &p)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 20*time.Second { // generous: it takes 0.3 s
				t.Errorf("%s: Run took %v, its context ended after 300ms", s.Generator.Engine, took)
			}
			if !s.Interrupted || s.Dropped < 1_000_000 {
				t.Errorf("%s: interrupted %v, %d dropped; want true and millions", s.Generator.Engine, s.Interrupted, s.Dropped)
			}
		})
	}
}
