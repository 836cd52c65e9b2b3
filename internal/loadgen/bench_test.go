package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

const helloResponse = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world\n"

// The whole run, not only the client, allocates nothing per request: ten
// times the requests cost the same number of allocations, give or take
// the few of the runtime's own.
func TestRunAllocsDoNotGrow(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "event loops", true: "goroutines"}[goroutines], func(t *testing.T) {
			testRunAllocs(t, goroutines)
		})
	}
}

// mallocsDuring returns how many heap allocations f made, after a GC so
// that a collection's own work does not fall inside.
func mallocsDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs
}

func testRunAllocs(t *testing.T, goroutines bool) {
	srv := newRawServer(t, quiet(helloResponse))
	u := mustURL(t, "http://"+srv.addr()+"/")
	mallocs := func(n int64) uint64 {
		var s *report.Summary
		var err error
		count := mallocsDuring(func() {
			s, err = Run(t.Context(), &Plan{URL: u, Connections: 4, Requests: n, Timeout: 10 * time.Second, Goroutines: goroutines})
		})
		if err != nil || s.Requests != n || s.Errors != 0 {
			t.Fatalf("Run: %v, %d requests, %d errors", err, s.Requests, s.Errors)
		}
		if s.Generator.CPU <= 0 || s.Bytes != 13*n {
			t.Errorf("CPU %v, %d body bytes; want some CPU time, %d bytes", s.Generator.CPU, s.Bytes, 13*n)
		}
		return count
	}
	small, large := mallocs(1000), mallocs(10000)
	t.Logf("allocations: %d for 1000 requests, %d for 10000", small, large)
	if large > small+500 {
		t.Errorf("allocations grow with the request count: %d for 1000 requests, %d for 10000", small, large)
	}
}

// BenchmarkClient compares the cost per request of the fast HTTP/1.1
// client and of net/http, against a loopback server that answers without
// allocating (its CPU is part of the figure, the same for both) and
// against net/http's own server.
func BenchmarkClient(b *testing.B) {
	raw := newRawServer(b, quiet(helloResponse))
	std := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("Hello, world\n"))
	}))
	defer std.Close()
	for _, server := range []struct{ name, url string }{
		{"raw-server", "http://" + raw.addr() + "/"},
		{"net-http-server", std.URL + "/"},
	} {
		for _, netHTTP := range []bool{false, true} {
			name := server.name + map[bool]string{false: "/fast", true: "/net-http"}[netHTTP]
			b.Run(name, func(b *testing.B) {
				p := &Plan{URL: mustURL(b, server.url), Connections: 1, NetHTTP: netHTTP, Requests: 1}
				newDoer, err := transport(p, 1)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				d, _ := newDoer(ctx, 0)
				defer d.Close()
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					if status, _, err := doFirst(ctx, d, p.targetSet()); err != nil || status != 200 {
						b.Fatalf("status %d, err %v", status, err)
					}
				}
				reportCPU(b, cpu0)
			})
		}
	}
}

// BenchmarkRun measures a whole closed-model run, workers and recorders
// included, per request.
func BenchmarkRun(b *testing.B) {
	raw := newRawServer(b, quiet(helloResponse))
	u := mustURL(b, "http://"+raw.addr()+"/")
	for _, goroutines := range []bool{false, true} {
		b.Run(map[bool]string{false: "event-loops", true: "goroutines"}[goroutines], func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			s, err := Run(context.Background(), &Plan{URL: u, Connections: 8, Requests: int64(b.N), Goroutines: goroutines})
			if err != nil || s.Errors != 0 {
				b.Fatalf("%v, %d errors", err, s.Errors)
			}
			reportCPU(b, cpu0)
		})
	}
}

// reportCPU adds the process's CPU time (user + system, the in-process
// server's included) per operation since cpu0: on a loopback benchmark
// the wall time per request is mostly waiting, and the CPU is the cost.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// Over TLS a request costs the client one allocation, crypto/tls's (see
// tls_linux.go), on every engine: ten times the requests cost at most that
// many more allocations. The server runs in another process, with a
// certificate of its own (hence Insecure).
func TestRunAllocsTLS(t *testing.T) {
	u := mustURL(t, helperServer(t))
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "event loops", true: "goroutines"}[goroutines], func(t *testing.T) {
			mallocs := func(n int64) uint64 {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s, err := Run(t.Context(), &Plan{URL: u, Insecure: true, Connections: 4, Requests: n, Timeout: 10 * time.Second, Goroutines: goroutines})
				runtime.ReadMemStats(&after)
				if err != nil || s.Requests != n || s.Errors != 0 {
					t.Fatalf("Run: %v, %d requests, %d errors", err, s.Requests, s.Errors)
				}
				return after.Mallocs - before.Mallocs
			}
			small, large := mallocs(1000), mallocs(10000)
			perRequest := float64(large-small) / 9000
			t.Logf("allocations: %d for 1000 requests, %d for 10000: %.2f per request", small, large, perRequest)
			limit := 1.1
			if raceEnabled {
				limit = 2.5 // crypto/tls's buffers come from a sync.Pool
			}
			if perRequest > limit {
				t.Errorf("%.2f allocations per request over TLS, want at most %.1f (crypto/tls's one)", perRequest, limit)
			}
		})
	}
}

// BenchmarkRunTLS measures a closed-model run over TLS, per request, with
// the server in another process: cpu-ns/op is the client's CPU alone.
func BenchmarkRunTLS(b *testing.B) {
	u := mustURL(b, helperServer(b))
	for _, engine := range []string{"event-loops", "goroutines", "net-http"} {
		b.Run(engine, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			s, err := Run(context.Background(), &Plan{URL: u, Insecure: true, Connections: 8, Requests: int64(b.N),
				Goroutines: engine == "goroutines", NetHTTP: engine == "net-http"})
			if err != nil || s.Errors != 0 {
				b.Fatalf("%v, %d errors", err, s.Errors)
			}
			reportCPU(b, cpu0)
		})
	}
}

// BenchmarkRunOpen measures an open-model run at 10,000 req/s on the event
// loops, per request, for each timer: what pacing costs beyond the
// closed model's BenchmarkRun (the in-process server's CPU included in
// both).
func BenchmarkRunOpen(b *testing.B) {
	raw := newRawServer(b, quiet(helloResponse))
	u := mustURL(b, "http://"+raw.addr()+"/")
	for _, timer := range []LoopTimer{TimerFD, TimerDeadline, TimerPwait2} {
		for _, spin := range []time.Duration{time.Nanosecond, defaultSpin} {
			b.Run(fmt.Sprintf("%v/spin=%v", timer, spin), func(b *testing.B) {
				cpu0 := cpuTime()
				s, err := Run(context.Background(), &Plan{URL: u, Connections: 8, Rate: 10000, Requests: int64(b.N),
					LoopTimer: timer, LoopSpin: spin})
				if err != nil || s.Errors != 0 {
					b.Fatalf("%v, %d errors", err, s.Errors)
				}
				reportCPU(b, cpu0)
				b.ReportMetric(float64(s.Generator.SendLagP99)/1e3, "lag-p99-µs")
				b.ReportMetric(100*float64(s.Late)/float64(max(s.Requests, 1)), "late-%")
			})
		}
	}
}
