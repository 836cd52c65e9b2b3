package targets

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"time"
)

// Pick is how a target is chosen for each request.
type Pick uint8

const (
	// PickDefault is RoundRobin, or Weighted when a target has a weight.
	PickDefault Pick = iota
	// RoundRobin takes the targets in the file's order: request n (of the
	// whole run, counted across connections) sends target n mod N.
	RoundRobin
	// Random takes a target uniformly at random for each request.
	Random
	// Weighted takes a target at random, in proportion to its weight (1
	// if not given).
	Weighted
)

var pickNames = []string{PickDefault: "default", RoundRobin: "round-robin", Random: "random", Weighted: "weighted"}

func (p Pick) String() string { return pickNames[p] }

// ParsePick returns the Pick named s: "round-robin", "random" or "weighted".
func ParsePick(s string) (Pick, error) {
	if i := slices.Index(pickNames, s); i > 0 {
		return Pick(i), nil
	}
	return 0, fmt.Errorf("unknown pick %q: want round-robin, random or weighted", s)
}

// RowPick is how a data row is chosen for each request.
type RowPick uint8

const (
	// Cycle takes the rows in order: request n takes row n mod rows.
	Cycle RowPick = iota
	// RandomRow takes a row uniformly at random.
	RandomRow
)

// ParseRowPick returns the RowPick named s: "cycle" or "random".
func ParseRowPick(s string) (RowPick, error) {
	switch s {
	case "cycle":
		return Cycle, nil
	case "random":
		return RandomRow, nil
	}
	return 0, fmt.Errorf("unknown data pick %q: want cycle or random", s)
}

// A Request is one request about to be sent: the target picked for it and
// the values its templates render. Each connection owns one and reuses it
// for all its requests, so picking and rendering allocate nothing; it is
// not safe for concurrent use.
type Request struct {
	// Target is the target picked by the last Next.
	Target *Target
	// Seq is the request's sequence number in the run: {{.seq}}.
	Seq int64
	// Time is when the request is sent: {{.time}}, {{.unix}}, {{.unix_ms}}.
	Time time.Time

	set *Set
	row int
	rng *mrand.Rand
}

// NewRequest returns a Request for one connection, with a random source
// of its own seeded from the system's, so that connections draw
// independent values.
func (s *Set) NewRequest() *Request {
	var seed [16]byte
	rand.Read(seed[:])
	pcg := mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))
	return &Request{set: s, rng: mrand.New(pcg), Target: s.targets[0]}
}

// Next picks the target and the data row of request seq, sent at now. It
// costs a few nanoseconds: a division for round-robin, one or two random
// draws for a random or weighted pick.
func (r *Request) Next(seq int64, now time.Time) {
	s := r.set
	r.Seq, r.Time = seq, now
	switch n := len(s.targets); {
	case n == 1:
		r.Target = s.targets[0]
	case s.pick == RoundRobin:
		r.Target = s.targets[uint64(seq)%uint64(n)]
	case s.pick == Random:
		r.Target = s.targets[r.rng.IntN(n)]
	default:
		r.Target = s.targets[s.alias.pick(r.rng)]
	}
	if d := s.data; d != nil {
		if s.rowPick == Cycle {
			r.row = int(uint64(seq) % uint64(d.rows))
		} else {
			r.row = r.rng.IntN(d.rows)
		}
	}
}

// alias is Vose's alias table: a weighted pick in constant time, two
// random draws, whatever the number of targets.
type alias struct {
	prob  []uint64 // column i keeps i when a draw is below prob[i]
	other []int32  // else it gives other[i]
}

func newAlias(w []float64) alias {
	n := len(w)
	var sum float64
	for _, x := range w {
		sum += x
	}
	scaled := make([]float64, n)
	var small, large []int
	for i, x := range w {
		scaled[i] = x * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	a := alias{prob: make([]uint64, n), other: make([]int32, n)}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s] = toThreshold(scaled[s])
		a.other[s] = int32(l)
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left is 1 up to rounding.
	for _, i := range append(small, large...) {
		a.prob[i] = ^uint64(0)
		a.other[i] = int32(i)
	}
	return a
}

// toThreshold maps p in [0, 1) to the uint64 below which a uniform draw
// falls with probability p.
func toThreshold(p float64) uint64 {
	v := math.Ldexp(p, 64)
	switch {
	case v <= 0:
		return 0
	case v >= math.Ldexp(1, 64):
		return ^uint64(0)
	}
	return uint64(v)
}

func (a *alias) pick(rng *mrand.Rand) int {
	i := rng.IntN(len(a.prob))
	if rng.Uint64() < a.prob[i] {
		return i
	}
	return int(a.other[i])
}
