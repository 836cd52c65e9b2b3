package push

import (
	"math"
	"strconv"
	"sync"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency leaves gather as two kinds of histogram, both cumulative over
// the run and both filled from the interval histograms of the series
// (microseconds, 2 significant digits: each value within 1% of its
// sample; see [report.Series]). Each bucket of an interval histogram is
// placed, whole, at its midpoint, so a value that leaves gather is within
// half of that 1% of the sample it stands for.
//
// Native (exponential) histograms, schema 6: bucket i holds the values in
// (2^((i-1)/64), 2^(i/64)] seconds, so each bucket's upper bound is 1.09%
// above its lower. histogram_quantile interpolates inside the bucket in
// which the quantile's rank falls, so its answer is in the same bucket as
// the placed value: within 1.1% of it, and within 1.6% of the sample at
// that rank. gather's own percentiles are within 0.1%; the two agree to
// within 2% (NativeError).
//
// Classic buckets: upper bounds of the R10 series (1, 1.25, 1.6, 2, 2.5,
// 3.15, 4, 5, 6.3, 8 times a power of ten) from 10 µs to 100 s, and
// +Inf; neighbours are at most 28% apart, so histogram_quantile, which
// interpolates linearly inside a bucket, is within 28% of the value it
// estimates (ClassicError), usually much closer. Below 10 µs every value
// is in the first bucket; beyond 100 s, in +Inf, where histogram_quantile
// answers with the highest finite bound.

// nativeSchema is the schema of native histograms: 2^6 buckets per
// doubling.
const nativeSchema = 6

// NativeError bounds the relative difference between a quantile that
// histogram_quantile computes from gather's native histograms and the
// same percentile in gather's own report.
const NativeError = 0.02

// ClassicError bounds it for classic buckets.
const ClassicError = 0.28

// nativeZeroThreshold is the width of a native histogram's zero bucket,
// below the interval histograms' resolution of 1 µs: it holds only the
// requests recorded as 0 µs.
const nativeZeroThreshold = 0.5e-6

// nativeIndex returns the index of the schema-6 bucket that holds v > 0
// seconds: the i for which 2^((i-1)/64) < v <= 2^(i/64).
func nativeIndex(v float64) int32 {
	frac, exp := math.Frexp(v) // v = frac·2^exp, frac in [0.5, 1)
	i := int32(math.Ceil(math.Log2(frac)*(1<<nativeSchema))) + int32(exp)<<nativeSchema
	// Log2 may round across a boundary; the bound itself is exact.
	if v > nativeUpper(i) {
		i++
	} else if v <= nativeUpper(i-1) {
		i--
	}
	return i
}

// nativeUpper returns the upper bound of native bucket i, in seconds.
func nativeUpper(i int32) float64 {
	return math.Exp2(float64(i) / (1 << nativeSchema))
}

// classicBounds are the upper bounds of classic buckets, in seconds,
// without +Inf; classicLabels are their "le" label values.
var classicBounds, classicLabels = func() ([]float64, []string) {
	r10 := []float64{1, 1.25, 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8}
	var bounds []float64
	var labels []string
	for exp := -5; exp <= 2; exp++ {
		for _, m := range r10 {
			if exp == 2 && m > 1 {
				break
			}
			// Parsing the decimal text keeps 1.25e-05 exact to the last
			// digit, as a label value and as a float.
			s := strconv.FormatFloat(m, 'f', -1, 64) + "e" + strconv.Itoa(exp)
			v, _ := strconv.ParseFloat(s, 64)
			bounds = append(bounds, v)
			labels = append(labels, strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	return bounds, labels
}()

// classicIndex returns the index of the classic bucket that holds v
// seconds: the first bound at or above v, len(classicBounds) for +Inf.
func classicIndex(v float64) int {
	lo, hi := 0, len(classicBounds)
	for lo < hi {
		m := (lo + hi) / 2
		if classicBounds[m] >= v {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// latency is a latency distribution as it leaves gather, cumulative over
// the run: both kinds of buckets, the count and the sum.
type latency struct {
	count int64
	sum   float64 // seconds, from the bucket midpoints
	zero  int64   // native: values of 0 µs
	// native holds the counts of native buckets first, first+1, ...;
	// trailing and leading buckets are never zero, inner ones may be.
	first  int32
	native []int64
	// classic holds the count of each classic bucket (not cumulative
	// over buckets), +Inf last.
	classic []int64
}

// add adds the values of an interval histogram (microseconds) to l.
// It walks the histogram's counts (a few thousand) with a table made once
// per geometry: some µs, where hdrhistogram-go's own iterator, which
// works out every bucket's bounds each time, takes a hundred times that.
func (l *latency) add(h *hdrhistogram.Histogram) {
	if h == nil || h.TotalCount() == 0 {
		return
	}
	if l.classic == nil {
		l.classic = make([]int64, len(classicBounds)+1)
	}
	table := bucketTable(h)
	for i, n := range h.Export().Counts {
		if n == 0 {
			continue
		}
		b := &table[min(i, len(table)-1)]
		l.count += n
		l.sum += float64(n) * b.mid
		l.classic[b.classic] += n
		if b.zero {
			l.zero += n
			continue
		}
		l.addNative(b.native, n)
	}
}

// hdrBucket is where the values of one bucket of an interval histogram
// go: placed at the bucket's midpoint, in seconds.
type hdrBucket struct {
	mid     float64
	native  int32
	classic int
	zero    bool
}

// bucketTables holds a table per histogram geometry (in practice one,
// the series').
var bucketTables sync.Map // hdrGeometry -> []hdrBucket

type hdrGeometry struct {
	lowest, highest int64
	sigFigs         int64
}

// bucketTable returns the table of h's geometry: entry i says where the
// values counted at index i of h's counts go. It is made from the bars of
// hdrhistogram-go's Distribution of a histogram that holds its highest
// trackable value, which has one bar per index up to that value's.
func bucketTable(h *hdrhistogram.Histogram) []hdrBucket {
	g := hdrGeometry{h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures()}
	if t, ok := bucketTables.Load(g); ok {
		return t.([]hdrBucket)
	}
	full := hdrhistogram.New(g.lowest, g.highest, int(g.sigFigs))
	full.RecordValue(g.highest)
	bars := full.Distribution()
	table := make([]hdrBucket, len(bars))
	for i, b := range bars {
		v := float64(b.From+b.To) / 2 / 1e6
		table[i] = hdrBucket{mid: v, classic: classicIndex(v), zero: v <= nativeZeroThreshold}
		if !table[i].zero {
			table[i].native = nativeIndex(v)
		}
	}
	bucketTables.Store(g, table)
	return table
}

func (l *latency) addNative(i int32, n int64) {
	switch {
	case len(l.native) == 0:
		l.first = i
		l.native = append(l.native, n)
		return
	case i < l.first:
		grown := make([]int64, int(l.first-i)+len(l.native))
		copy(grown[l.first-i:], l.native)
		l.native, l.first = grown, i
	case int(i-l.first) >= len(l.native):
		l.native = append(l.native, make([]int64, int(i-l.first)-len(l.native)+1)...)
	}
	l.native[i-l.first] += n
}

// clone returns a copy of l that shares nothing with it.
func (l *latency) clone() latency {
	c := *l
	c.native = append([]int64(nil), l.native...)
	c.classic = append([]int64(nil), l.classic...)
	return c
}

// span is a run of consecutive native buckets: offset is the gap, in
// buckets, since the end of the previous span (for the first span, the
// index of its first bucket), as both wire formats want it.
type span struct {
	offset int32
	counts []int64
}

// spans returns l's native buckets as spans, leaving out runs of more
// than two empty buckets (a shorter run costs less as zeros than as a
// new span).
func (l *latency) spans() []span {
	var out []span
	end := int32(0) // index after the previous span
	for i := 0; i < len(l.native); {
		j := i
		for j < len(l.native) {
			if l.native[j] != 0 {
				j++
				continue
			}
			k := j
			for k < len(l.native) && l.native[k] == 0 {
				k++
			}
			if k-j > 2 || k == len(l.native) {
				break
			}
			j = k
		}
		start := l.first + int32(i)
		off := start - end
		if len(out) == 0 {
			off = start
		}
		out = append(out, span{offset: off, counts: l.native[i:j]})
		end = l.first + int32(j)
		for i = j; i < len(l.native) && l.native[i] == 0; i++ {
		}
	}
	return out
}
