package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// A Stage is one part of a load profile: over Duration, the level (a
// request rate in [Plan.RateStages], a number of connections in
// [Plan.ConnectionStages]) goes linearly from where the previous stage
// left it to Target, or, with Step, jumps to Target at once and holds it.
// A stage whose Target equals the level before it holds that level.
type Stage struct {
	Duration time.Duration
	Target   float64
	Step     bool
}

// A profile is a level over time, piecewise linear: the rate of the open
// model or the number of connections of the closed model.
type profile struct {
	segs []segment
	end  time.Duration // of the last segment; 0 for a constant level without end
}

// segment is one linear piece of a profile.
type segment struct {
	start, end time.Duration
	from, to   float64 // level at start and at end
	// before is the integral of the level up to start, in level-seconds:
	// for a rate, the requests due before the segment.
	before float64
}

// newProfile returns the profile that starts at level start and goes
// through stages; with no stages, the constant level start, for ever.
func newProfile(start float64, stages []Stage) *profile {
	pr := &profile{}
	if len(stages) == 0 {
		pr.segs = []segment{{from: start, to: start, end: math.MaxInt64}}
		return pr
	}
	level, at, area := start, time.Duration(0), 0.0
	for _, st := range stages {
		from := level
		if st.Step {
			from = st.Target
		}
		sg := segment{start: at, end: at + st.Duration, from: from, to: st.Target, before: area}
		pr.segs = append(pr.segs, sg)
		area += sg.area()
		level, at = st.Target, sg.end
	}
	pr.end = at
	return pr
}

// area returns the integral of the level over the segment.
func (sg *segment) area() float64 {
	return (sg.from + sg.to) / 2 * (sg.end - sg.start).Seconds()
}

// slope returns the segment's change of level per second.
func (sg *segment) slope() float64 {
	return (sg.to - sg.from) / (sg.end - sg.start).Seconds()
}

// at returns the segment's level at offset d, within it.
func (sg *segment) at(d time.Duration) float64 {
	if sg.to == sg.from {
		return sg.from
	}
	return sg.from + sg.slope()*(d-sg.start).Seconds()
}

// segmentAt returns the segment holding offset d, or nil past the end.
func (pr *profile) segmentAt(d time.Duration) *segment {
	for i := range pr.segs {
		if d < pr.segs[i].end {
			return &pr.segs[i]
		}
	}
	return nil
}

// level returns the profile's level at offset d; 0 past its end.
func (pr *profile) level(d time.Duration) float64 {
	if sg := pr.segmentAt(max(d, 0)); sg != nil {
		return sg.at(max(d, 0))
	}
	return 0
}

// peak returns the highest level the profile reaches.
func (pr *profile) peak() float64 {
	var p float64
	for _, sg := range pr.segs {
		p = max(p, sg.from, sg.to)
	}
	return p
}

// integral returns the area under the profile up to offset d: for a rate,
// the requests due before d, as a real number.
func (pr *profile) integral(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	for _, sg := range pr.segs {
		if d < sg.end {
			tau := (d - sg.start).Seconds()
			return sg.before + (sg.from+sg.at(d))/2*tau
		}
	}
	last := pr.segs[len(pr.segs)-1]
	return last.before + last.area()
}

// reach returns the earliest offset at or after from at which the level
// is at least v, and false if it never is again.
func (pr *profile) reach(v float64, from time.Duration) (time.Duration, bool) {
	for _, sg := range pr.segs {
		if sg.end <= from {
			continue
		}
		start := max(sg.start, from)
		if sg.at(start) >= v {
			return start, true
		}
		if sg.to > sg.from && sg.to >= v {
			// The level rises through v inside the segment.
			t := sg.start + time.Duration((v-sg.from)/sg.slope()*float64(time.Second))
			// Rounded up to the nanosecond at which the level is v.
			for sg.at(t) < v && t < sg.end {
				t++
			}
			return max(t, start), true
		}
	}
	return 0, false
}

// A schedule says when each request of an open-model run is due: request
// i (from 0) at the time where the integral of the rate over the run
// reaches i, so that a ramp's requests come exactly as its rate rises,
// not at a rate that jumps once a second. It is read-only: every worker
// and event loop reads it at once.
//
// A segment of a distributed run (see [Segment]) has the whole run's
// schedule and its share of it: its request i is the whole run's request
// i·N + segment, and every count is of the segment's requests.
type schedule struct {
	rate     *profile
	interval float64 // ns between requests for a constant rate; 0 otherwise
	end      time.Duration
	requests int64   // at most this many requests; 0 means no limit
	seg      Segment // the share of it this run sends
}

func newSchedule(p *Plan) *schedule {
	s := &schedule{rate: newProfile(p.Rate, p.RateStages), end: p.Duration, requests: p.Requests, seg: p.Segment}
	if len(p.RateStages) == 0 {
		s.interval = float64(time.Second) / p.Rate
	} else {
		s.end = s.rate.end
	}
	return s
}

