package push

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"

	"github.com/klauspost/compress/snappy"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// benchIntervals returns n intervals of 1 s of perInterval requests each,
// of widely spread latencies (log-normal around 600 µs, 1% from 1 to
// 50 ms), as a run records them.
func benchIntervals(n, perInterval int) []report.Interval {
	rng := rand.New(rand.NewPCG(1, 2))
	r := report.NewRecorder()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	iv := report.NewIntervals(start, time.Second, r)
	for i := range n * perInterval {
		at := start.Add(time.Duration(i) * time.Second / time.Duration(perInterval))
		if i%perInterval == 0 {
			iv.Cut(at)
		}
		v := time.Duration(600 * math.Exp(0.6*rng.NormFloat64()) * float64(time.Microsecond))
		if rng.IntN(100) == 0 {
			v = time.Millisecond + time.Duration(rng.Int64N(int64(49*time.Millisecond)))
		}
		r.Record(report.Sample{Response: v, Service: v, Status: 200, End: at})
	}
	s := iv.Finish(start.Add(time.Duration(n)*time.Second), 0)
	var out []report.Interval
	for x := range s.All() {
		out = append(out, x)
	}
	return out
}

// The cost of streaming, per interval, on the goroutine that delivers
// the intervals (never a worker's): folding one into the run's totals,
// and building, encoding and compressing its remote-write request (the
// sink's goroutine). Divide by the requests per interval for the cost
// per request: at 20,000 requests per 1 s interval, some ns each.
func BenchmarkInterval(b *testing.B) {
	ivs := benchIntervals(10, 20000)
	sink, err := Prometheus("http://127.0.0.1:9/api/v1/write", HistogramsAuto)
	if err != nil {
		b.Fatal(err)
	}
	p := sink.(*prometheusSink)
	p.start([]label{{"run", "0123456789abcdef"}}, "0123456789abcdef", []string{"http://127.0.0.1:8080/"})
	b.Run("fold", func(b *testing.B) {
		var acc accumulator
		for i := range b.N {
			acc.fold(ivs[i%len(ivs)])
		}
	})
	for _, mode := range []struct {
		name   string
		native bool
	}{{"native", true}, {"classic", false}} {
		b.Run("request/"+mode.name, func(b *testing.B) {
			var acc accumulator
			var snaps []*snapshot
			for _, iv := range ivs {
				snaps = append(snaps, acc.fold(iv))
			}
			b.ResetTimer()
			var bytes int
			var raw []byte
			for i := range b.N {
				raw = writeRequest(raw[:0], p.request(snaps[1+i%(len(snaps)-1):][:1], mode.native))
				bytes += len(snappy.Encode(nil, raw))
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/interval")
		})
	}
}

// The whole cost of one interval's write to a receiver on loopback that
// takes it (reads the body, answers 204): encoding, compressing and the
// HTTP request, client and receiver together.
func BenchmarkWrite(b *testing.B) {
	ivs := benchIntervals(10, 20000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, mode := range []HistogramMode{HistogramsNative, HistogramsClassic} {
		b.Run(HistogramModes[mode], func(b *testing.B) {
			sink, err := Prometheus(srv.URL+"/api/v1/write", mode)
			if err != nil {
				b.Fatal(err)
			}
			defer sink.close()
			sink.start([]label{{"run", "0123456789abcdef"}}, "0123456789abcdef", []string{"http://127.0.0.1:8080/"})
			var acc accumulator
			var snaps []*snapshot
			for _, iv := range ivs {
				snaps = append(snaps, acc.fold(iv))
			}
			b.ResetTimer()
			var sent int
			for i := range b.N {
				_, n, err := sink.write(b.Context(), snaps[1+i%(len(snaps)-1):][:1])
				if err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			b.ReportMetric(float64(sent)/float64(b.N), "bytes/interval")
		})
	}
}
