package loadgen

import (
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// Progress is a snapshot of a run in progress.
type Progress struct {
	Requests int64         // requests finished or failed so far
	Errors   int64         // of which failed
	Elapsed  time.Duration // since the run started
}

// progress starts reporting progress if the plan asks for it and returns
// the function that stops it and waits for it.
func (r *run) progress(recs []*report.Recorder) (stop func()) {
	p := r.plan
	if p.Progress == nil {
		return func() {}
	}
	interval := p.ProgressEvery
	if interval <= 0 {
		interval = time.Second
	}
	return every(interval, func() bool {
		var pr Progress
		for _, rec := range recs {
			pr.Requests += rec.Requests()
			pr.Errors += rec.Errors()
		}
		pr.Elapsed = time.Since(r.t0)
		p.Progress(pr)
		return true
	})
}

// every calls f every d from a goroutine of its own until f returns false
// or the function it returns is called; that function waits for the
// goroutine to end.
func every(d time.Duration, f func() (more bool)) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if !f() {
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}
