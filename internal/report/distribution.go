package report

import (
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The whole distribution of a run's latencies, for pictures of it (a
// percentile spectrum, a histogram of any buckets), where [Latency] gives
// the few percentiles a text report prints. Each call walks the run's
// histogram once: some tens of microseconds.

// ResponsePercentiles returns the run's response time at each percentile
// of ps (0 to 100, in any order), exact to HdrHistogram's 3 significant
// digits; zeros without responses.
func (s *Summary) ResponsePercentiles(ps []float64) []time.Duration {
	return percentilesOf(s.response, ps)
}

// ServicePercentiles returns the run's service time at each percentile
// of ps, as ResponsePercentiles does.
func (s *Summary) ServicePercentiles(ps []float64) []time.Duration {
	return percentilesOf(s.service, ps)
}

// ResponsePercentiles returns the target's response time at each
// percentile of ps, as [Summary.ResponsePercentiles] does.
func (t *TargetSummary) ResponsePercentiles(ps []float64) []time.Duration {
	return percentilesOf(t.response, ps)
}

// ResponseCounts returns how many responses took a time in each range
// [bounds[i], bounds[i+1]), the last range closed: len(bounds)-1 counts,
// for ascending bounds. A response is placed by the lowest value its
// histogram bucket holds, so that [Latency.Min] and [Latency.Max] as
// bounds take in every response.
func (s *Summary) ResponseCounts(bounds []time.Duration) []int64 {
	return countsOf(s.response, bounds)
}

// ServiceCounts returns the service times counted as ResponseCounts does.
func (s *Summary) ServiceCounts(bounds []time.Duration) []int64 {
	return countsOf(s.service, bounds)
}

// ResponseCounts returns the target's response times counted as
// [Summary.ResponseCounts] does.
func (t *TargetSummary) ResponseCounts(bounds []time.Duration) []int64 {
	return countsOf(t.response, bounds)
}

func percentilesOf(h *hdrhistogram.Histogram, ps []float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if h == nil {
		return out
	}
	for i, v := range h.ValueAtPercentilesSlice(ps) {
		out[i] = time.Duration(v) * time.Microsecond
	}
	return out
}

func countsOf(h *hdrhistogram.Histogram, bounds []time.Duration) []int64 {
	if len(bounds) < 2 {
		return nil
	}
	out := make([]int64, len(bounds)-1)
	if h == nil {
		return out
	}
	last := len(bounds) - 1
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		v := time.Duration(bar.From) * time.Microsecond
		if v < bounds[0] || v > bounds[last] {
			continue
		}
		// The first bound above v closes v's range.
		i := sort.Search(last, func(i int) bool { return bounds[i+1] > v })
		out[min(i, last-1)] += bar.Count
	}
	return out
}
