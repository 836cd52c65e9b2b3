package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// saveFormat and saveVersion identify a saved summary. A change that an
// older Load would misread must increase saveVersion. Version 2 added the
// run's start, its dropped requests and its series; Load reads versions 1
// and 2, Save writes 2.
const (
	saveFormat  = "gather-bench-summary"
	saveVersion = 2
)

// savedSummary is the saved form of a Summary: JSON, with durations in
// integer nanoseconds so that a round trip is exact, and histograms in the
// HdrHistogram V2 compressed encoding (base64), which every HdrHistogram
// implementation reads.
type savedSummary struct {
	Format      string  `json:"format"`
	Version     int     `json:"version"`
	Target      string  `json:"target"`
	Method      string  `json:"method"`
	Connections int     `json:"connections"`
	Rate        float64 `json:"rate"`
	ElapsedNS   int64   `json:"elapsed_ns"`
	Runs        int     `json:"runs"`
	// RunIDs and MergeWarnings are optional: files saved before they
	// existed have neither.
	RunIDs        []string `json:"run_ids,omitempty"`
	MergeWarnings []string `json:"merge_warnings,omitempty"`
	// So are these: what was asked, an interruption, failure messages.
	AskedRequests   int64               `json:"asked_requests,omitempty"`
	AskedDurationNS int64               `json:"asked_duration_ns,omitempty"`
	Interrupted     bool                `json:"interrupted,omitempty"`
	ErrorSamples    map[string][]string `json:"error_samples,omitempty"`
	RequestsPerS    float64             `json:"requests_per_s"`
	BytesPerS       float64             `json:"bytes_per_s"`
	Requests        int64               `json:"requests"`
	Errors          int64               `json:"errors"`
	ErrorsByKind    map[string]int64    `json:"errors_by_kind"`
	Late            int64               `json:"late"`
	Bytes           int64               `json:"bytes"`
	Status          map[string]int64    `json:"status"`
	Generator       savedGenerator      `json:"generator"`
	Response        string              `json:"response_histogram"`
	Service         string              `json:"service_histogram"`
	savedPhases                         // optional: connections and phase timings
	// Version 2. The series is absent from a run merged with one of
	// version 1 (see [Summary.Add]).
	StartNS    int64           `json:"start_unix_ns,omitempty"`
	Profile    string          `json:"profile,omitempty"`
	Dropped    int64           `json:"dropped,omitempty"`
	Cut        int64           `json:"cut,omitempty"`
	IntervalNS int64           `json:"interval_ns,omitempty"`
	Series     []savedInterval `json:"series,omitempty"`
	// SeriesTargets names the targets of the series' per-target
	// counters, when the run kept them.
	SeriesTargets []string `json:"series_targets,omitempty"`
	// Targets is optional: the per-target rows, when the run kept them.
	Targets []savedTarget `json:"targets,omitempty"`
	// Parts is optional: where, when and as which segment each run ran,
	// one per run id (see [Part]).
	Parts []savedPart `json:"parts,omitempty"`
}

type savedGenerator struct {
	TargetRate   float64  `json:"target_rate"`
	AchievedRate float64  `json:"achieved_rate"`
	SendLagP99NS int64    `json:"send_lag_p99_ns"`
	SendLagMaxNS int64    `json:"send_lag_max_ns"`
	LateGen      int64    `json:"late_generator,omitempty"`
	LateWaiting  int64    `json:"late_waiting,omitempty"`
	UnreadNS     int64    `json:"unread_wait_ns,omitempty"`
	Unread       int64    `json:"unread_answers,omitempty"`
	GCPauseNS    int64    `json:"gc_pause_ns"`
	CPUNS        int64    `json:"cpu_ns"`
	Bound        bool     `json:"bound"`
	Limit        string   `json:"limit,omitempty"`
	Warnings     []string `json:"warnings"`
	Engine       string   `json:"engine,omitempty"` // absent in runs saved before stop 23
}

