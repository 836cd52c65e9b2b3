package report_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// Two workers record into their own recorders; the load generator merges
// them when both have stopped, and saves the result for 'gather report'.
func Example() {
	workers := []*report.Recorder{report.NewRecorder(), report.NewRecorder()}
	for i, rec := range workers {
		for j := range 100 {
			d := time.Duration(1+i+j%10) * time.Millisecond
			rec.Record(report.Sample{Response: d, Service: d, Status: 200, Bytes: 150})
		}
	}
	rec := workers[0]
	rec.Record(report.Sample{Err: report.ErrTimeout})

	s := report.Merge(workers...)
	s.Target, s.Method, s.Connections, s.Elapsed = "http://127.0.0.1:5000/", "GET", 2, time.Second

	var saved bytes.Buffer
	if err := s.Save(&saved); err != nil {
		fmt.Println(err)
		return
	}
	again, err := report.Load(&saved)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Percentiles are the top of their histogram bucket: within 0.1%.
	l := again.Response()
	fmt.Printf("%d requests, %d errors, p50 %v, p99 %v, max %v\n", again.Requests, again.Errors, l.P50, l.P99, l.Max)
	// Output:
	// 201 requests, 1 errors, p50 6.003ms, p99 11.007ms, max 11.007ms
}