// due returns request i's offset from the start of the run, and false if
// the schedule has no request i: past Requests, or not due before the
// end of the run. Its cost is a multiplication for a constant rate, and a
// few comparisons and a square root on a profile.
func (s *schedule) due(i int64) (time.Duration, bool) {
	return s.dueWhole(s.seg.Global(i))
}

// dueWhole is due for request i of the whole run.
func (s *schedule) dueWhole(i int64) (time.Duration, bool) {
	if s.requests > 0 && i >= s.requests {
		return 0, false
	}
	var d time.Duration
	if s.interval > 0 {
		d = time.Duration(float64(i) * s.interval)
	} else {
		var ok bool
		if d, ok = s.rate.dueAt(float64(i)); !ok {
			return 0, false
		}
	}
	if s.end > 0 && d >= s.end {
		return 0, false
	}
	return d, true
}

// dueAt returns where the integral of the profile first exceeds x: the
// due time of request x.
func (pr *profile) dueAt(x float64) (time.Duration, bool) {
	for i := range pr.segs {
		sg := &pr.segs[i]
		area := sg.area()
		if x >= sg.before+area || area <= 0 {
			continue
		}
		// Solve before + a·τ + b·τ²/2 = x for τ, in the form that stays
		// exact when the slope b is small or zero.
		a, b, y := sg.from, sg.slope(), x-sg.before
		if y <= 0 {
			return sg.start, true
		}
		tau := 2 * y / (a + math.Sqrt(max(a*a+2*b*y, 0)))
		return sg.start + time.Duration(tau*float64(time.Second)), true
	}
	return 0, false
}

// count returns the number of requests due before offset d.
func (s *schedule) count(d time.Duration) int64 {
	// The whole run's are a prefix, of which the segment has its share.
	return s.seg.Share(s.countWhole(d))
}

// countWhole is count for the whole run.
func (s *schedule) countWhole(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	if s.end > 0 {
		d = min(d, s.end)
	}
	var n int64
	if s.interval > 0 {
		n = wholeRequests(float64(d) / s.interval)
	} else {
		// The integral, then a step or two to agree with due exactly,
		// whatever the rounding of either. Plan.CheckRate keeps the
		// integral exact to well under a request; the bound on the steps
		// keeps a schedule it never saw from spinning.
		n = wholeRequests(s.rate.integral(d))
		for steps := 0; steps < maxDueSteps && n > 0 && !s.dueBefore(n-1, d); steps++ {
			n--
		}
		for steps := 0; steps < maxDueSteps && s.dueBefore(n, d); steps++ {
			n++
		}
	}
	if s.requests > 0 {
		n = min(n, s.requests)
	}
	return min(max(n, 0), MaxScheduled)
}

// maxDueSteps bounds countWhole's steps from the integral to the count.
const maxDueSteps = 64

// wholeRequests returns x rounded up, within [0, MaxScheduled]: a float64
// past int64's range converts to garbage (math.MinInt64 on amd64).
func wholeRequests(x float64) int64 {
	x = math.Ceil(x)
	switch {
	case !(x > 0): // and NaN
		return 0
	case x >= MaxScheduled:
		return MaxScheduled
	}
	return int64(x)
}

// dueBefore reports whether request i is due before offset d.
func (s *schedule) dueBefore(i int64, d time.Duration) bool {
	at, ok := s.dueWhole(i)
	return ok && at < d
}

// meanRate returns the schedule's mean rate over its span: the rate for
// a constant one; a segment's share of it.
func (s *schedule) meanRate() float64 {
	return s.meanRateWhole() / float64(max(s.seg.Count, 1))
}

func (s *schedule) meanRateWhole() float64 {
	if s.interval > 0 {
		return float64(time.Second) / s.interval
	}
	if s.end <= 0 {
		return 0
	}
	return s.rate.integral(s.end) / s.end.Seconds()
}

// span returns how long the schedule lasts: its end, or the due time of
// the last request plus one interval for a count at a constant rate; 0 if
// neither bounds it.
func (s *schedule) span() time.Duration {
	if s.end > 0 {
		return s.end
	}
	if s.requests > 0 && s.interval > 0 {
		return time.Duration(float64(s.requests) * s.interval)
	}
	return 0
}

// MaxRate is the highest request rate, in requests per second, of
// [Plan.Rate] and of a rate stage's target: a hundred times what one
// machine sends, and low enough that a schedule's due times, a nanosecond
// apart at most, stay distinct.
const MaxRate = 1e8

// MaxScheduled is the most requests an open-model schedule may hold:
// 2^53, below which a request's number is exact as a float64, as the
// schedule's arithmetic needs it to be.
const MaxScheduled = 1 << 53

