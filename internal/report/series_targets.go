package report

import (
	"fmt"
	"slices"
)

// A run over several targets (see [Recorder.TrackTargets]) keeps, in each
// interval of its series, a few counters per target: enough to draw each
// target's throughput, errors and non-2xx answers over time. Per-target
// latency histograms are kept for the whole run only ([TargetSummary]):
// one per target per interval would cost up to a hundred times the
// series' memory and saved size for a hundred targets.

// TargetCounts are one target's counters in one interval.
type TargetCounts struct {
	// Requests counts the target's requests that finished or failed.
	Requests int64
	// Errors counts those that failed.
	Errors int64
	// Non2xx counts those answered with a status outside 2xx.
	Non2xx int64
}

func (c *TargetCounts) add(o TargetCounts) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.Non2xx += o.Non2xx
}

// TargetNames returns the names of the targets whose counters the
// intervals keep ([Interval.Targets] is indexed by them), in the order of
// the run's per-target rows; nil if the series keeps none. For merged
// runs, the names of all of them, as [Summary.Add] merges rows: by name,
// at most [MaxTargetRows], the rest counted as [OtherTarget].
func (s *Series) TargetNames() []string { return s.targets }

// targetsOf returns the per-target counters of it, zeros for an interval
// without requests.
func (s *Series) targetsOf(it *storedInterval) []TargetCounts {
	if len(s.targets) == 0 {
		return nil
	}
	out := make([]TargetCounts, len(s.targets))
	copy(out, it.targets)
	return out
}

// addTargetCounts returns the sum of two intervals' per-target counters
// indexed alike, as a new slice (stored slices are shared between series).
func addTargetCounts(a, b []TargetCounts) []TargetCounts {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := make([]TargetCounts, max(len(a), len(b)))
	copy(out, a)
	for i, c := range b {
		out[i].add(c)
	}
	return out
}

// mergeTargetNames returns the target names of a merge of series named a
// and b, and where each of a's and b's indexes goes in it (nil when it
// stays). Names are matched as [Summary.Add] matches rows; if only one
// series has names, the merge has none.
func mergeTargetNames(a, b []string) (names []string, toA, toB []int) {
	switch {
	case a == nil || b == nil:
		return nil, nil, nil
	case slices.Equal(a, b):
		return a, nil, nil
	}
	names = slices.Clone(a)
	toB = make([]int, len(b))
	for j, n := range b {
		i := slices.Index(names, n)
		if i < 0 {
			if len(names) < MaxTargetRows-1 {
				names = append(names, n)
				i = len(names) - 1
			} else if i = slices.Index(names, OtherTarget); i < 0 {
				names = append(names, OtherTarget)
				i = len(names) - 1
			}
		}
		toB[j] = i
	}
	return names, nil, toB
}

// withTargets returns s with its per-target counters indexed as names,
// moved by to (see mergeTargetNames); s itself if nothing moves.
func (s *Series) withTargets(names []string, to []int) *Series {
	switch {
	case names == nil && s.targets == nil, names != nil && to == nil:
		return s
	}
	out := &Series{length: s.length, items: slices.Clone(s.items), targets: names}
	for i := range out.items {
		it := &out.items[i]
		if names == nil || it.targets == nil {
			it.targets = nil
			continue
		}
		moved := make([]TargetCounts, len(names))
		for j, c := range it.targets {
			moved[to[j]].add(c)
		}
		it.targets = moved
	}
	return out
}

// saveTargetCounts sets si's per-target arrays from counts, if any.
func saveTargetCounts(si *savedInterval, counts []TargetCounts) {
	if counts == nil {
		return
	}
	si.TargetRequests = make([]int64, len(counts))
	si.TargetErrors = make([]int64, len(counts))
	si.TargetNon2xx = make([]int64, len(counts))
	for i, c := range counts {
		si.TargetRequests[i], si.TargetErrors[i], si.TargetNon2xx[i] = c.Requests, c.Errors, c.Non2xx
	}
}

// loadTargetCounts checks and decodes si's per-target arrays for n
// names: each as long as the names, adding up to the interval's requests,
// errors and non-2xx answers (c).
func loadTargetCounts(si *savedInterval, n int, c *IntervalCounts) ([]TargetCounts, error) {
	if si.TargetRequests == nil && si.TargetErrors == nil && si.TargetNon2xx == nil {
		if n > 0 && c.Requests > 0 {
			return nil, fmt.Errorf("no per-target counts for %d requests", c.Requests)
		}
		return nil, nil
	}
	if n == 0 || len(si.TargetRequests) != n || len(si.TargetErrors) != n || len(si.TargetNon2xx) != n {
		return nil, fmt.Errorf("per-target counts of %d, %d and %d targets; the series names %d",
			len(si.TargetRequests), len(si.TargetErrors), len(si.TargetNon2xx), n)
	}
	out := make([]TargetCounts, n)
	var sum TargetCounts
	for i := range out {
		t := TargetCounts{Requests: si.TargetRequests[i], Errors: si.TargetErrors[i], Non2xx: si.TargetNon2xx[i]}
		if t.Requests < 0 || t.Errors < 0 || t.Non2xx < 0 || t.Errors+t.Non2xx > t.Requests {
			return nil, fmt.Errorf("target %d: %d requests, %d errors, %d non-2xx", i, t.Requests, t.Errors, t.Non2xx)
		}
		out[i] = t
		sum.add(t)
	}
	non2xx := c.Requests - c.Errors - c.Status[2]
	if sum.Requests != c.Requests || sum.Errors != c.Errors || sum.Non2xx != non2xx {
		return nil, fmt.Errorf("per-target counts add up to %d requests, %d errors, %d non-2xx; the interval has %d, %d, %d",
			sum.Requests, sum.Errors, sum.Non2xx, c.Requests, c.Errors, non2xx)
	}
	return out, nil
}

// checkTargetNames reports names that cannot index a series' targets.
func checkTargetNames(names []string) error {
	if len(names) > MaxTargetRows {
		return fmt.Errorf("%d series targets, more than %d", len(names), MaxTargetRows)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("two series targets named %q", n)
		}
		seen[n] = true
	}
	return nil
}
