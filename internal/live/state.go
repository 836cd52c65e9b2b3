package live

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/gather-dev/gather/internal/report"
)

// state is what the view knows of the run: the intervals delivered so
// far, summed. It is only touched by the view's own goroutine, from the
// intervals the series hands over; the workers never see it.
type state struct {
	start     time.Time
	last      report.Interval // the latest interval; zero before the first
	lastRate  float64         // its requests per second
	lastDue   float64         // the requests it made due per second (open model)
	intervals int
	total     report.IntervalCounts
	// codes counts the run's answers by exact code, over the codes each
	// interval split, and otherCodes the answers with codes an interval
	// did not split (see [report.StatusCodes]): the run's total of the
	// codes the series counts, which total.Codes, bounded, would not hold
	// past its eighth code.
	codes      map[int]int64
	otherCodes int64
	// response merges the intervals' response-time histograms (exact to
	// 1%, as theirs): the percentiles of the run so far.
	response *hdrhistogram.Histogram
	// rates and p99s are the history the charts draw, one value per
	// interval, at most historyLength of them.
	rates, p99s []float64
}

// historyLength bounds the intervals the charts remember: wider than any
// terminal.
const historyLength = 512

// add takes in one closed interval of the run. It costs a merge of the
// interval's histogram, some microseconds.
func (s *state) add(iv report.Interval) {
	s.intervals++
	s.last = iv
	s.total.Add(&iv.IntervalCounts)
	for code, n := range iv.Codes.All() {
		if s.codes == nil {
			s.codes = make(map[int]int64)
		}
		s.codes[code] += n
	}
	s.otherCodes += iv.OtherCodes()
	// The first and last intervals of a run are partial: their rates are
	// over the part the run went on for.
	covered := iv.Covered()
	s.lastRate = float64(iv.Requests) / covered.Seconds()
	s.lastDue = float64(iv.Due) / covered.Seconds()
	if h := iv.ResponseHistogram(); h != nil && h.TotalCount() > 0 {
		if s.response == nil {
			s.response = h.Clone()
		} else {
			s.response.Merge(h)
		}
	}
	p99 := 0.0
	if l := iv.Response(); l.Count > 0 {
		p99 = float64(l.P99) / float64(time.Millisecond)
	}
	s.rates = appendBounded(s.rates, s.lastRate)
	s.p99s = appendBounded(s.p99s, p99)
}

func appendBounded(s []float64, v float64) []float64 {
	if len(s) == historyLength {
		copy(s, s[1:])
		s = s[:len(s)-1]
	}
	return append(s, v)
}

// runLatency returns the percentiles of the run so far.
func (s *state) runLatency() (l report.Latency) {
	h := s.response
	if h == nil || h.TotalCount() == 0 {
		return l
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	vs := h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9})
	return report.Latency{P50: us(vs[0]), P90: us(vs[1]), P99: us(vs[2]), P999: us(vs[3]),
		Max: us(h.Max()), Min: us(h.Min()), Mean: us(int64(h.Mean())), Count: h.TotalCount()}
}

// overallRate returns the requests per second from the start to the end
// of the last interval (or now, if that is earlier: the run's last one).
func (s *state) overallRate(now time.Time) float64 {
	end := s.last.End()
	if now.Before(end) {
		end = now
	}
	d := end.Sub(s.start)
	if s.intervals == 0 || d <= 0 {
		return 0
	}
	return float64(s.total.Requests) / d.Seconds()
}