// CheckRate reports what is wrong with the plan's rate, if anything: a
// rate or a rate stage above [MaxRate], or a schedule of more than
// [MaxScheduled] requests.
func (p *Plan) CheckRate() error {
	if p.Rate > MaxRate {
		return fmt.Errorf("loadgen: rate %v req/s is above the limit of %v", p.Rate, MaxRate)
	}
	for i, st := range p.RateStages {
		if st.Target > MaxRate {
			return fmt.Errorf("loadgen: rate stage %d has target %v req/s, above the limit of %v", i+1, st.Target, MaxRate)
		}
	}
	if !p.open() {
		return nil
	}
	if p.Requests > MaxScheduled {
		return fmt.Errorf("loadgen: the schedule holds %d requests, more than the limit of 2^53 (%d)", p.Requests, int64(MaxScheduled))
	}
	var total float64
	switch {
	case p.RateStages != nil:
		pr := newProfile(p.Rate, p.RateStages)
		total = pr.integral(pr.end)
	case p.Duration > 0:
		total = p.Rate * p.Duration.Seconds()
		if p.Requests > 0 {
			total = min(total, float64(p.Requests))
		}
	default:
		total = float64(p.Requests)
	}
	if total > MaxScheduled {
		return fmt.Errorf("loadgen: the schedule holds %.3g requests, more than the limit of 2^53 (%d)", total, int64(MaxScheduled))
	}
	return nil
}

// checkStages reports what is wrong with a profile's stages.
func checkStages(stages []Stage, what string) error {
	for i, st := range stages {
		switch {
		case st.Duration <= 0:
			return fmt.Errorf("loadgen: %s stage %d lasts %v; a stage must last", what, i+1, st.Duration)
		case st.Target < 0 || math.IsNaN(st.Target) || math.IsInf(st.Target, 0):
			return fmt.Errorf("loadgen: %s stage %d has target %v", what, i+1, st.Target)
		}
	}
	return nil
}

// CheckProfile reports what is wrong with the plan's stages, if anything:
// what Run would refuse them for.
func (p *Plan) CheckProfile() error {
	stages := p.RateStages
	what := "rate"
	if p.ConnectionStages != nil {
		stages, what = p.ConnectionStages, "connection"
	}
	switch {
	case stages == nil:
		return nil
	case p.RateStages != nil && p.ConnectionStages != nil:
		return errors.New("loadgen: rate stages and connection stages together")
	case p.Duration != 0 || p.Requests != 0:
		return errors.New("loadgen: a profile of stages sets the run's length: no duration or request count with it")
	case p.ConnectionStages != nil && p.Rate != 0:
		return errors.New("loadgen: connection stages are for the closed model, not with a rate")
	}
	if err := checkStages(stages, what); err != nil {
		return err
	}
	if err := p.CheckRate(); err != nil {
		return err
	}
	pr := newProfile(p.startLevel(), stages)
	if p.RateStages != nil && pr.integral(pr.end) < 1 {
		return errors.New("loadgen: the rate stages make no request due")
	}
	if p.ConnectionStages != nil {
		for i, st := range stages {
			if st.Target != math.Trunc(st.Target) {
				return fmt.Errorf("loadgen: connection stage %d has target %v, not a whole number", i+1, st.Target)
			}
		}
		if pr.peak() < 1 {
			return errors.New("loadgen: the connection stages never open a connection")
		}
	}
	return nil
}

// startLevel returns the level a profile starts from.
func (p *Plan) startLevel() float64 {
	if p.ConnectionStages != nil {
		return float64(p.Connections)
	}
	return p.Rate
}

// open reports whether p is of the open model.
func (p *Plan) open() bool { return p.Rate > 0 || p.RateStages != nil }

// PeakConnections returns the number of connections the run opens:
// Connections, or the peak of a ramp; never more than there are requests.
func (p *Plan) PeakConnections() int {
	n := p.Connections
	if p.ConnectionStages != nil {
		n = max(n, int(newProfile(p.startLevel(), p.ConnectionStages).peak()))
	}
	if p.Requests > 0 && int64(n) > p.Requests {
		n = int(p.Requests)
	}
	return n
}

// Length returns how long the run lasts: Duration, or the length of its
// stages; 0 if only a request count bounds it.
func (p *Plan) Length() time.Duration {
	switch {
	case p.RateStages != nil:
		return newProfile(p.Rate, p.RateStages).end
	case p.ConnectionStages != nil:
		return newProfile(p.startLevel(), p.ConnectionStages).end
	}
	return p.Duration
}

// describeProfile returns the report's description of the plan's
// stages: "ramp 30s:5000, =1m:2000" ("=" for a step); "" without.
func (p *Plan) describeProfile() string {
	stages := p.RateStages
	if stages == nil {
		stages = p.ConnectionStages
	}
	if stages == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "from %v", p.startLevel())
	for _, st := range stages {
		eq := ""
		if st.Step {
			eq = "="
		}
		fmt.Fprintf(&b, ", %v:%s%v", st.Duration, eq, st.Target)
	}
	return b.String()
}

// reapsAnswers reports whether the event loops leave the answers that
// come shortly before their next due time to be read then (see
// loop_reap_linux.go): in the open model over http:// with the timerfd.
func (p *Plan) reapsAnswers() bool {
	return p.open() && p.URL != nil && p.URL.Scheme == "http" && !p.LoopWakeOnAnswer &&
		(p.LoopTimer == TimerDefault || p.LoopTimer == TimerFD)
}
