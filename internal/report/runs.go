package report

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NewRunID returns a fresh run id: 16 random hexadecimal digits, so that
// two runs anywhere are told apart with near certainty (a clash among a
// million runs has odds of about 1 in 37 million).
func NewRunID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}

// contentRunID returns the id of a run saved before runs had ids: a digest
// of what the run recorded, so that the same file given twice, or a copy
// of it, is still recognised as one run.
func contentRunID(v *savedSummary) string {
	h := sha256.New()
	for _, part := range []string{v.Target, v.Method, strconv.FormatInt(v.ElapsedNS, 10),
		strconv.FormatInt(v.Requests, 10), v.Response, v.Service} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "content-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// Model returns "open" for a run of the open model (a fixed request rate)
// and "closed" otherwise, as the reports name it.
func (s *Summary) Model() string {
	if s.Open() {
		return "open"
	}
	return "closed"
}

// A MergeCheck tells, run by run, whether the runs about to be merged belong
// in one report: the same test, run at the same time from several
// machines. Runs do not belong together when their target, method or model
// (closed or open) differ, since the report of their merge would mislead:
// an open run's rate would be read as the closed run's target. Nor does a
// run belong twice (the same file given twice, or a merge and one of its
// parts), since its requests would count twice. A different number of
// connections or rate does not set runs apart: machines may share a test
// unequally.
//
// Segments of a distributed run (see [Part]) must moreover all be there,
// once each, and have run the same plan split the same way: a segment
// given twice (the same segment run again, with a new run id) would count
// its share twice, and a missing one would make the merge a part of the
// run that reads as the whole. [MergeCheck.Missing] names the missing
// ones once every run has been checked.
//
// The zero MergeCheck is ready to use. Its cost is one map entry per run.
type MergeCheck struct {
	first     *Summary
	firstName string
	holder    map[string]string // run id -> name of the first run that held it
	segmented map[string]*segmentedRun
	order     []string // distributed run ids, in the order first seen
	// interval is the merge's series interval so far: the coarsest of
	// those checked, which the others regroup into (see [Series]).
	interval      time.Duration
	intervalName  string // the run that set it
	seriesDropped bool   // a run without a series was checked
}

// segmentedRun is what a MergeCheck knows of a distributed run.
type segmentedRun struct {
	count int
	plan  string
	name  string         // of the first run that held one of its segments
	held  map[int]string // segment -> name of the run that held it
}

// Check returns how the run s, called name in the messages (a file name),
// conflicts with the runs checked before it, one line each naming both:
// "a.json and b.json: targets differ (http://a/ and http://b/)". It returns
// nil if s belongs with them. Either way it remembers s.
func (c *MergeCheck) Check(name string, s *Summary) []string {
	var d []string
	if c.first == nil {
		c.first, c.firstName = s, name
	} else {
		a := c.first
		pair := c.firstName + " and " + name
		if a.Target != s.Target {
			d = append(d, fmt.Sprintf("%s: targets differ (%s and %s)", pair, a.Target, s.Target))
		}
		if a.Method != s.Method {
			d = append(d, fmt.Sprintf("%s: methods differ (%s and %s)", pair, a.Method, s.Method))
		}
		if a.Model() != s.Model() {
			d = append(d, fmt.Sprintf("%s: models differ (%s and %s)", pair, a.Model(), s.Model()))
		}
	}
	d = append(d, c.checkInterval(name, s)...)
	if c.holder == nil {
		c.holder = make(map[string]string)
		c.segmented = make(map[string]*segmentedRun)
	}
	seen := make(map[string]bool) // run ids already held: reported as such
	for _, id := range s.RunIDs {
		if prev, ok := c.holder[id]; ok {
			if len(seen) == 0 {
				d = append(d, fmt.Sprintf("%s and %s: both hold run %s", prev, name, id))
			}
			seen[id] = true
		}
	}
	for _, pt := range s.idParts() {
		if pt.Segments == 0 || seen[pt.id] {
			continue
		}
		r := c.segmented[pt.Run]
		if r == nil {
			r = &segmentedRun{count: pt.Segments, plan: pt.Plan, name: name, held: make(map[int]string)}
			c.segmented[pt.Run] = r
			c.order = append(c.order, pt.Run)
		}
		pair := r.name + " and " + name
		switch {
		case r.count != pt.Segments:
			d = append(d, fmt.Sprintf("%s: run %s is split in %d segments and in %d", pair, pt.Run, r.count, pt.Segments))
			continue
		case r.plan != pt.Plan:
			d = append(d, fmt.Sprintf("%s: segments of run %s ran different plans (%s and %s)", pair, pt.Run, r.plan, pt.Plan))
		}
		if prev, ok := r.held[pt.Segment]; ok {
			d = append(d, fmt.Sprintf("%s and %s: both hold segment %s of run %s (run again?)", prev, name, pt.SegmentName(), pt.Run))
			continue
		}
		r.held[pt.Segment] = name
	}
	for _, id := range s.RunIDs {
		if _, ok := c.holder[id]; !ok {
			c.holder[id] = name
		}
	}
	return d
}

// checkInterval checks that s's series can merge with those checked
// before it: one interval must be a whole multiple of the other.
func (c *MergeCheck) checkInterval(name string, s *Summary) []string {
	if c.seriesDropped {
		return nil
	}
	if s.Series == nil {
		c.seriesDropped = true // the merge keeps no series (see Add)
		return nil
	}
	l := s.Series.Interval()
	switch {
	case c.interval == 0 || l%c.interval == 0:
		c.interval, c.intervalName = l, name
	case c.interval%l == 0:
	default:
		return []string{fmt.Sprintf("%s and %s: series of %v and %v intervals cannot be merged (neither is a multiple of the other; --interval)",
			c.intervalName, name, c.interval, l)}
	}
	return nil
}

// Missing returns, one line for each distributed run among those checked
// that lacks segments, which are missing: "run c2a4e6f80b1d3957: segment
// 2/4 is missing (3 of 4 given)". It returns nil if every run is whole.
func (c *MergeCheck) Missing() []string {
	var d []string
	for _, run := range c.order {
		r := c.segmented[run]
		var missing []string
		for i := range r.count {
			if _, ok := r.held[i]; !ok {
				missing = append(missing, fmt.Sprintf("%d/%d", i, r.count))
			}
		}
		switch {
		case len(missing) == 0:
			continue
		case len(missing) == 1:
			d = append(d, fmt.Sprintf("run %s: segment %s is missing (%d of %d given)", run, missing[0], len(r.held), r.count))
		default:
			if len(missing) > 8 {
				missing = append(missing[:8], fmt.Sprintf("%d more", len(missing)-8))
			}
			d = append(d, fmt.Sprintf("run %s: segments %s are missing (%d of %d given)",
				run, strings.Join(missing, ", "), len(r.held), r.count))
		}
	}
	return d
}
