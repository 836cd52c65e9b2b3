package loadgen

import (
	"time"

	"github.com/gather-dev/gather/internal/report"
)

// defaultInterval is the length of a series interval unless the plan
// sets one.
const defaultInterval = time.Second

func (p *Plan) interval() time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	return defaultInterval
}

// startSeries attaches the run's series to its recorders and starts the
// goroutine that closes the intervals as they end and, if the plan has an
// OnInterval, the one that delivers them. Neither touches the hot path:
// the recorders only ever see their own interval slots (see
// [report.Intervals]). The function returned stops both once the engine
// has stopped, closes the last intervals, delivers them and returns the
// series; dropped is counted in the last interval.
func (r *run) startSeries(recs []*report.Recorder, due func(from, to time.Time) int64) (finish func(end time.Time, dropped, cut int64) *report.Series) {
	p := r.plan
	iv := report.NewIntervals(r.t0, p.interval(), recs...)
	if due != nil {
		iv.CountDue(due)
	}
	stop := make(chan struct{})
	cut := make(chan struct{})
	closed := make(chan struct{}, 1) // an interval has closed since the deliverer last looked
	go func() {
		defer close(cut)
		t := time.NewTimer(time.Until(iv.Next()))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			iv.Cut(time.Now())
			select {
			case closed <- struct{}{}:
			default:
			}
			t.Reset(time.Until(iv.Next()))
		}
	}()
	delivered := make(chan struct{})
	if p.OnInterval == nil {
		close(delivered)
	} else {
		go func() {
			defer close(delivered)
			n := 0
			deliver := func() {
				for ; n < iv.Len(); n++ {
					p.OnInterval(iv.Closed(n))
				}
			}
			for range closed {
				deliver()
			}
			deliver()
		}()
	}
	return func(end time.Time, dropped, cutInFlight int64) *report.Series {
		close(stop)
		<-cut
		iv.CountCut(cutInFlight)
		s := iv.Finish(end, dropped)
		close(closed) // the cutter, its only sender, has returned
		<-delivered
		return s
	}
}
