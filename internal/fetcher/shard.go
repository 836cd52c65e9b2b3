package fetcher

import (
	"fmt"
	"hash/fnv"
	"iter"
	"strconv"
	"strings"
)

// A Shard is one of N shares of an input, for one of N machines to fetch:
// the lines whose host hashes to it. Every request to a host is then made
// from one machine, so that --per-host and --host-rate still hold across
// machines, and each line is in exactly one shard. A line with no host
// (one that is not a URL) goes by its text. Records keep the line numbers
// of the whole input, so that [Merge] can put the shards' records back in
// its order.
type Shard struct {
	// Index is the shard's number, from 0; Count is N. The zero Shard is
	// the whole input.
	Index, Count int
}

// ParseShard parses "i/N", as fetch's --shard takes it.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("shard %q: want i/N, e.g. 0/4", s)
	case n < 1:
		return Shard{}, fmt.Errorf("shard %q: N must be at least 1", s)
	case i < 0 || i >= n:
		return Shard{}, fmt.Errorf("shard %q: i must be from 0 to %d", s, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}

// Of returns the shard of the N that line l belongs to.
func (sh Shard) Of(l *Line) int {
	if sh.Count <= 1 {
		return 0
	}
	key := l.Text
	if l.URL != nil {
		key = strings.ToLower(l.URL.Host) // the per-host limits' key
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(sh.Count))
}

// Lines yields the lines of lines that are the shard's, all of them for
// the zero Shard. It costs a hash of the host per line.
func (sh Shard) Lines(lines iter.Seq[Line]) iter.Seq[Line] {
	if sh.Count <= 1 {
		return lines
	}
	return func(yield func(Line) bool) {
		for l := range lines {
			if sh.Of(&l) == sh.Index && !yield(l) {
				return
			}
		}
	}
}
