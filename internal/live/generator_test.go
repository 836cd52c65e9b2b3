package live

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/loadgen"
)

// BenchmarkGenerator is the generator's cost per request without a view
// and with one, drawing (into io.Discard) every interval of a series of
// 100 ms intervals: ten times the view's work at bench's default of 1 s.
// Compare the two with benchstat (-count 10): the view works on its own
// goroutine from the closed intervals and never touches the workers, so
// the difference should be lost in the noise.
//
//	go test ./internal/live -run XXX -bench Generator -count 10 | tee new.txt
func BenchmarkGenerator(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("Hello, world\n"))
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL + "/")
	if err != nil {
		b.Fatal(err)
	}
	for _, withView := range []bool{false, true} {
		b.Run(map[bool]string{false: "no-view", true: "view"}[withView], func(b *testing.B) {
			plan := &loadgen.Plan{URL: u, Connections: 4, Requests: int64(b.N), Timeout: 10 * time.Second, Interval: 100 * time.Millisecond}
			if withView {
				in, keys := io.Pipe()
				defer keys.Close()
				v := Start(in, io.Discard, Info{Target: "GET " + u.String(), Model: "closed: 4 connections", Requests: int64(b.N),
					Interval: plan.Interval, Start: time.Now()}, func() {})
				defer v.Stop()
				plan.OnInterval = v.Interval
			}
			b.ResetTimer()
			s, err := loadgen.Run(context.Background(), plan)
			b.StopTimer()
			if err != nil || s.Errors != 0 {
				b.Fatalf("Run: %v, %d errors", err, s.Errors)
			}
			b.ReportMetric(float64(s.Generator.CPU.Microseconds())/float64(s.Requests), "cpu-µs/req")
		})
	}
}
