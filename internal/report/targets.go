package report

import (
	"fmt"
	"slices"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// MaxTargetRows bounds the per-target rows of a summary: a row for each of
// the first MaxTargetRows-1 names and one for the rest, [OtherTarget].
// Each row of each recorder costs a response-time histogram (about 190 KiB
// of address space once it holds a value), so a run over 100,000
// distinct URLs cannot keep 100,000 of them. It matches the targets
// package's MaxNames plus one.
const MaxTargetRows = 101

// OtherTarget names the row of the targets past the first MaxTargetRows-1
// names.
const OtherTarget = "(other)"

// TargetSummary is one target name's share of a run: its requests, errors,
// status codes and response times. Service times, the send lag and the
// phases are the run's only.
type TargetSummary struct {
	// Name is the target's name (see the targets package): the name the
	// targets file gives, or its method and path.
	Name string
	// Requests, Errors, ErrorKinds, Bytes and Status count as the
	// Summary's fields of the same names do, for this target only.
	Requests   int64
	Errors     int64
	ErrorKinds [numErrorKinds]int64
	Bytes      int64
	Status     map[int]int64

	response *hdrhistogram.Histogram // nil until a response is recorded
}

// Response returns the target's response-time distribution.
func (t *TargetSummary) Response() Latency { return latencyOf(t.response) }

// ResponseAt returns the target's response time at percentile p (0-100).
func (t *TargetSummary) ResponseAt(p float64) time.Duration { return valueAt(t.response, p) }

// ResponseAt returns the run's response time at percentile p (0-100), for
// any p, where [Summary.Response] gives the usual few.
func (s *Summary) ResponseAt(p float64) time.Duration { return valueAt(s.response, p) }

func valueAt(h *hdrhistogram.Histogram, p float64) time.Duration {
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.ValueAtPercentile(p)) * time.Microsecond
}

