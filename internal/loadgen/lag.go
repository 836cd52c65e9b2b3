package loadgen

import (
	"math/bits"
	"time"
)

// lagHistogram is a worker's fixed-size histogram of send lags: four
// buckets per power of two of nanoseconds, so a quantile is exact to
// within 25%, which is enough to tell microseconds from milliseconds.
// Adding costs a few nanoseconds and never allocates.
type lagHistogram struct {
	counts [64 * 4]int64
	count  int64
	max    time.Duration
}

func lagBucket(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	v := uint64(d)
	e := bits.Len64(v) // 1..63
	if e < 3 {
		return int(v)
	}
	return e*4 + int(v>>(e-3)&3)
}

// lagBucketTop returns the largest duration that falls in bucket i.
func lagBucketTop(i int) time.Duration {
	if i < 12 {
		return time.Duration(i)
	}
	e, sub := i/4, uint64(i%4)
	return time.Duration((4+sub+1)<<(e-3) - 1)
}

func (h *lagHistogram) add(d time.Duration) {
	h.counts[lagBucket(d)]++
	h.count++
	h.max = max(h.max, d)
}

func (h *lagHistogram) merge(o *lagHistogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.count += o.count
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding quantile q, but
// never more than the largest lag seen.
func (h *lagHistogram) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := int64(q*float64(h.count) + 0.5)
	rank = max(rank, 1)
	var seen int64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			return min(lagBucketTop(i), h.max)
		}
	}
	return h.max
}
