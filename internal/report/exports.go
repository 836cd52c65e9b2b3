package report

import "fmt"

// An Export is what a stream of the run's metrics to a monitoring system
// (bench --prometheus, --otlp; see the push package) delivered, for the
// text and JSON reports. Like [Summary.Thresholds] it is filled by the
// caller and not saved: it describes one run's side channel, not its
// measurements.
type Export struct {
	// Sink names the protocol: "prometheus" (remote write) or "otlp".
	Sink string
	// URL is where the metrics went.
	URL string
	// Run and Segment are the labels that tell the run's series apart:
	// the run's id (a distributed run's, for a segment of one) and the
	// segment ("i/N", "" for a run not split).
	Run, Segment string
	// Histograms says how latency was sent: "native" or "classic"
	// (Prometheus), "exponential" (OTLP); Note says why, if the stream
	// chose (a receiver that refused native histograms gets classic
	// buckets).
	Histograms string
	Note       string
	// Intervals counts the intervals the stream was given.
	Intervals int64
	// Samples counts the samples delivered (a native histogram counts as
	// one), Bytes the bytes of the request bodies that carried them, as
	// sent (compressed), and Writes the requests that carried them.
	Samples, Bytes, Writes int64
	// Failed counts the requests that failed (each retried or dropped).
	Failed int64
	// Dropped counts the samples never delivered: those of intervals
	// dropped from a full buffer, refused by the receiver, or still
	// waiting when the run's last moment to deliver them passed;
	// DroppedIntervals counts those intervals.
	Dropped, DroppedIntervals int64
	// LastError is the last failure's message, if any.
	LastError string
}

// writeExports writes one line per metrics stream, and a WARNING line
// for each that did not deliver everything.
func (s *Summary) writeExports(p func(string, ...any)) {
	if len(s.Exports) == 0 {
		return
	}
	p("")
	// The labels to find the run by in the monitoring system.
	if e := s.Exports[0]; e.Segment != "" {
		p("Metrics streamed, labelled run=%q, segment=%q", e.Run, e.Segment)
	} else {
		p("Metrics streamed, labelled run=%q", e.Run)
	}
	for _, e := range s.Exports {
		p("  %-10s  %s", e.Sink, e.URL)
		p("              %s, %d samples in %s (%s), %s histograms", plural(int(e.Intervals), "interval"), e.Samples,
			plural(int(e.Writes), "write"), bytesText(float64(e.Bytes)), e.Histograms)
		if e.Note != "" {
			for _, line := range wrap(e.Note, 80-14, "") {
				p("              %s", line)
			}
		}
		if e.Dropped > 0 || e.Failed > 0 {
			msg := fmt.Sprintf("WARNING: %s: %d samples of %s not delivered, %s failed",
				e.Sink, e.Dropped, plural(int(e.DroppedIntervals), "interval"), plural(int(e.Failed), "write"))
			if e.LastError != "" {
				msg += " (last: " + e.LastError + ")"
			}
			for _, line := range wrap(msg, 80, "         ") {
				p("%s", line)
			}
		}
	}
}

// jsonExport is an Export in the JSON report: the same fields, in the
// same order, so that one converts to the other.
type jsonExport struct {
	Sink             string `json:"sink"`
	URL              string `json:"url"`
	Run              string `json:"run"`
	Segment          string `json:"segment,omitempty"`
	Histograms       string `json:"histograms"`
	Note             string `json:"note,omitempty"`
	Intervals        int64  `json:"intervals"`
	Samples          int64  `json:"samples"`
	Bytes            int64  `json:"bytes"`
	Writes           int64  `json:"writes"`
	Failed           int64  `json:"failed_writes"`
	Dropped          int64  `json:"dropped_samples"`
	DroppedIntervals int64  `json:"dropped_intervals"`
	LastError        string `json:"last_error,omitempty"`
}

func (s *Summary) exportsJSON() []jsonExport {
	out := make([]jsonExport, 0, len(s.Exports))
	for _, e := range s.Exports {
		out = append(out, jsonExport(e))
	}
	return out
}
