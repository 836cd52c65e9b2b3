package report

import (
	"fmt"
	"iter"
	"strconv"
)

// An interval counts its responses by exact status code as well as by
// class, for a few codes: the [MaxIntervalCodes] most frequent codes of
// the interval are split, and the answers with any other code are counted
// in their class only ([IntervalCounts.OtherCodes]).
//
// On the hot path, each recorder's share of an interval counts every code
// in an array indexed by code, as the Recorder counts the run's: one add
// per response, no search, no map, nothing allocated (3 instructions per
// response under callgrind in BenchmarkRecordSeries; 4.7 KiB per slot,
// two slots per recorder). Closing the interval adds the recorders'
// arrays, exactly, and keeps the most frequent codes in a StatusCodes: a
// fixed array of 8 codes and counts, 80 bytes more in each interval of a
// series, 281 KiB in an hour of 1 s intervals. The run's own counts
// ([Summary.Status]) are exact for every code.

// MaxIntervalCodes is the number of distinct status codes an interval
// counts one by one.
const MaxIntervalCodes = 8

// StatusCodes counts responses by status code, for at most
// [MaxIntervalCodes] distinct codes from 100 to 599. Its zero value
// counts nothing. Two StatusCodes that count the same are equal (==).
type StatusCodes struct {
	// codes holds the codes counted, ascending, then zeros: free entries.
	codes  [MaxIntervalCodes]uint16
	counts [MaxIntervalCodes]int64
}

// Count returns the responses counted with code.
func (s *StatusCodes) Count(code int) int64 {
	for i, c := range s.codes {
		if c == 0 {
			break
		}
		if int(c) == code {
			return s.counts[i]
		}
	}
	return 0
}

// Len returns the number of distinct codes counted.
func (s *StatusCodes) Len() int {
	n := 0
	for n < len(s.codes) && s.codes[n] != 0 {
		n++
	}
	return n
}

// All returns the codes counted and their counts, ascending by code.
func (s *StatusCodes) All() iter.Seq2[int, int64] {
	return func(yield func(int, int64) bool) {
		for i, c := range s.codes {
			if c == 0 || !yield(int(c), s.counts[i]) {
				return
			}
		}
	}
}

// Total returns the responses counted, over all codes.
func (s *StatusCodes) Total() int64 {
	var n int64
	for i := range s.Len() {
		n += s.counts[i]
	}
	return n
}

// topCodes returns the most frequent codes of counts, indexed by code (a
// recorder's counts, from 0 to statusSlots-1), at most MaxIntervalCodes
// of them, the lower code of two as frequent first. Codes below 100 are
// left out: slot 0 counts the codes outside 100-599. It costs a pass over
// counts, some hundreds of ns, once an interval.
func topCodes(counts *[statusSlots]int64) StatusCodes {
	var s StatusCodes
	for code := 100; code < statusSlots; code++ {
		if n := counts[code]; n > 0 {
			s.addNew(uint16(code), n)
		}
	}
	return s
}

// insert puts code, counted n times, at index i, shifting the codes
// from i on, unless every entry is taken.
func (s *StatusCodes) insert(i int, code uint16, n int64) {
	last := len(s.codes) - 1
	if s.codes[last] != 0 {
		return
	}
	copy(s.codes[i+1:], s.codes[i:last])
	copy(s.counts[i+1:], s.counts[i:last])
	s.codes[i], s.counts[i] = code, n
}

// remove takes out the entry at index i.
func (s *StatusCodes) remove(i int) {
	copy(s.codes[i:], s.codes[i+1:])
	copy(s.counts[i:], s.counts[i+1:])
	last := len(s.codes) - 1
	s.codes[last], s.counts[last] = 0, 0
}

// Add adds o's counts to s. The codes that both count add up. Of the
// others, when there are more than there is room for, the most frequent
// are kept (the lower code of two as frequent) and the rest counted in
// their class only, so that Add is commutative; a code split in one and
// not the other is undercounted by what the other counted in its class.
func (s *StatusCodes) Add(o *StatusCodes) {
	var extra StatusCodes // o's codes s does not count, in o's order
	k := 0
	for i, c := range o.codes {
		if c == 0 {
			break
		}
		if j := s.index(c); j >= 0 {
			s.counts[j] += o.counts[i]
		} else {
			extra.codes[k], extra.counts[k] = c, o.counts[i]
			k++
		}
	}
	for i := range k {
		s.addNew(extra.codes[i], extra.counts[i])
	}
}

// index returns the index of code, -1 if it is not counted.
func (s *StatusCodes) index(code uint16) int {
	for i, c := range s.codes {
		switch {
		case c == code:
			return i
		case c == 0:
			return -1
		}
	}
	return -1
}

// addNew adds code, which s does not count, with n responses, taking the
// place of the least frequent code if s is full and code is more
// frequent (see Add).
func (s *StatusCodes) addNew(code uint16, n int64) {
	if s.codes[len(s.codes)-1] != 0 {
		least := 0
		for i := range s.codes {
			if s.counts[i] < s.counts[least] || s.counts[i] == s.counts[least] && s.codes[i] > s.codes[least] {
				least = i
			}
		}
		if n < s.counts[least] || n == s.counts[least] && code > s.codes[least] {
			return
		}
		s.remove(least)
	}
	i := 0
	for i < len(s.codes) && s.codes[i] != 0 && s.codes[i] < code {
		i++
	}
	s.insert(i, code, n)
}

// OtherCodes returns the responses whose status code c does not split:
// the answers counted in [IntervalCounts.Status] beyond those counted in
// [IntervalCounts.Codes].
func (c *IntervalCounts) OtherCodes() int64 {
	var answered int64
	for _, n := range c.Status {
		answered += n
	}
	return answered - c.Codes.Total()
}

// saveCodes returns s as a saved interval keeps it: code (as text) to
// count; nil if s counts nothing.
func (s *StatusCodes) saveCodes() map[string]int64 {
	if s.Len() == 0 {
		return nil
	}
	m := make(map[string]int64, s.Len())
	for code, n := range s.All() {
		m[strconv.Itoa(code)] = n
	}
	return m
}

// loadCodes sets s from a saved interval's codes, which must be at most
// MaxIntervalCodes codes from 100 to 599, each counted at least once and
// within its class's count in status.
func (s *StatusCodes) loadCodes(saved map[string]int64, status *[NumStatusClasses]int64) error {
	if len(saved) > MaxIntervalCodes {
		return fmt.Errorf("%d status codes, more than %d", len(saved), MaxIntervalCodes)
	}
	var inClass [NumStatusClasses]int64
	for name, n := range saved {
		code, err := strconv.Atoi(name)
		if err != nil || code < 100 || code > 599 || n <= 0 {
			return fmt.Errorf("status code %q: %d", name, n)
		}
		s.addNew(uint16(code), n)
		inClass[StatusClass(code)] += n
	}
	for class, n := range inClass {
		if n > status[class] {
			return fmt.Errorf("status codes of class %s add up to %d, the class to %d", statusClassNames[class], n, status[class])
		}
	}
	return nil
}
