package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// A Part is one of the runs merged into a summary, as the generator that
// ran it recorded it: where and when it ran, how far its clock could be
// trusted, and which share of a distributed run it was. A single run has
// one part; [Summary.Add] appends the other run's parts, so a merge of
// merges still knows every run it holds.
//
// Parts go with [Summary.RunIDs] by position: part i is run RunIDs[i].
type Part struct {
	// Host is the host name of the generator (in Kubernetes, the pod's).
	Host string
	// Node is the machine the host ran on, when the environment said so
	// (the NODE_NAME the Kubernetes manifest passes in); "" if unknown.
	Node string
	// Run is the id of the distributed run the part is a segment of,
	// shared by all its segments; "" for a run that was not split.
	Run string
	// Segment and Segments place the part in its distributed run: segment
	// Segment (from 0) of Segments. Segments is 0 for a run not split.
	Segment, Segments int
	// Plan describes the whole distributed run as bench was asked for it
	// (connections, requests, duration, rate, the schedule's stages),
	// before the split: every segment of one run has the same.
	Plan string
	// Start is when the run began to send, wall clock; zero if unknown.
	Start time.Time
	// StartAt is the start the run was given (bench --start-at), which
	// the schedule counts from; zero if it was given none.
	StartAt time.Time
	// Clock is the state of the generator's clock at the start.
	Clock Clock
	// Requests and Late are the part's own counts (see [Summary]); CPU
	// is its generator's CPU time, 0 if unknown.
	Requests, Late int64
	CPU            time.Duration
}

// Clock is what the kernel said about the wall clock when a run started:
// a synchronized start on several machines is only as good as their
// clocks. On Linux it comes from adjtimex(2), which reads what NTP,
// chrony or PTP set; elsewhere it is unknown.
type Clock struct {
	// Known reports whether the kernel was asked.
	Known bool
	// Synchronized reports that a time service disciplines the clock.
	Synchronized bool
	// MaxError and EstError are the kernel's bound and estimate of the
	// clock's error.
	MaxError, EstError time.Duration
}

// String describes the clock for the report: "synchronized (max error 16
// ms)", "not synchronized" or "unknown".
func (c Clock) String() string {
	switch {
	case !c.Known:
		return "unknown"
	case !c.Synchronized:
		return "not synchronized"
	}
	return fmt.Sprintf("synchronized (max error %s)", shortDuration(c.MaxError))
}

// LateStart returns how long after its StartAt the part began to send: 0
// if it had no StartAt or was on time.
func (p *Part) LateStart() time.Duration {
	if p.StartAt.IsZero() || p.Start.IsZero() {
		return 0
	}
	return max(p.Start.Sub(p.StartAt), 0)
}

// SegmentName returns "i/N", or "" for a part that is not a segment.
func (p *Part) SegmentName() string {
	if p.Segments == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", p.Segment, p.Segments)
}

// StartSkew returns the spread of the parts' starts: the latest start
// minus the earliest. ok is false when fewer than two parts know their
// start.
func (s *Summary) StartSkew() (skew time.Duration, ok bool) {
	var first, last time.Time
	n := 0
	for i := range s.Parts {
		t := s.Parts[i].Start
		if t.IsZero() {
			continue
		}
		if n == 0 || t.Before(first) {
			first = t
		}
		if n == 0 || t.After(last) {
			last = t
		}
		n++
	}
	return last.Sub(first), n >= 2
}

// partRows bounds the per-part table of the text report.
const partRows = 16

