package main

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/loadgen"
)

// segmentFlags are bench's flags for a distributed run: which segment
// this process is, the shared start, and the run's id.
type segmentFlags struct {
	segment  string // i/N
	segments int    // N, the index from JOB_COMPLETION_INDEX
	startAt  string
	runID    string
	source   string
	flags    *pflag.FlagSet
}

// jobIndexEnv is where a Kubernetes Indexed Job puts each pod's index.
const jobIndexEnv = "JOB_COMPLETION_INDEX"

// nodeEnv is where the manifest bench emits puts the pod's node name
// (from the downward API), for the record.
const nodeEnv = "GATHER_NODE"

// maxStartAhead bounds how far ahead --start-at may be: further is more
// likely a typo than a plan, and the run would sit waiting for it.
const maxStartAhead = 24 * time.Hour

// maxStartLate bounds how far in the past --start-at may be for a run
// without -z (with -z, the run's end bounds it): the run counts its
// schedule, its elapsed time and its time series from --start-at, so a
// start years ago (a typo, a stale manifest) is a series of as many empty
// intervals, about 1 KiB each: 2026's run from 2020 took the machine's 24
// GiB before the kernel killed it. An hour late is 4 MiB and a report
// that still says how late it started.
const maxStartLate = time.Hour

// runIDPattern is what --run-id may be. It is compiled on first use, not
// at start, where every gather command would pay for it (see
// docs/fetch.md, where the memory goes).
var runIDPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
})

func (f *segmentFlags) register(fl *pflag.FlagSet) {
	f.flags = fl
	fl.StringVar(&f.segment, "segment", "", "run segment `i/N` of a run split over N processes (requests j with j mod N = i)")
	fl.IntVar(&f.segments, "segments", 0, "split the run in `N` segments; this one's index is $"+jobIndexEnv+" (a Kubernetes Indexed Job), or see --emit")
	fl.StringVar(&f.startAt, "start-at", "", "start at this wall-clock `TIME` (RFC 3339, e.g. 2026-12-01T08:30:00Z), counting the schedule from it")
	fl.StringVar(&f.source, "source-addr", "", "make every connection from this local `IP` (one of the machine's addresses; each has its own ephemeral ports)")
	fl.StringVar(&f.runID, "run-id", "", "the distributed run's `ID`, shared by its segments (default: derived from the flags and --start-at)")
}

// apply checks the flags and sets the plan's segment, start and host;
// emit is true when bench only prints a manifest (then --segments is the
// manifest's N and no index is needed).
func (f *segmentFlags) apply(plan *loadgen.Plan, emit bool) error {
	var g loadgen.Segment
	switch {
	case f.segment != "":
		var err error
		if g, err = loadgen.ParseSegment(f.segment); err != nil {
			return usagef("bench: --segment: %v", err)
		}
		if f.flags.Changed("segments") && f.segments != g.Count {
			return usagef("bench: --segment %s and --segments %d disagree", f.segment, f.segments)
		}
	case f.flags.Changed("segments") && f.segments < 1:
		return usagef("bench: --segments must be at least 1, got %d", f.segments)
	case f.flags.Changed("segments") && emit:
		g = loadgen.Segment{Count: f.segments} // the manifest's N; each pod has its index
	case f.flags.Changed("segments"):
		env, ok := os.LookupEnv(jobIndexEnv)
		if !ok {
			return usagef("bench: --segments %d needs --segment i/%d, or $%s (set in a Kubernetes Indexed Job)",
				f.segments, f.segments, jobIndexEnv)
		}
		i, err := strconv.Atoi(env)
		if err != nil || i < 0 || i >= f.segments {
			return usagef("bench: $%s is %q: want an index from 0 to %d (--segments %d)", jobIndexEnv, env, f.segments-1, f.segments)
		}
		g = loadgen.Segment{Index: i, Count: f.segments}
	}
	if f.runID != "" {
		if !runIDPattern().MatchString(f.runID) {
			return usagef("bench: --run-id %q: want up to 64 letters, digits, '.', '_' or '-'", f.runID)
		}
		if g.Count == 0 && !emit {
			return usagef("bench: --run-id names a distributed run: give --segment i/N too")
		}
		g.Run = f.runID
	}
	if f.startAt != "" {
		at, err := time.Parse(time.RFC3339Nano, f.startAt)
		if err != nil {
			return usagef("bench: --start-at %q: want an RFC 3339 time, e.g. 2026-12-01T08:30:00Z", f.startAt)
		}
		now := time.Now()
		switch {
		case at.Sub(now) > maxStartAhead:
			return usagef("bench: --start-at %s is %v away: at most %v", f.startAt, at.Sub(now).Round(time.Minute), maxStartAhead)
		case plan.Duration > 0 && now.Sub(at) >= plan.Duration:
			return usagef("bench: --start-at %s is %v ago: the run's -z %v is over", f.startAt, now.Sub(at).Round(time.Second), plan.Duration)
		case plan.Duration == 0 && now.Sub(at) > maxStartLate:
			return usagef("bench: --start-at %s is %v ago: a run without -z starts at most %v after it", f.startAt, now.Sub(at).Round(time.Second), maxStartLate)
		}
		plan.StartAt = at
	}
	if !emit {
		if err := g.Check(plan); err != nil {
			return usagef("bench: --segment: %v", err)
		}
	}
	if f.source != "" {
		a, err := netip.ParseAddr(f.source)
		if err != nil || a.Zone() != "" {
			return usagef("bench: --source-addr %q: want an IP address", f.source)
		}
		a = a.Unmap()
		if !emit { // the pods' addresses are not this machine's
			if err := checkLocalAddr(a); err != nil {
				return usagef("bench: --source-addr %s: not an address of this machine (%v)", a, err)
			}
		}
		plan.SourceAddr = a
	}
	plan.Segment = g
	plan.NodeName = os.Getenv(nodeEnv)
	return nil
}

// checkLocalAddr reports whether connections can be made from a: it binds
// a listener to it, which fails for an address of no interface, so that
// the run does not fail every request with it.
func checkLocalAddr(a netip.Addr) error {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err // "bind: cannot assign requested address"
		}
		return err
	}
	return ln.Close()
}