// Save writes the summary in the versioned format that [Load] reads back:
// one JSON object holding the metadata, the counters and the two
// histograms in HdrHistogram's compressed encoding, not every request, so
// a saved file is a few kilobytes for 10 or 10 million requests. Load(Save(s))
// reports exactly what s reports.
func (s *Summary) Save(w io.Writer) error {
	v, err := s.saved()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// SaveLine writes what [Summary.Save] writes, on one line ended by a
// newline, so that runs can share a stream with other lines: a log
// collected from several machines, which [ReadRuns] reads back.
func (s *Summary) SaveLine(w io.Writer) error {
	v, err := s.saved()
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(v)
}

// saved returns the saved form of s.
func (s *Summary) saved() (*savedSummary, error) {
	if s.response == nil || s.service == nil {
		return nil, errors.New("report: Save of a Summary not made by Merge or Load")
	}
	resp, err := s.response.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("report: encoding histogram: %w", err)
	}
	serv, err := s.service.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("report: encoding histogram: %w", err)
	}
	v := savedSummary{
		Format:          saveFormat,
		Version:         saveVersion,
		Target:          s.Target,
		Method:          s.Method,
		Connections:     s.Connections,
		Rate:            s.Rate,
		Profile:         s.Profile,
		ElapsedNS:       int64(s.Elapsed),
		Runs:            max(s.Runs, 1),
		RunIDs:          s.RunIDs,
		MergeWarnings:   s.MergeWarnings,
		AskedRequests:   s.Asked.Requests,
		AskedDurationNS: int64(s.Asked.Duration),
		Interrupted:     s.Interrupted,
		RequestsPerS:    s.RequestsPerSecond(),
		BytesPerS:       s.BytesPerSecond(),
		Requests:        s.Requests,
		Errors:          s.Errors,
		ErrorsByKind:    make(map[string]int64),
		Late:            s.Late,
		Bytes:           s.Bytes,
		Status:          make(map[string]int64),
		Generator: savedGenerator{
			TargetRate:   s.Generator.TargetRate,
			AchievedRate: s.Generator.AchievedRate,
			SendLagP99NS: int64(s.Generator.SendLagP99),
			SendLagMaxNS: int64(s.Generator.SendLagMax),
			LateGen:      s.Generator.LateGenerator,
			LateWaiting:  s.Generator.LateWaiting,
			UnreadNS:     int64(s.Generator.UnreadWait),
			Unread:       s.Generator.UnreadAnswers,
			GCPauseNS:    int64(s.Generator.GCPause),
			CPUNS:        int64(s.Generator.CPU),
			Bound:        s.Generator.Bound,
			Limit:        s.Generator.Limit,
			Warnings:     s.Generator.Warnings,
			Engine:       s.Generator.Engine,
		},
		Response: string(resp),
		Service:  string(serv),
		Dropped:  s.Dropped,
		Cut:      s.Cut,
		Parts:    s.saveParts(),
	}
	if v.savedPhases, err = s.phases.save(); err != nil {
		return nil, err
	}
	if !s.Start.IsZero() {
		v.StartNS = s.Start.UnixNano()
	}
	if err := saveSeries(&v, s.Series); err != nil {
		return nil, err
	}
	if v.Targets, err = s.saveTargets(); err != nil {
		return nil, err
	}
	for k := ErrNone + 1; k < numErrorKinds; k++ {
		if msgs := s.errSamples[k]; len(msgs) > 0 {
			if v.ErrorSamples == nil {
				v.ErrorSamples = make(map[string][]string)
			}
			v.ErrorSamples[k.String()] = msgs
		}
	}
	v.ErrorsByKind = saveKinds(&s.ErrorKinds)
	v.Status = saveStatus(s.Status)
	return &v, nil
}

// ErrFormat is wrapped by the errors Load returns for input that is not a
// valid saved summary (as opposed to an error reading it).
var ErrFormat = errors.New("not a valid saved gather bench summary")

