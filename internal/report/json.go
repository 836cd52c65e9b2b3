package report

import (
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"time"
)

// jsonReport is the JSON report; WriteJSON documents its fields.
type jsonReport struct {
	Target       string              `json:"target"`
	Method       string              `json:"method"`
	Model        string              `json:"model"`
	Connections  int                 `json:"connections"`
	Rate         float64             `json:"rate_per_s"`
	Profile      string              `json:"profile"`
	Runs         int                 `json:"runs"`
	RunIDs       []string            `json:"run_ids"`
	MergeWarn    []string            `json:"merge_warnings"`
	ElapsedS     float64             `json:"elapsed_s"`
	Requests     int64               `json:"requests"`
	RequestsPerS float64             `json:"requests_per_s"`
	Bytes        int64               `json:"bytes"`
	BytesPerS    float64             `json:"bytes_per_s"`
	Asked        jsonAsked           `json:"asked"`
	Interrupted  bool                `json:"interrupted"`
	Errors       int64               `json:"errors"`
	ErrorsByKind orderedCounts       `json:"errors_by_kind"`
	ErrorSamples map[string][]string `json:"error_samples"`
	Non2xx       int64               `json:"non_2xx"`
	Late         int64               `json:"late"`
	Dropped      int64               `json:"dropped"`
	Cut          int64               `json:"cut"`
	Status       orderedCounts       `json:"status"`
	Response     jsonLatency         `json:"response"`
	Service      jsonLatency         `json:"service"`
	Histogram    []jsonHistogramRow  `json:"histogram"`
	Phases       jsonPhases          `json:"phases"`
	Targets      []jsonTarget        `json:"targets"`
	Thresholds   []jsonVerdict       `json:"thresholds"`
	Exports      []jsonExport        `json:"exports,omitempty"`
	Generator    jsonGenerator       `json:"generator"`
	StartUnixS   float64             `json:"start_unix_s"`
	IntervalS    float64             `json:"interval_s"`
	Series       []jsonInterval      `json:"series"`
	Parts        []jsonPart          `json:"parts"`
	StartSkewMS  float64             `json:"start_skew_ms"`

	// SeriesTargets names the targets each interval's "targets" splits.
	SeriesTargets []string `json:"series_targets,omitempty"`
}

type jsonAsked struct {
	Requests  int64   `json:"requests"`
	DurationS float64 `json:"duration_s"`
	RatePerS  float64 `json:"rate_per_s"`
}

// jsonInterval is one interval of the series in the JSON report.
type jsonInterval struct {
	StartUnixS   float64       `json:"start_unix_s"`
	Requests     int64         `json:"requests"`
	Errors       int64         `json:"errors"`
	ErrorsByKind orderedCounts `json:"errors_by_kind"`
	Status       orderedCounts `json:"status"`
	Bytes        int64         `json:"bytes"`
	Late         int64         `json:"late"`
	Due          int64         `json:"due"`
	Dropped      int64         `json:"dropped"`
	Cut          int64         `json:"cut,omitempty"`
	Response     jsonLatency   `json:"response"`
	Service      jsonLatency   `json:"service"`
	// The exact codes of the interval (see [StatusCodes]) and the
	// answers with other codes; absent from runs saved before them.
	StatusCodes      orderedCounts `json:"status_codes,omitempty"`
	StatusCodesOther int64         `json:"status_codes_other,omitempty"`
	// Targets splits the interval by target, indexed as series_targets.
	Targets []jsonIntervalTarget `json:"targets,omitempty"`
}

// jsonIntervalTarget is one target's counters in one interval.
type jsonIntervalTarget struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	Non2xx   int64 `json:"non_2xx"`
}

type jsonLatency struct {
	Count  int64   `json:"count"`
	MinMS  float64 `json:"min_ms"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p99_9_ms"`
	MaxMS  float64 `json:"max_ms"`
}

type jsonHistogramRow struct {
	UpperMS float64 `json:"upper_ms"`
	Count   int64   `json:"count"`
}