// TargetNamed returns the row of the target called name, or nil.
func (s *Summary) TargetNamed(name string) *TargetSummary {
	for _, t := range s.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// targetRecord is a recorder's row for one target name.
type targetRecord struct {
	requests, errors, bytes int64
	errKinds                [numErrorKinds]int64
	status                  [statusSlots]int64
	response                *hdrhistogram.Histogram
}

// TrackTargets names the targets a Sample's Target indexes, so that the
// recorder keeps a row for each: the first MaxTargetRows names, samples
// of later ones counted in the last row. With one name it keeps no row of
// its own: the run's totals are that target's. Call it before the first
// Record; names is kept, not copied.
func (r *Recorder) TrackTargets(names []string) {
	r.targetNames = names[:min(len(names), MaxTargetRows)]
	if len(r.targetNames) > 1 {
		r.targets = make([]targetRecord, len(r.targetNames))
		if r.series != nil {
			r.series.trackTargets(r.targetNames)
		}
	}
}

// recordTarget adds s to its target's row: a few counters and, for a
// response, a histogram update, about 10 ns. The first response of a row
// allocates its histogram.
func (r *Recorder) recordTarget(s *Sample) {
	i := min(max(s.Target, 0), len(r.targets)-1)
	t := &r.targets[i]
	t.requests++
	t.bytes += s.Bytes
	if s.Err != ErrNone {
		t.errors++
		t.errKinds[min(s.Err, ErrOther)]++
		return
	}
	code := s.Status
	if code < 100 || code >= statusSlots {
		code = 0
	}
	t.status[code]++
	if t.response == nil {
		t.response = newHistogram()
	}
	_ = t.response.RecordValue(micros(s.Response))
}

// mergeTargets adds the recorders' rows to s, or makes the one row of a
// run with one target name from s's totals.
func (s *Summary) mergeTargets(recs []*Recorder) {
	var names []string
	for _, r := range recs {
		if r != nil && len(r.targetNames) > 0 {
			names = r.targetNames
			break
		}
	}
	switch len(names) {
	case 0:
		return
	case 1:
		s.Targets = []*TargetSummary{s.totalsAsTarget(names[0])}
		return
	}
	s.Targets = make([]*TargetSummary, len(names))
	for i, n := range names {
		s.Targets[i] = &TargetSummary{Name: n, Status: map[int]int64{}}
	}
	for _, r := range recs {
		if r == nil {
			continue
		}
		for i := range r.targets {
			tr, t := &r.targets[i], s.Targets[i]
			t.Requests += tr.requests
			t.Errors += tr.errors
			t.Bytes += tr.bytes
			for k, n := range tr.errKinds {
				t.ErrorKinds[k] += n
			}
			for code, n := range tr.status {
				if n != 0 {
					t.Status[code] += n
				}
			}
			if tr.response != nil {
				if t.response == nil {
					t.response = newHistogram()
				}
				t.response.Merge(tr.response)
			}
		}
	}
}

// totalsAsTarget returns s's totals as the row of its one target.
func (s *Summary) totalsAsTarget(name string) *TargetSummary {
	t := &TargetSummary{Name: name, Requests: s.Requests, Errors: s.Errors, ErrorKinds: s.ErrorKinds,
		Bytes: s.Bytes, Status: make(map[int]int64, len(s.Status))}
	for code, n := range s.Status {
		t.Status[code] = n
	}
	if s.response != nil && s.response.TotalCount() > 0 {
		t.response = s.response.Clone()
	}
	return t
}

func (t *TargetSummary) clone() *TargetSummary {
	c := *t
	c.Status = make(map[int]int64, len(t.Status))
	for code, n := range t.Status {
		c.Status[code] = n
	}
	if t.response != nil {
		c.response = t.response.Clone()
	}
	return &c
}

// add merges o into t.
func (t *TargetSummary) add(o *TargetSummary) {
	t.Requests += o.Requests
	t.Errors += o.Errors
	t.Bytes += o.Bytes
	for k, n := range o.ErrorKinds {
		t.ErrorKinds[k] += n
	}
	if t.Status == nil {
		t.Status = map[int]int64{}
	}
	for code, n := range o.Status {
		t.Status[code] += n
	}
	if o.response != nil {
		if t.response == nil {
			t.response = newHistogram()
		}
		t.response.Merge(o.response)
	}
}

// addTargets merges other's rows into s's by name, when Add merges two
// runs. Names new to s are appended while there is room for them, and
// then go to the OtherTarget row. If only one of the runs has rows (the
// other saved by a gather that did not keep them), the merge has none,
// and a warning says so: rows of only some of the requests would mislead.
func (s *Summary) addTargets(other *Summary) {
	if (s.Targets == nil) != (other.Targets == nil) {
		s.Targets = nil
		const w = "per-target rows left out: some of the merged runs have none (saved by an older gather)"
		if !slices.Contains(s.Generator.Warnings, w) {
			s.Generator.Warnings = append(s.Generator.Warnings, w)
		}
		return
	}
	for _, o := range other.Targets {
		if t := s.TargetNamed(o.Name); t != nil {
			t.add(o)
			continue
		}
		if len(s.Targets) < MaxTargetRows-1 {
			s.Targets = append(s.Targets, o.clone())
			continue
		}
		rest := s.TargetNamed(OtherTarget)
		if rest == nil {
			rest = &TargetSummary{Name: OtherTarget, Status: map[int]int64{}}
			s.Targets = append(s.Targets, rest)
		}
		rest.add(o)
	}
}

// checkTargets reports rows that do not add up to the run's totals, for Load.
func (s *Summary) checkTargets() error {
	if s.Targets == nil {
		return nil
	}
	var req, errs, bytes int64
	seen := map[string]bool{}
	for _, t := range s.Targets {
		if seen[t.Name] {
			return fmt.Errorf("two target rows named %q", t.Name)
		}
		seen[t.Name] = true
		var answered, kinds int64
		for _, n := range t.Status {
			answered += n
		}
		for _, n := range t.ErrorKinds {
			kinds += n
		}
		var hist int64
		if t.response != nil {
			hist = t.response.TotalCount()
		}
		if answered+t.Errors != t.Requests || kinds != t.Errors || hist != answered {
			return fmt.Errorf("target %q: status counts, errors and its histogram do not add up to its %d requests", t.Name, t.Requests)
		}
		req += t.Requests
		errs += t.Errors
		bytes += t.Bytes
	}
	if len(s.Targets) > MaxTargetRows {
		return fmt.Errorf("%d target rows, more than %d", len(s.Targets), MaxTargetRows)
	}
	if req != s.Requests || errs != s.Errors || bytes != s.Bytes {
		return fmt.Errorf("the target rows hold %d requests, %d errors and %d bytes; the run %d, %d and %d",
			req, errs, bytes, s.Requests, s.Errors, s.Bytes)
	}
	return nil
}

// savedTarget is a target row's saved form.
type savedTarget struct {
	Name         string           `json:"name"`
	Requests     int64            `json:"requests"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Bytes        int64            `json:"bytes"`
	Status       map[string]int64 `json:"status"`
	Response     string           `json:"response_histogram,omitempty"` // none without responses
}

func (s *Summary) saveTargets() ([]savedTarget, error) {
	var out []savedTarget
	for _, t := range s.Targets {
		st := savedTarget{Name: t.Name, Requests: t.Requests, Errors: t.Errors,
			ErrorsByKind: saveKinds(&t.ErrorKinds), Bytes: t.Bytes, Status: saveStatus(t.Status)}
		if t.response != nil && t.response.TotalCount() > 0 {
			b, err := t.response.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				return nil, fmt.Errorf("report: encoding the histogram of target %q: %w", t.Name, err)
			}
			st.Response = string(b)
		}
		out = append(out, st)
	}
	return out, nil
}

// loadTargets reads saved rows into s and checks that they add up.
func (s *Summary) loadTargets(saved []savedTarget) error {
	if saved == nil {
		return nil
	}
	s.Targets = []*TargetSummary{}
	for _, st := range saved {
		if st.Requests < 0 || st.Errors < 0 || st.Bytes < 0 {
			return fmt.Errorf("target %q: negative count", st.Name)
		}
		t := &TargetSummary{Name: st.Name, Requests: st.Requests, Errors: st.Errors, Bytes: st.Bytes, Status: map[int]int64{}}
		var err error
		if t.ErrorKinds, _, err = loadErrorKinds(st.ErrorsByKind); err != nil {
			return fmt.Errorf("target %q: %v", st.Name, err)
		}
		if _, err := loadStatus(st.Status, t.Status); err != nil {
			return fmt.Errorf("target %q: %v", st.Name, err)
		}
		if st.Response != "" {
			h, err := decodeHistogram(st.Response)
			if err != nil {
				return fmt.Errorf("target %q: response histogram: %v", st.Name, err)
			}
			t.response = h
		}
		s.Targets = append(s.Targets, t)
	}
	return s.checkTargets()
}
