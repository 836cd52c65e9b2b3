package report

import (
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// savedInterval is one interval of a saved series: its start in ns since
// the Unix epoch, its counters (zero ones left out) and its histograms in
// the V2 compressed encoding (base64), left out when empty.
type savedInterval struct {
	StartNS      int64            `json:"start_unix_ns"`
	Requests     int64            `json:"requests,omitempty"`
	Errors       int64            `json:"errors,omitempty"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind,omitempty"`
	Status       map[string]int64 `json:"status,omitempty"`
	Bytes        int64            `json:"bytes,omitempty"`
	Late         int64            `json:"late,omitempty"`
	Due          int64            `json:"due,omitempty"`
	Dropped      int64            `json:"dropped,omitempty"`
	Cut          int64            `json:"cut,omitempty"`
	Response     string           `json:"response_histogram,omitempty"`
	Service      string           `json:"service_histogram,omitempty"`
	// The per-target counters, indexed as the summary's series_targets,
	// when the run kept them and the interval had requests.
	TargetRequests []int64 `json:"target_requests,omitempty"`
	TargetErrors   []int64 `json:"target_errors,omitempty"`
	TargetNon2xx   []int64 `json:"target_non_2xx,omitempty"`
	// Codes splits Status by exact code (see [StatusCodes]); absent in
	// files saved before it.
	Codes map[string]int64 `json:"status_codes,omitempty"`
}

// statusClassNames name the status classes in saved files and JSON.
var statusClassNames = [NumStatusClasses]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func saveSeries(v *savedSummary, s *Series) error {
	if s == nil {
		return nil
	}
	v.IntervalNS = int64(s.length)
	v.SeriesTargets = s.targets
	v.Series = make([]savedInterval, 0, len(s.items))
	for i := range s.items {
		it := &s.items[i]
		c := &it.counts
		si := savedInterval{
			StartNS:  it.index * int64(s.length),
			Requests: c.Requests, Errors: c.Errors, Bytes: c.Bytes,
			Late: c.Late, Due: c.Due, Dropped: c.Dropped, Cut: c.Cut,
		}
		for k := ErrNone + 1; k < numErrorKinds; k++ {
			if n := c.ErrorKinds[k]; n != 0 {
				if si.ErrorsByKind == nil {
					si.ErrorsByKind = make(map[string]int64)
				}
				si.ErrorsByKind[k.String()] = n
			}
		}
		for class, n := range c.Status {
			if n != 0 {
				if si.Status == nil {
					si.Status = make(map[string]int64)
				}
				si.Status[statusClassNames[class]] = n
			}
		}
		si.Codes = c.Codes.saveCodes()
		if it.targets != nil {
			saveTargetCounts(&si, s.targetsOf(it))
		}
		var err error
		if si.Response, err = encodeInterval(it.response); err != nil {
			return err
		}
		if si.Service, err = encodeInterval(it.service); err != nil {
			return err
		}
		v.Series = append(v.Series, si)
	}
	return nil
}

// encodeInterval returns a kept interval histogram in the V2 compressed
// encoding, "" if empty.
func encodeInterval(raw []byte) (string, error) {
	if raw == nil {
		return "", nil
	}
	b, err := unpackHistogram(raw).Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("report: encoding histogram: %w", err)
	}
	return string(b), nil
}

// loadSeries checks and decodes a saved series: intervals in strictly
// ascending order on the interval's boundaries, counters that agree with
// each other and with the histograms, and sums equal to the run's totals.
func loadSeries(v *savedSummary) (*Series, error) {
	if v.IntervalNS == 0 && v.Series == nil {
		return nil, nil
	}
	if v.IntervalNS < int64(MinInterval) {
		return nil, fmt.Errorf("series interval %v is shorter than %v", time.Duration(v.IntervalNS), MinInterval)
	}
	if err := checkTargetNames(v.SeriesTargets); err != nil {
		return nil, err
	}
	s := &Series{length: time.Duration(v.IntervalNS), items: make([]storedInterval, 0, len(v.Series)), targets: v.SeriesTargets}
	var total IntervalCounts
	for i, si := range v.Series {
		bad := func(format string, args ...any) (*Series, error) {
			return nil, fmt.Errorf("series interval %d: %s", i, fmt.Sprintf(format, args...))
		}
		if si.StartNS%v.IntervalNS != 0 {
			return bad("start %d is not on a boundary of %d ns intervals", si.StartNS, v.IntervalNS)
		}
		it := storedInterval{index: si.StartNS / v.IntervalNS}
		if n := len(s.items); n > 0 && it.index <= s.items[n-1].index {
			return bad("not after the interval before it")
		}
		c := &it.counts
		*c = IntervalCounts{Requests: si.Requests, Errors: si.Errors, Bytes: si.Bytes, Late: si.Late, Due: si.Due, Dropped: si.Dropped, Cut: si.Cut}
		if c.Requests < 0 || c.Errors < 0 || c.Bytes < 0 || c.Late < 0 || c.Due < 0 || c.Dropped < 0 || c.Cut < 0 {
			return bad("negative count")
		}
		var kinds, answered int64
		var err error
		if c.ErrorKinds, kinds, err = loadErrorKinds(si.ErrorsByKind); err != nil {
			return bad("%v", err)
		}
		for name, n := range si.Status {
			class := -1
			for j, cn := range statusClassNames {
				if cn == name {
					class = j
				}
			}
			if class < 0 || n < 0 {
				return bad("status class %q: %d", name, n)
			}
			c.Status[class] += n
			answered += n
		}
		if err := c.Codes.loadCodes(si.Codes, &c.Status); err != nil {
			return bad("%v", err)
		}
		if it.response, err = loadIntervalHistogram(si.Response, answered); err != nil {
			return bad("response histogram: %v", err)
		}
		if it.service, err = loadIntervalHistogram(si.Service, answered); err != nil {
			return bad("service histogram: %v", err)
		}
		switch {
		case kinds != c.Errors:
			return bad("errors_by_kind adds up to %d, errors is %d", kinds, c.Errors)
		case answered+c.Errors != c.Requests:
			return bad("status counts (%d) plus errors (%d) are not requests (%d)", answered, c.Errors, c.Requests)
		}
		if it.targets, err = loadTargetCounts(&si, len(s.targets), c); err != nil {
			return bad("%v", err)
		}
		total.Add(c)
		s.items = append(s.items, it)
	}
	if total.Requests != v.Requests || total.Errors != v.Errors || total.Late != v.Late ||
		total.Bytes != v.Bytes || total.Dropped != v.Dropped || total.Cut != v.Cut {
		return nil, fmt.Errorf("the series adds up to %d requests, %d errors, %d late, %d bytes, %d dropped, %d cut; the run has %d, %d, %d, %d, %d, %d",
			total.Requests, total.Errors, total.Late, total.Bytes, total.Dropped, total.Cut,
			v.Requests, v.Errors, v.Late, v.Bytes, v.Dropped, v.Cut)
	}
	return s, nil
}

// loadIntervalHistogram decodes one saved interval histogram, which must
// hold count values, into the form a series keeps.
func loadIntervalHistogram(text string, count int64) ([]byte, error) {
	if text == "" {
		if count != 0 {
			return nil, fmt.Errorf("missing, for %d responses", count)
		}
		return nil, nil
	}
	h, err := decodeHistogramAt(text, intervalSigFigs)
	if err != nil {
		return nil, err
	}
	if h.TotalCount() != count {
		return nil, fmt.Errorf("holds %d responses, the status counts %d", h.TotalCount(), count)
	}
	return packHistogram(h), nil
}