// writeParts writes what the report says about where and when the runs
// ran: for one segment, which it is and whether it started late; for a
// merge, the start skew and a row per part (the first partRows).
func (s *Summary) writeParts(p func(string, ...any)) {
	if len(s.Parts) == 1 {
		pt := &s.Parts[0]
		if pt.Segments == 0 {
			return
		}
		line := fmt.Sprintf("Segment        %s of run %s", pt.SegmentName(), pt.Run)
		if !pt.StartAt.IsZero() {
			line += fmt.Sprintf(", started %s after --start-at", shortDuration(pt.Start.Sub(pt.StartAt)))
		}
		p("%s", line)
		return
	}
	skew, ok := s.StartSkew()
	if !ok {
		return
	}
	segs, runs := 0, map[string]bool{}
	for i := range s.Parts {
		if s.Parts[i].Segments > 0 {
			segs++
			runs[s.Parts[i].Run] = true
		}
	}
	what := ""
	switch {
	case len(runs) == 1 && segs == len(s.Parts):
		what = fmt.Sprintf("  (%d segments of run %s)", segs, s.Parts[0].Run)
	case segs > 0:
		what = fmt.Sprintf("  (%d segments of %d runs, %d runs not split)", segs, len(runs), len(s.Parts)-segs)
	}
	p("Start skew     %s%s", shortDuration(skew), what)
}

// writePartTable writes the per-part table of a merge, ordered by
// segment: where each ran, when it started against the earliest, and its
// requests, late requests and CPU per request.
func (s *Summary) writePartTable(p func(string, ...any)) {
	known := false
	for i := range s.Parts {
		known = known || s.Parts[i].Host != "" || !s.Parts[i].Start.IsZero()
	}
	if len(s.Parts) < 2 || !known {
		return // runs saved before parts existed: nothing to show
	}
	parts := s.sortedParts()
	var first time.Time
	for i := range parts {
		if t := parts[i].Start; !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	p("")
	p("Merged runs    start: after the earliest; late start: after --start-at")
	// Padded by runes, not by fmt's bytes: "µs" is two bytes, one column.
	// 80 columns: a start up to "+9999.999 ms", a late start up to
	// "9999.999 ms", a CPU per request up to "9999.99 µs".
	p("  %-7s %-16s %s %s %9s %7s %s", "segment", "host", padLeft("start", 12), padLeft("late start", 11), "requests", "late", padLeft("CPU/req", 10))
	for i := range parts[:min(len(parts), partRows)] {
		pt := &parts[i]
		seg := pt.SegmentName()
		if seg == "" {
			seg = "-"
		}
		host := pt.Host
		if host == "" {
			host = "?"
		}
		start, late := "?", "-"
		if !pt.Start.IsZero() {
			start = "+" + shortDuration(pt.Start.Sub(first))
		}
		if !pt.StartAt.IsZero() {
			late = shortDuration(pt.LateStart())
		}
		cpu := "?"
		if pt.CPU > 0 && pt.Requests > 0 {
			cpu = fmt.Sprintf("%.2f µs", float64(pt.CPU)/float64(pt.Requests)/float64(time.Microsecond))
		}
		p("  %-7s %-16s %s %s %9d %7d %s", seg, clipName(host, 16), padLeft(start, 12), padLeft(late, 11), pt.Requests, pt.Late, padLeft(cpu, 10))
	}
	if len(parts) > partRows {
		p("  ... %d more (all of them in -o json)", len(parts)-partRows)
	}
	// One warning per host whose clock nobody synchronizes, if the runs
	// came from several: on one host they share its clock.
	all := map[string]bool{}
	for i := range parts {
		all[parts[i].Host] = true
	}
	if len(all) < 2 {
		return
	}
	var hosts []string
	segs := map[string][]string{}
	for i := range parts {
		pt := &parts[i]
		if pt.StartAt.IsZero() || !pt.Clock.Known || pt.Clock.Synchronized {
			continue
		}
		if _, ok := segs[pt.Host]; !ok {
			hosts = append(hosts, pt.Host)
		}
		name := pt.SegmentName()
		if name == "" {
			name = "run " + pt.id
		}
		segs[pt.Host] = append(segs[pt.Host], name)
	}
	for _, h := range hosts {
		what := "segment " + segs[h][0]
		if n := len(segs[h]); n > 1 {
			what = fmt.Sprintf("%d segments", n)
		}
		msg := fmt.Sprintf("WARNING: the clock of host %s (%s) is not synchronized: a --start-at is only as good as the clocks", h, what)
		for _, line := range wrap(msg, 80, "         ") {
			p("%s", line)
		}
	}
}

// idPart is a part with its run id.
type idPart struct {
	Part
	id string
}

// idParts returns one part per run id, in their order: the part of
// RunIDs[i] is Parts[i], or an empty part if there is none.
func (s *Summary) idParts() []idPart {
	out := make([]idPart, len(s.RunIDs))
	for i, id := range s.RunIDs {
		out[i].id = id
		if i < len(s.Parts) {
			out[i].Part = s.Parts[i]
		}
	}
	return out
}

// sortedParts returns the parts ordered by run and segment, runs that were
// not split last, in their merge order.
func (s *Summary) sortedParts() []idPart {
	parts := s.idParts()
	slices.SortStableFunc(parts, func(a, b idPart) int {
		switch {
		case (a.Segments == 0) != (b.Segments == 0):
			if a.Segments == 0 {
				return 1
			}
			return -1
		case a.Run != b.Run:
			if a.Run < b.Run {
				return -1
			}
			return 1
		}
		return a.Segment - b.Segment
	})
	return parts
}

// padLeft right-aligns s in a column of width runes; s is never cut.
func padLeft(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return strings.Repeat(" ", width-n) + s
	}
	return s
}