// Load reads a summary written by [Summary.Save]. It checks the format,
// the version and the consistency of the counters with the histograms, so
// a truncated or edited file is reported rather than merged; such errors
// wrap [ErrFormat]. Load reads r to the end of the first JSON value.
func Load(r io.Reader) (*Summary, error) {
	var raw json.RawMessage
	er := &readErr{r: r}
	if err := json.NewDecoder(er).Decode(&raw); err != nil {
		switch {
		case er.err != nil:
			return nil, er.err
		case err == io.EOF:
			return nil, fmt.Errorf("%w: empty input", ErrFormat)
		case err == io.ErrUnexpectedEOF:
			return nil, fmt.Errorf("%w: truncated input", ErrFormat)
		}
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	bad := func(format string, args ...any) (*Summary, error) {
		return nil, fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	// A report ('bench -o json') is the likeliest wrong file: say so
	// rather than name the first field a saved run does not have.
	var head struct {
		Format *string         `json:"format"`
		Model  json.RawMessage `json:"model"`
	}
	if json.Unmarshal(raw, &head) == nil && head.Format == nil && head.Model != nil {
		return bad("it is a report ('gather bench -o json'); gather report reads the runs 'gather bench --save FILE' writes")
	}
	var v savedSummary
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if v.Format != saveFormat {
		return bad("format is %q, want %q", v.Format, saveFormat)
	}
	if v.Version < 1 || v.Version > saveVersion {
		return bad("version %d is not supported (this gather reads versions 1 to %d)", v.Version, saveVersion)
	}
	if v.Version == 1 && (v.StartNS != 0 || v.Dropped != 0 || v.IntervalNS != 0 || v.Series != nil || v.Profile != "") {
		return bad("version 1 has no start, profile, dropped requests or series")
	}
	if v.Runs < 1 || v.AskedRequests < 0 || v.AskedDurationNS < 0 || v.Connections < 0 || v.Rate < 0 || v.ElapsedNS < 0 ||
		v.Requests < 0 || v.Errors < 0 || v.Late < 0 || v.Bytes < 0 ||
		v.RequestsPerS < 0 || v.BytesPerS < 0 || v.Generator.CPUNS < 0 || v.Dropped < 0 || v.Cut < 0 || v.StartNS < 0 {
		return bad("negative count or duration")
	}
	switch {
	case len(v.RunIDs) > v.Runs:
		return bad("%d run ids for %d runs", len(v.RunIDs), v.Runs)
	case slices.Contains(v.RunIDs, ""):
		return bad("empty run id")
	}
	if len(v.RunIDs) == 0 {
		v.RunIDs = []string{contentRunID(&v)}
	}
	s := &Summary{
		RunIDs:        v.RunIDs,
		MergeWarnings: v.MergeWarnings,
		Asked:         Asked{Requests: v.AskedRequests, Duration: time.Duration(v.AskedDurationNS)},
		Interrupted:   v.Interrupted,
		Target:        v.Target,
		Method:        v.Method,
		Connections:   v.Connections,
		Rate:          v.Rate,
		Profile:       v.Profile,
		Elapsed:       time.Duration(v.ElapsedNS),
		Runs:          v.Runs,
		Generator: Generator{
			TargetRate:    v.Generator.TargetRate,
			AchievedRate:  v.Generator.AchievedRate,
			SendLagP99:    time.Duration(v.Generator.SendLagP99NS),
			SendLagMax:    time.Duration(v.Generator.SendLagMaxNS),
			LateGenerator: v.Generator.LateGen,
			LateWaiting:   v.Generator.LateWaiting,
			UnreadWait:    time.Duration(v.Generator.UnreadNS),
			UnreadAnswers: v.Generator.Unread,
			GCPause:       time.Duration(v.Generator.GCPauseNS),
			CPU:           time.Duration(v.Generator.CPUNS),
			Bound:         v.Generator.Bound,
			Limit:         v.Generator.Limit,
			Warnings:      v.Generator.Warnings,
			Engine:        v.Generator.Engine,
		},
		Requests:    v.Requests,
		Errors:      v.Errors,
		Late:        v.Late,
		Dropped:     v.Dropped,
		Cut:         v.Cut,
		Bytes:       v.Bytes,
		Status:      make(map[int]int64, len(v.Status)),
		rateSum:     v.RequestsPerS,
		byteRateSum: v.BytesPerS,
	}
	var kinds int64
	var err error
	if s.ErrorKinds, kinds, err = loadErrorKinds(v.ErrorsByKind); err != nil {
		return bad("%v", err)
	}
	for name, msgs := range v.ErrorSamples {
		k, ok := errorKindNamed(name)
		if !ok {
			return bad("error samples of unknown kind %q", name)
		}
		for _, msg := range msgs {
			s.errSamples.add(k, msg)
		}
	}
	answered, err := loadStatus(v.Status, s.Status)
	if err != nil {
		return bad("%v", err)
	}
	if s.response, err = decodeHistogram(v.Response); err != nil {
		return bad("response histogram: %v", err)
	}
	if s.service, err = decodeHistogram(v.Service); err != nil {
		return bad("service histogram: %v", err)
	}
	switch {
	case kinds != v.Errors:
		return bad("errors_by_kind adds up to %d, errors is %d", kinds, v.Errors)
	case answered+v.Errors != v.Requests:
		return bad("status counts (%d) plus errors (%d) are not requests (%d)", answered, v.Errors, v.Requests)
	case s.response.TotalCount() != answered || s.service.TotalCount() != answered:
		return bad("histograms hold %d and %d responses, status counts %d",
			s.response.TotalCount(), s.service.TotalCount(), answered)
	}
	if msg, ok := s.phases.load(v.savedPhases, answered); !ok {
		return bad("%s", msg)
	}
	if v.StartNS != 0 {
		s.Start = time.Unix(0, v.StartNS)
	}
	if s.Series, err = loadSeries(&v); err != nil {
		return bad("%v", err)
	}
	if err := s.loadTargets(v.Targets); err != nil {
		return bad("%v", err)
	}
	if err := s.loadParts(v.Parts); err != nil {
		return bad("%v", err)
	}
	return s, nil
}

// saveKinds returns the error counts by kind name, leaving out zeros.
func saveKinds(kinds *[numErrorKinds]int64) map[string]int64 {
	m := make(map[string]int64)
	for k := ErrNone + 1; k < numErrorKinds; k++ {
		if n := kinds[k]; n != 0 {
			m[k.String()] = n
		}
	}
	return m
}

// saveStatus returns the status counts by code, leaving out zeros.
func saveStatus(status map[int]int64) map[string]int64 {
	m := make(map[string]int64)
	for code, n := range status {
		if n != 0 {
			m[strconv.Itoa(code)] = n
		}
	}
	return m
}

// loadStatus adds saved status counts to status and returns their sum.
func loadStatus(m map[string]int64, status map[int]int64) (int64, error) {
	var sum int64
	for name, n := range m {
		code, err := strconv.Atoi(name)
		if err != nil || code < 0 || code >= statusSlots || (code > 0 && code < 100) || n < 0 {
			return 0, fmt.Errorf("status %q: %d", name, n)
		}
		status[code] += n
		sum += n
	}
	return sum, nil
}

// readErr remembers the error of the underlying reader, so Load can tell
// an unreadable input from a malformed one.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// decodeHistogram decodes one saved histogram and insists on the geometry
// every recorder uses, so that merging it loses nothing.
func decodeHistogram(text string) (*hdrhistogram.Histogram, error) {
	return decodeHistogramAt(text, sigFigs)
}

// decodeHistogramAt is decodeHistogram for histograms of digits
// significant digits (the intervals').
func decodeHistogramAt(text string, digits int64) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(text))
	if err != nil {
		return nil, err
	}
	if h.LowestTrackableValue() != lowestMicros || h.HighestTrackableValue() != highestMicros || h.SignificantFigures() != digits {
		return nil, fmt.Errorf("range %d-%d µs at %d digits, want %d-%d at %d",
			h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(),
			lowestMicros, highestMicros, digits)
	}
	return h, nil
}

// loadErrorKinds reads saved error counts by kind name, and their sum.
func loadErrorKinds(m map[string]int64) (kinds [numErrorKinds]int64, total int64, err error) {
	for name, n := range m {
		k, ok := errorKindNamed(name)
		if !ok || n < 0 {
			return kinds, 0, fmt.Errorf("error kind %q: %d", name, n)
		}
		kinds[k] += n
		total += n
	}
	return kinds, total, nil
}

func errorKindNamed(name string) (ErrorKind, bool) {
	for k := ErrNone + 1; k < numErrorKinds; k++ {
		if errorKindNames[k] == name {
			return k, true
		}
	}
	return 0, false
}