type jsonGenerator struct {
	Engine           string   `json:"engine,omitempty"`
	TargetRatePerS   float64  `json:"target_rate_per_s"`
	AchievedRatePerS float64  `json:"achieved_rate_per_s"`
	SendLagP99MS     float64  `json:"send_lag_p99_ms"`
	SendLagMaxMS     float64  `json:"send_lag_max_ms"`
	LateGenerator    int64    `json:"late_generator"`
	LateWaiting      int64    `json:"late_waiting"`
	UnreadMeanMS     float64  `json:"unread_mean_ms,omitempty"`
	GCPauseMS        float64  `json:"gc_pause_ms"`
	CPUS             float64  `json:"cpu_s"`
	CPUPerRequestUS  float64  `json:"cpu_per_request_us"`
	Bound            bool     `json:"bound"`
	Limit            string   `json:"limit"`
	Warnings         []string `json:"warnings"`
}

// orderedCounts is a JSON object of counts whose keys keep their order, so
// that the output is stable and reads in a sensible order (error kinds as
// declared, status codes ascending).
type orderedCounts []namedCount

type namedCount struct {
	name string
	n    int64
}

func (c orderedCounts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, nc := range c {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, nc.name)
		b = append(b, ':')
		b = strconv.AppendInt(b, nc.n, 10)
	}
	return append(b, '}'), nil
}

// msOf returns d in milliseconds, rounded to the microsecond so that the
// JSON does not show float noise.
func msOf(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)/time.Microsecond) / 1000
}

func latencyJSON(l Latency) jsonLatency {
	return jsonLatency{
		Count: l.Count, MinMS: msOf(l.Min), MeanMS: msOf(l.Mean),
		P50MS: msOf(l.P50), P90MS: msOf(l.P90), P95MS: msOf(l.P95),
		P99MS: msOf(l.P99), P999MS: msOf(l.P999), MaxMS: msOf(l.Max),
	}
}

