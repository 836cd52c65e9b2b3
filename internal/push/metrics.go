package push

import (
	"sync"

	"github.com/gather-dev/gather/internal/report"
)

// The metrics every sink sends, one value per interval, each with the
// stream's labels (run, segment, tags) and at most one of its own
// (status, kind, target). Counters are cumulative since the run's start;
// gauges are the interval's own. The names are Prometheus's; OTLP sends
// the same values under dotted names whose Prometheus translation gives
// them back.
//
//	gather_requests_total{}                requests that ended (answered or failed)
//	gather_responses_total{status="2xx"}   answers by status class (1xx-5xx, "other")
//	gather_errors_total{kind="timeout"}    failed requests by kind (timeout, refused, reset, dns, tls, protocol, other)
//	gather_response_bytes_total{}          response body bytes
//	gather_late_requests_total{}           requests sent after their due time (open model)
//	gather_due_requests_total{}            requests the schedule made due (open model; 0 in the closed model)
//	gather_dropped_requests_total{}        requests due but never sent, the run having ended
//	gather_generator_cpu_seconds_total{}   the generator's own CPU time, user plus system
//	gather_request_rate{}                  requests that ended per second in the interval: the achieved rate
//	gather_target_rate{}                   requests due per second in the interval: the target (open model)
//	gather_response_seconds                response time histogram (from the due time in the open model)
//	gather_service_seconds                 service time histogram (from the send)
//	gather_requests_by_target_total{target="login"}  requests that ended, per target
//	gather_errors_by_target_total{target="login"}    failed requests, per target
//	gather_non2xx_by_target_total{target="login"}    answers outside 2xx, per target
//
// The per-target series name each target of a --targets file (the first
// 100, then "(other)"), or the one URL of a run without one; the others
// are the run's, so that summing them by run counts nothing twice.
//
// The first and last intervals of a run are partial (their boundaries
// are on the wall clock, see [report.Series]): their rates are over the
// part of them the run went on for (see [report.Interval.Covered]).

// metric is one series of float values.
type metric struct {
	name    string // Prometheus's
	otel    string // OTLP's
	unit    string // OTLP's
	counter bool
	attr    label // empty name for none
	value   func(s *snapshot) float64
	// perTarget, if set, makes one series per target (label "target")
	// of the snapshot's per-target counters, instead of value.
	perTarget func(c *report.TargetCounts) int64
}

// allMetrics returns the series every snapshot sends, in order. The table
// is made on first use, not at start, where every gather command would
// pay for it.
var allMetrics = sync.OnceValue(func() []metric {
	count := func(f func(c *report.IntervalCounts) int64) func(*snapshot) float64 {
		return func(s *snapshot) float64 { return float64(f(&s.total)) }
	}
	ms := []metric{{name: "gather_requests_total", otel: "gather.requests", unit: "{request}", counter: true,
		value: count(func(c *report.IntervalCounts) int64 { return c.Requests })}}
	for class := range report.NumStatusClasses {
		ms = append(ms, metric{name: "gather_responses_total", otel: "gather.responses", unit: "{response}",
			counter: true, attr: label{"status", statusClassName(class)},
			value: count(func(c *report.IntervalCounts) int64 { return c.Status[class] })})
	}
	var kinds report.IntervalCounts
	for k := range kinds.ErrorKinds {
		if report.ErrorKind(k) == report.ErrNone {
			continue
		}
		ms = append(ms, metric{name: "gather_errors_total", otel: "gather.errors", unit: "{request}",
			counter: true, attr: label{"kind", report.ErrorKind(k).String()},
			value: count(func(c *report.IntervalCounts) int64 { return c.ErrorKinds[k] })})
	}
	return append(ms,
		metric{name: "gather_response_bytes_total", otel: "gather.response.bytes", unit: "By", counter: true,
			value: count(func(c *report.IntervalCounts) int64 { return c.Bytes })},
		metric{name: "gather_late_requests_total", otel: "gather.late_requests", unit: "{request}", counter: true,
			value: count(func(c *report.IntervalCounts) int64 { return c.Late })},
		metric{name: "gather_due_requests_total", otel: "gather.due_requests", unit: "{request}", counter: true,
			value: count(func(c *report.IntervalCounts) int64 { return c.Due })},
		metric{name: "gather_dropped_requests_total", otel: "gather.dropped_requests", unit: "{request}", counter: true,
			value: count(func(c *report.IntervalCounts) int64 { return c.Dropped })},
		metric{name: "gather_generator_cpu_seconds_total", otel: "gather.generator.cpu", unit: "s", counter: true,
			value: func(s *snapshot) float64 { return s.cpu.Seconds() }},
		metric{name: "gather_request_rate", otel: "gather.request_rate", unit: "{request}/s",
			value: func(s *snapshot) float64 { return s.rate(s.interval.Requests) }},
		metric{name: "gather_target_rate", otel: "gather.target_rate", unit: "{request}/s",
			value: func(s *snapshot) float64 { return s.rate(s.interval.Due) }},
		metric{name: "gather_requests_by_target_total", otel: "gather.requests_by_target", unit: "{request}", counter: true,
			perTarget: func(c *report.TargetCounts) int64 { return c.Requests }},
		metric{name: "gather_errors_by_target_total", otel: "gather.errors_by_target", unit: "{request}", counter: true,
			perTarget: func(c *report.TargetCounts) int64 { return c.Errors }},
		metric{name: "gather_non2xx_by_target_total", otel: "gather.non2xx_by_target", unit: "{response}", counter: true,
			perTarget: func(c *report.TargetCounts) int64 { return c.Non2xx }},
	)
})

// histogram is one latency histogram every snapshot sends.
type histogram struct {
	name  string // Prometheus's
	otel  string
	value func(s *snapshot) *latency
}

var histograms = []histogram{
	{"gather_response_seconds", "gather.response", func(s *snapshot) *latency { return &s.response }},
	{"gather_service_seconds", "gather.service", func(s *snapshot) *latency { return &s.service }},
}

// statusClassName names a class of [report.StatusClass]: "2xx", or
// "other" for codes outside 100-599.
func statusClassName(class int) string {
	if class == 0 {
		return "other"
	}
	return string(rune('0'+class)) + "xx"
}

// targetValue returns a per-target metric's value for target i of s.
func (m *metric) targetValue(s *snapshot, i int) float64 {
	if i >= len(s.targets) {
		return 0
	}
	return float64(m.perTarget(&s.targets[i]))
}
