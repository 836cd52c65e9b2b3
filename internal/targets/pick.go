package targets

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	mrand "math/rand/v2"
	"time"
)

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