// WriteJSON writes the report as one indented JSON object followed by a
// newline. The fields mean what the text report's lines mean, and their
// names and meaning are kept stable.
//
// Field names are snake_case and stable. A name ends in its unit: _ms for
// milliseconds (floats, microsecond precision), _us for microseconds, _s
// for seconds, _per_s for rates; names without a unit are counts. "bytes"
// counts response bodies only, whichever client sent the requests. Fields are never omitted: a
// closed-model run has "rate_per_s": 0, "late": 0 and a service section
// equal to the response section. "response" and "service" cover the
// answered requests (requests minus errors); "status" counts them by code,
// with "0" for codes outside 100-599. The "histogram" rows split the
// response times as the text report's bars do: each row counts the
// responses above the previous row's upper_ms and at most its own.
// "asked" is what the run was asked to do (bench's -n, -z and -q; 0 for
// what was not asked), and "interrupted" is true if it was stopped before
// (Ctrl-C). "error_samples" holds, for each kind of error seen, up to
// three distinct messages. "non_2xx" counts the answers whose status is
// not 2xx, which are not errors. When "count" of a latency section is 0
// there were no answers, and its other fields are 0 and mean nothing.
// "run_ids" names the runs merged (one for a single run) and
// "merge_warnings" says how they differed if they were merged although
// they do not belong together (see [MergeCheck]). "profile" describes a
// load profile of stages (see [Summary.Profile]), "" for a constant load;
// "rate_per_s" is then its mean rate.
// "phases" counts the connections opened and the TLS handshakes, full and
// resumed, with the distributions of the connect time and TLS handshake
// time (one per connection) and of the time from a request's send to the
// first byte of its response (one per answered request); all zero for
// what the run did not measure (net/http measures none of them).
// "dropped" counts the requests that were due (open model) but never sent
// before the run ended; "cut" those in flight when the run was stopped
// (Ctrl-C, q, --abort-on-fail), neither requests nor errors, also in the
// series' last interval (where 0 is left out); the generator's "limit"
// names what kept such a run off its schedule ("generator", "connections"
// or "server"), "" if it kept it, and its "late_generator" and
// "late_waiting" split the late requests by cause: sent late with a
// connection free since their due time, and late waiting for one (0 in
// the closed model and in runs saved before them); "unread_mean_ms", where
// the event loops timed it, is how long an answer waited on average in
// the generator's sockets before it read it, while it wanted it at once
// (left out when none was counted; see [Generator]).
//
// "series" is the run as a time series, one object per interval of
// "interval_s" seconds (see [Series]), in time order: "start_unix_s" is
// the interval's start in seconds since the Unix epoch, a whole multiple
// of interval_s, so the intervals of runs on several machines line up;
// counters are those of [IntervalCounts] ("due": the requests the schedule
// made due in the interval, the open model's target; "status" by class,
// "other" for codes outside 100-599) and "response" and "service" are the
// interval's latencies, exact to 1%. "status_codes" splits the answers by
// exact code, for the first 8 distinct codes of the interval (see
// [StatusCodes]), and "status_codes_other" counts the answers with any
// other code; both are left out of an interval without answers and of
// runs saved before them. In a run over several targets, "series_targets"
// names them and each interval's "targets" holds their "requests",
// "errors" and "non_2xx" in that order. A run saved by an older gather has
// "interval_s": 0, an empty series and "start_unix_s": 0.
// "targets" splits the run by target name, in the targets file's order
// (one row, the totals, for a single URL; none for a merge of runs that
// did not all keep them): each row's counts and response times mean what
// the run's do. "thresholds" holds the verdicts of the thresholds the run
// was judged by, each with its measured value (null when there was
// nothing to measure) in its unit ("ms", "%", "req/s", "" for a count).
// "exports", present only when the run streamed its metrics (bench
// --prometheus, --otlp), says what each stream delivered (see [Export]):
// "samples" and "bytes" sent in "writes" requests, and the samples (and
// intervals) "dropped" because the receiver was slow, down or refusing.
// "parts" has one object per run merged (one for a single run), ordered by
// segment (see [Part]): its id, "host", "node" (where known), the
// distributed "run" it is "segment" of "segments" (0 and "" if not split)
// and that run's "plan", when it started and was told to start (0 if not),
// how late it started, its clock as the kernel reported it, and its own
// requests, late requests and CPU time. "start_skew_ms" is the latest
// part's start minus the earliest's (0 for fewer than two).
//
//	{
//	  "target": "http://127.0.0.1:5000/", "method": "GET",
//	  "model": "closed" | "open", "connections": 50, "rate_per_s": 0,
//	  "profile": "",
//	  "runs": 1, "run_ids": ["3f9c0e1a5b7d2468"], "merge_warnings": [],
//	  "elapsed_s": 10.002,
//	  "requests": 123456, "requests_per_s": 12343.1,
//	  "bytes": 1604928, "bytes_per_s": 160460.3,
//	  "asked": {"requests": 0, "duration_s": 10, "rate_per_s": 0},
//	  "interrupted": false,
//	  "errors": 3, "errors_by_kind": {"timeout": 3, "refused": 0, "reset": 0,
//	    "dns": 0, "tls": 0, "protocol": 0, "other": 0},
//	  "error_samples": {"timeout": ["read tcp ...: i/o timeout"]},
//	  "non_2xx": 0,
//	  "late": 0, "dropped": 0, "cut": 0,
//	  "status": {"200": 123453},
//	  "response": {"count": 123453, "min_ms": 0.1, "mean_ms": 1.2,
//	    "p50_ms": 1.1, "p90_ms": 2.0, "p95_ms": 2.4, "p99_ms": 3.1,
//	    "p99_9_ms": 7.9, "max_ms": 12.3},
//	  "service": { same fields as response },
//	  "histogram": [{"upper_ms": 0.2, "count": 10}, ...],
//	  "phases": {"connections_opened": 50, "tls_full_handshakes": 1,
//	    "tls_resumed_handshakes": 49, "connect": { latency fields },
//	    "tls_handshake": { latency fields }, "first_byte": { latency fields }},
//	  "targets": [{"name": "login", "requests": 41152, "errors": 1,
//	    "errors_by_kind": { as above }, "bytes": 534976, "status": {"200": 41151},
//	    "response": { latency fields }}, ...],
//	  "thresholds": [{"expr": "login:p99<250ms", "target": "login",
//	    "metric": "p99", "op": "<", "limit": 250, "value": 3.1, "unit": "ms",
//	    "measured": "3.100 ms", "pass": true}, ...],
//	  "exports": [{"sink": "prometheus", "url": "http://127.0.0.1:9090/api/v1/write",
//	    "histograms": "native", "intervals": 11, "samples": 276, "bytes": 9120,
//	    "writes": 11, "failed_writes": 0, "dropped_samples": 0,
//	    "dropped_intervals": 0}],
//	  "generator": {"engine": "1 event loop, own HTTP/1.1 client",
//	    "target_rate_per_s": 0, "achieved_rate_per_s": 12345.0,
//	    "send_lag_p99_ms": 0, "send_lag_max_ms": 0,
//	    "late_generator": 0, "late_waiting": 0, "unread_mean_ms": 0.012,
//	    "gc_pause_ms": 1.5,
//	    "cpu_s": 1.25, "cpu_per_request_us": 10.1,
//	    "bound": false, "limit": "", "warnings": []},
//	  "start_unix_s": 1764576000.25, "interval_s": 1,
//	  "series": [{"start_unix_s": 1764576000, "requests": 9041, "errors": 0,
//	    "errors_by_kind": {"timeout": 0, ...}, "status": {"1xx": 0, "2xx": 9041,
//	    "3xx": 0, "4xx": 0, "5xx": 0, "other": 0}, "bytes": 117533,
//	    "late": 0, "due": 0, "dropped": 0,
//	    "response": { as above }, "service": { as above },
//	    "status_codes": {"200": 9041}}, ...],
//	  "parts": [{"id": "3f9c0e1a5b7d2468", "host": "gather-0-x7k2p",
//	    "node": "node-a", "run": "c2a4e6f80b1d3957", "segment": 0,
//	    "segments": 4, "plan": "c=200 z=30s q=40000",
//	    "start_unix_s": 1764576000.000102, "start_at_unix_s": 1764576000,
//	    "late_start_ms": 0.102, "clock_known": true,
//	    "clock_synchronized": true, "clock_max_error_ms": 16,
//	    "requests": 300000, "late": 0, "cpu_s": 2.1}, ...],
//	  "start_skew_ms": 1.204
//	}
func (s *Summary) WriteJSON(w io.Writer) error {
	r := jsonReport{
		Target:       s.Target,
		Method:       s.Method,
		Model:        "closed",
		Connections:  s.Connections,
		Rate:         s.Rate,
		Profile:      s.Profile,
		Runs:         s.Runs,
		RunIDs:       append([]string{}, s.RunIDs...),
		MergeWarn:    append([]string{}, s.MergeWarnings...),
		ElapsedS:     s.Elapsed.Seconds(),
		Requests:     s.Requests,
		RequestsPerS: s.RequestsPerSecond(),
		Bytes:        s.Bytes,
		BytesPerS:    s.BytesPerSecond(),
		Asked: jsonAsked{
			Requests:  s.Asked.Requests,
			DurationS: s.Asked.Duration.Seconds(),
			RatePerS:  s.Rate,
		},
		Interrupted:  s.Interrupted,
		Errors:       s.Errors,
		ErrorSamples: make(map[string][]string),
		Non2xx:       s.Non2xx(),
		Late:         s.Late,
		Dropped:      s.Dropped,
		Cut:          s.Cut,
		Response:     latencyJSON(s.Response()),
		Service:      latencyJSON(s.Service()),
		Histogram:    []jsonHistogramRow{},
		Phases:       s.phasesJSON(),
		Targets:      s.targetsJSON(),
		Thresholds:   s.thresholdsJSON(),
		Exports:      s.exportsJSON(),
		Parts:        s.partsJSON(),
		Generator: jsonGenerator{
			Engine:           s.Generator.Engine,
			TargetRatePerS:   s.Generator.TargetRate,
			AchievedRatePerS: s.Generator.AchievedRate,
			SendLagP99MS:     msOf(s.Generator.SendLagP99),
			SendLagMaxMS:     msOf(s.Generator.SendLagMax),
			LateGenerator:    s.Generator.LateGenerator,
			LateWaiting:      s.Generator.LateWaiting,
			UnreadMeanMS:     msOf(s.Generator.UnreadMean()),
			GCPauseMS:        msOf(s.Generator.GCPause),
			CPUS:             s.Generator.CPU.Seconds(),
			CPUPerRequestUS:  float64(s.CPUPerRequest()) / float64(time.Microsecond),
			Bound:            s.Generator.Bound,
			Limit:            s.Generator.Limit,
			Warnings:         append([]string{}, s.Generator.Warnings...),
		},
	}
	if s.Open() {
		r.Model = "open"
	}
	r.ErrorsByKind = kindCounts(&s.ErrorKinds)
	for k := ErrNone + 1; k < numErrorKinds; k++ {
		if msgs := s.errSamples[k]; len(msgs) > 0 {
			r.ErrorSamples[k.String()] = slices.Clone(msgs)
		}
	}
	r.Status = statusCounts(s.Status)
	for _, row := range s.ResponseHistogram(histogramRows) {
		r.Histogram = append(r.Histogram, jsonHistogramRow{msOf(row.Upper), row.Count})
	}
	if !s.Start.IsZero() {
		r.StartUnixS = unixSeconds(s.Start)
	}
	if skew, ok := s.StartSkew(); ok {
		r.StartSkewMS = msOf(skew)
	}
	r.Series = []jsonInterval{}
	if s.Series != nil {
		r.IntervalS = s.Series.Interval().Seconds()
		r.SeriesTargets = s.Series.TargetNames()
		for iv := range s.Series.All() {
			r.Series = append(r.Series, intervalJSON(&iv))
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "p99<250ms", not "p99\u003c250ms"
	return enc.Encode(r)
}

func intervalJSON(iv *Interval) jsonInterval {
	j := jsonInterval{
		StartUnixS: unixSeconds(iv.Start),
		Requests:   iv.Requests, Errors: iv.Errors, Bytes: iv.Bytes,
		Late: iv.Late, Due: iv.Due, Dropped: iv.Dropped, Cut: iv.Cut,
		ErrorsByKind: orderedCounts{}, Status: orderedCounts{},
		Response: latencyJSON(iv.Response()),
		Service:  latencyJSON(iv.Service()),
	}
	j.ErrorsByKind = kindCounts(&iv.ErrorKinds)
	for class := 1; class < NumStatusClasses; class++ {
		j.Status = append(j.Status, namedCount{statusClassNames[class], iv.Status[class]})
	}
	j.Status = append(j.Status, namedCount{statusClassNames[0], iv.Status[0]})
	for code, n := range iv.Codes.All() {
		j.StatusCodes = append(j.StatusCodes, namedCount{strconv.Itoa(code), n})
	}
	if len(j.StatusCodes) > 0 {
		j.StatusCodesOther = iv.OtherCodes()
	}
	for _, t := range iv.Targets {
		j.Targets = append(j.Targets, jsonIntervalTarget(t))
	}
	return j
}

// unixSeconds returns t in seconds since the Unix epoch, to the µs.
func unixSeconds(t time.Time) float64 {
	return float64(t.UnixMicro()) / 1e6
}

// kindCounts returns the counts of every error kind, in their order.
func kindCounts(kinds *[numErrorKinds]int64) orderedCounts {
	var c orderedCounts
	for k := ErrNone + 1; k < numErrorKinds; k++ {
		c = append(c, namedCount{k.String(), kinds[k]})
	}
	return c
}

// statusCounts returns the counts of the status codes seen, ascending.
func statusCounts(status map[int]int64) orderedCounts {
	codes := make([]int, 0, len(status))
	for code, n := range status {
		if n != 0 {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	c := orderedCounts{}
	for _, code := range codes {
		c = append(c, namedCount{strconv.Itoa(code), status[code]})
	}
	return c
}
