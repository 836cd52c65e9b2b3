package push

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func TestNativeIndex(t *testing.T) {
	t.Parallel()
	for i := int32(-1300); i <= 800; i++ {
		up := nativeUpper(i)
		if got := nativeIndex(up); got != i {
			t.Fatalf("nativeIndex(upper bound of %d = %g) = %d", i, up, got)
		}
		if got := nativeIndex(math.Nextafter(up, math.Inf(1))); got != i+1 {
			t.Fatalf("nativeIndex(just above the upper bound of %d) = %d", i, got)
		}
	}
	if w := nativeUpper(1)/nativeUpper(0) - 1; w > 0.011 {
		t.Errorf("native buckets are %.4f wide, the docs say 1.09%%", w)
	}
}

func TestClassicBounds(t *testing.T) {
	t.Parallel()
	if len(classicBounds) != 71 || classicBounds[0] != 1e-5 || classicBounds[70] != 100 {
		t.Fatalf("%d classic bounds from %g to %g, want 71 from 1e-05 to 100", len(classicBounds), classicBounds[0], classicBounds[len(classicBounds)-1])
	}
	for i, b := range classicBounds {
		if v, err := strconv.ParseFloat(classicLabels[i], 64); err != nil || v != b {
			t.Errorf("le %q does not read back as %g", classicLabels[i], b)
		}
		if i > 0 && b/classicBounds[i-1] > 1+ClassicError {
			t.Errorf("bounds %g and %g are more than ClassicError apart", classicBounds[i-1], b)
		}
		if classicIndex(b) != i || classicIndex(math.Nextafter(b, 0)) != i || classicIndex(math.Nextafter(b, 1e9)) != i+1 {
			t.Errorf("classicIndex around bound %d (%g) is off", i, b)
		}
	}
	if classicIndex(1e9) != len(classicBounds) || classicIndex(0) != 0 {
		t.Error("classicIndex of 0 or 1e9 s is off")
	}
}

// The native buckets reproduce the interval histogram's counts in spans,
// and a quantile estimated from them the way histogram_quantile does
// (linear inside the bucket) is within NativeError of the exact quantile
// of the samples; from the classic buckets, within ClassicError.
func TestLatencyQuantiles(t *testing.T) {
	t.Parallel()
	for _, spread := range []float64{0.05, 0.5, 2} {
		rng := rand.New(rand.NewPCG(1, uint64(spread*100)))
		iv := hdrhistogram.New(1, 3600e6, 2) // the series' interval histograms
		var samples []float64
		for range 50000 {
			us := math.Round(2000 * math.Exp(spread*rng.NormFloat64()))
			us = max(us, 1)
			samples = append(samples, us/1e6)
			iv.RecordValue(int64(us))
		}
		slices.Sort(samples)
		var l latency
		l.add(iv)
		if l.count != int64(len(samples)) {
			t.Fatalf("count %d, want %d", l.count, len(samples))
		}
		var fromSpans int64
		index := l.first
		for k, sp := range l.spans() {
			if k > 0 && sp.offset < 3 {
				t.Errorf("span gap of %d buckets: should have been zeros", sp.offset)
			}
			if k > 0 {
				index += sp.offset
			} else {
				index = sp.offset
			}
			for _, c := range sp.counts {
				if c != l.native[index-l.first] {
					t.Fatalf("span count for bucket %d is %d, want %d", index, c, l.native[index-l.first])
				}
				fromSpans += c
				index++
			}
		}
		if fromSpans+l.zero != l.count {
			t.Errorf("spans hold %d values, want %d", fromSpans+l.zero, l.count)
		}
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
			exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
			native := interpolate(q, l.count, func(yield func(lo, hi float64, n int64) bool) {
				for i, c := range l.native {
					if !yield(nativeUpper(l.first+int32(i)-1), nativeUpper(l.first+int32(i)), c) {
						return
					}
				}
			})
			if e := math.Abs(native/exact - 1); e > NativeError {
				t.Errorf("spread %v: native q%v = %g, exact %g: off by %.2f%%", spread, q, native, exact, 100*e)
			}
			classic := interpolate(q, l.count, func(yield func(lo, hi float64, n int64) bool) {
				lo := 0.0
				for i, c := range l.classic[:len(classicBounds)] {
					if !yield(lo, classicBounds[i], c) {
						return
					}
					lo = classicBounds[i]
				}
			})
			if e := math.Abs(classic/exact - 1); e > ClassicError {
				t.Errorf("spread %v: classic q%v = %g, exact %g: off by %.2f%%", spread, q, classic, exact, 100*e)
			}
		}
	}
}

// interpolate estimates quantile q from buckets as histogram_quantile
// does: the bucket in which rank q·count falls, linearly inside it.
func interpolate(q float64, count int64, buckets func(yield func(lo, hi float64, n int64) bool)) float64 {
	rank := q * float64(count)
	seen := 0.0
	out := math.NaN()
	buckets(func(lo, hi float64, n int64) bool {
		if seen+float64(n) >= rank && n > 0 {
			out = lo + (hi-lo)*(rank-seen)/float64(n)
			return false
		}
		seen += float64(n)
		return true
	})
	return out
}

func TestSpansGaps(t *testing.T) {
	t.Parallel()
	l := latency{first: 10, native: []int64{1, 0, 0, 2, 0, 0, 0, 3, 4}}
	got := l.spans()
	if len(got) != 2 || got[0].offset != 10 || len(got[0].counts) != 4 || got[1].offset != 3 || len(got[1].counts) != 2 {
		t.Errorf("spans %+v, want [10: 1 0 0 2] then 3 empty, [3 4]", got)
	}
	var l2 latency
	for _, i := range []int32{5, 3, 9, 3} {
		l2.addNative(i, 1)
	}
	if l2.first != 3 || !slices.Equal(l2.native, []int64{2, 0, 1, 0, 0, 0, 1}) {
		t.Errorf("addNative built %d: %v", l2.first, l2.native)
	}
}