// shortDuration formats d for the report: microseconds below 1 ms,
// milliseconds with three decimals below 10 s, seconds above.
func shortDuration(d time.Duration) string {
	switch a := d.Abs(); {
	case a < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case a < 10*time.Second:
		return fmt.Sprintf("%.3f ms", ms(d))
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

// jsonPart is one part in the JSON report; WriteJSON documents its fields.
type jsonPart struct {
	ID            string  `json:"id"`
	Host          string  `json:"host"`
	Node          string  `json:"node"`
	Run           string  `json:"run"`
	Segment       int     `json:"segment"`
	Segments      int     `json:"segments"`
	Plan          string  `json:"plan"`
	StartUnixS    float64 `json:"start_unix_s"`
	StartAtUnixS  float64 `json:"start_at_unix_s"`
	LateStartMS   float64 `json:"late_start_ms"`
	ClockKnown    bool    `json:"clock_known"`
	ClockSynced   bool    `json:"clock_synchronized"`
	ClockMaxErrMS float64 `json:"clock_max_error_ms"`
	Requests      int64   `json:"requests"`
	Late          int64   `json:"late"`
	CPUS          float64 `json:"cpu_s"`
}

func (s *Summary) partsJSON() []jsonPart {
	out := []jsonPart{}
	for _, pt := range s.sortedParts() {
		j := jsonPart{
			ID: pt.id, Host: pt.Host, Node: pt.Node, Run: pt.Run,
			Segment: pt.Segment, Segments: pt.Segments, Plan: pt.Plan,
			LateStartMS: msOf(pt.LateStart()),
			ClockKnown:  pt.Clock.Known, ClockSynced: pt.Clock.Synchronized,
			ClockMaxErrMS: msOf(pt.Clock.MaxError),
			Requests:      pt.Requests, Late: pt.Late, CPUS: pt.CPU.Seconds(),
		}
		if !pt.Start.IsZero() {
			j.StartUnixS = unixSeconds(pt.Start)
		}
		if !pt.StartAt.IsZero() {
			j.StartAtUnixS = unixSeconds(pt.StartAt)
		}
		out = append(out, j)
	}
	return out
}

// savedPart is the saved form of a Part.
type savedPart struct {
	ID        string      `json:"id"`
	Host      string      `json:"host,omitempty"`
	Node      string      `json:"node,omitempty"`
	Run       string      `json:"run,omitempty"`
	Segment   int         `json:"segment,omitempty"`
	Segments  int         `json:"segments,omitempty"`
	Plan      string      `json:"plan,omitempty"`
	StartNS   int64       `json:"start_unix_ns,omitempty"`
	StartAtNS int64       `json:"start_at_unix_ns,omitempty"`
	Clock     *savedClock `json:"clock,omitempty"`
	Requests  int64       `json:"requests"`
	Late      int64       `json:"late,omitempty"`
	CPUNS     int64       `json:"cpu_ns,omitempty"`
}

type savedClock struct {
	Synchronized bool  `json:"synchronized"`
	MaxErrorNS   int64 `json:"max_error_ns"`
	EstErrorNS   int64 `json:"est_error_ns"`
}

func (s *Summary) saveParts() []savedPart {
	var out []savedPart
	for _, pt := range s.idParts() {
		v := savedPart{
			ID: pt.id, Host: pt.Host, Node: pt.Node, Run: pt.Run,
			Segment: pt.Segment, Segments: pt.Segments, Plan: pt.Plan,
			Requests: pt.Requests, Late: pt.Late, CPUNS: int64(pt.CPU),
		}
		if !pt.Start.IsZero() {
			v.StartNS = pt.Start.UnixNano()
		}
		if !pt.StartAt.IsZero() {
			v.StartAtNS = pt.StartAt.UnixNano()
		}
		if pt.Clock.Known {
			v.Clock = &savedClock{pt.Clock.Synchronized, int64(pt.Clock.MaxError), int64(pt.Clock.EstError)}
		}
		out = append(out, v)
	}
	return out
}

// loadParts reads the saved parts of v into s, whose RunIDs are loaded:
// one part per run id, in their order. A file saved before parts existed
// gets a part per run id that knows only the id (and, for a single run,
// its start and counts).
func (s *Summary) loadParts(saved []savedPart) error {
	if saved == nil {
		s.Parts = make([]Part, len(s.RunIDs))
		if len(s.Parts) == 1 {
			s.Parts[0].Start, s.Parts[0].Requests, s.Parts[0].Late = s.Start, s.Requests, s.Late
		}
		return nil
	}
	if len(saved) != len(s.RunIDs) {
		return fmt.Errorf("%d parts for %d run ids", len(saved), len(s.RunIDs))
	}
	var requests int64
	for i, v := range saved {
		switch {
		case v.ID != s.RunIDs[i]:
			return fmt.Errorf("part %d is run %q, run id %d is %q", i, v.ID, i, s.RunIDs[i])
		case v.Segments < 0 || v.Segment < 0 || v.Segments > 0 && v.Segment >= v.Segments || v.Segments == 0 && v.Segment != 0:
			return fmt.Errorf("part %q: segment %d of %d", v.ID, v.Segment, v.Segments)
		case (v.Segments > 0) != (v.Run != ""):
			return fmt.Errorf("part %q: a segment needs a run id, and only a segment has one", v.ID)
		case v.Requests < 0 || v.Late < 0 || v.CPUNS < 0 || v.StartNS < 0 || v.StartAtNS < 0:
			return fmt.Errorf("part %q: negative count or time", v.ID)
		}
		requests += v.Requests
		pt := Part{
			Host: v.Host, Node: v.Node, Run: v.Run,
			Segment: v.Segment, Segments: v.Segments, Plan: v.Plan,
			Requests: v.Requests, Late: v.Late, CPU: time.Duration(v.CPUNS),
		}
		if v.StartNS != 0 {
			pt.Start = time.Unix(0, v.StartNS)
		}
		if v.StartAtNS != 0 {
			pt.StartAt = time.Unix(0, v.StartAtNS)
		}
		if c := v.Clock; c != nil {
			pt.Clock = Clock{Known: true, Synchronized: c.Synchronized,
				MaxError: time.Duration(c.MaxErrorNS), EstError: time.Duration(c.EstErrorNS)}
		}
		s.Parts = append(s.Parts, pt)
	}
	// Not equality: the parts of runs saved before parts existed do not
	// know their counts.
	if requests > s.Requests {
		return fmt.Errorf("the parts' requests add up to %d, requests is %d", requests, s.Requests)
	}
	return nil
}
