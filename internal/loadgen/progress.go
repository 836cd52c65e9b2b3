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
	every := p.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var pr Progress
				for _, rec := range recs {
					pr.Requests += rec.Requests()
					pr.Errors += rec.Errors()
				}
				pr.Elapsed = time.Since(r.t0)
				p.Progress(pr)
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}
