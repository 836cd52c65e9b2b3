package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// histogramRows and barWidth size the terminal histogram: a row is
// "  <= 1234567.890 ms  123456789  " (32 columns) and a bar of up to 46.
const (
	histogramRows = 10
	barWidth      = 46
)

// mergedWarnings bounds the generator's warnings a merge's text report
// shows.
const mergedWarnings = 2

// WriteText writes the human-readable report. Its layout is fixed (labels
// and order do not depend on the values, and number formats only where
// the fixed one would mislead: a run shorter than a second shows its
// elapsed time in milliseconds, and a latency section without responses
// says so instead of printing zeros) and no line is wider than 80
// columns, but for a failure message longer than a line. Latencies are in
// milliseconds with microsecond precision. Each kind of error shows a few
// of its messages. The service-time section appears only when it can differ from
// the response time: in the open model, or when the two distributions
// differ; the connections and phases section, only when the run measured
// them (every run of gather's own clients does). A merge of runs that do
// not belong together (see [MergeCheck]) has a WARNING line for each way
// they differ, after the Runs line; the generator block ends with a
// WARNING line for each problem the generator found in itself. A run of
// several target names has a table of them after the errors; a segment of
// a distributed run says which it is and how late it started, and a merge
// shows the start skew after the Runs line and a table of its runs (see
// [Part]) after the generator block; a run judged by thresholds ends with
// their verdicts.
func (s *Summary) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) {
		bw.WriteString(strings.TrimRight(fmt.Sprintf(format, args...), " "))
		bw.WriteByte('\n')
	}

	p("Target         %s %s", s.Method, s.Target)
	if s.Open() {
		p("Model          open: %.1f req/s over %s", s.Rate, plural(s.Connections, "connection"))
	} else {
		p("Model          closed: %s", plural(s.Connections, "connection"))
	}
	if s.Profile != "" {
		p("Profile        %s", s.Profile)
	}
	if s.Runs > 1 {
		p("Runs           %d merged (elapsed: longest run; rates: summed)", s.Runs)
	}
	s.writeParts(p)
	for _, warning := range s.MergeWarnings {
		for _, line := range wrap("WARNING: "+warning, 80, "         ") {
			p("%s", line)
		}
	}
	if s.Elapsed < time.Second {
		// A run against a closed port can end in microseconds.
		p("Elapsed        %.3f ms", ms(s.Elapsed))
	} else {
		p("Elapsed        %.3f s", s.Elapsed.Seconds())
	}
	if s.Interrupted {
		p("Interrupted    before the end: the report covers the requests that ended")
	}
	if s.Requests > 0 && s.Errors == s.Requests {
		p("Requests       %d  (%.1f req/s, every one failed)", s.Requests, s.RequestsPerSecond())
	} else {
		p("Requests       %d  (%.1f req/s)", s.Requests, s.RequestsPerSecond())
	}
	p("Transferred    %s  (%s/s, response bodies)", bytesText(float64(s.Bytes)), bytesText(s.BytesPerSecond()))
	p("Errors         %d  (%.2f%%), non-2xx answers %d  (%.2f%%)", s.Errors, percent(s.Errors, s.Requests),
		s.Non2xx(), percent(s.Non2xx(), s.Requests))
	if s.Open() {
		p("Late           %d  (sent after their intended start)", s.Late)
		p("Dropped        %d  (due but never sent: the run ended first)", s.Dropped)
	}
	if s.Cut > 0 {
		p("Cut            %d  (in flight when the run stopped)", s.Cut)
	}

	p("")
	writeLatency(p, "Response time (ms)", s.Response())
	if s.Open() || s.response != nil && s.service != nil && !s.response.Equals(s.service) {
		p("")
		writeLatency(p, "Service time (ms)", s.Service())
	}
	s.writePhases(p)

	p("")
	p("Status codes")
	codes := make([]int, 0, len(s.Status))
	for code, n := range s.Status {
		if n != 0 {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	if len(codes) == 0 {
		p("  none")
	}
	for _, code := range codes {
		name := fmt.Sprint(code)
		if code == 0 {
			name = "other"
		}
		p("  %-9s %12d", name, s.Status[code])
	}

	if s.Errors > 0 {
		p("")
		p("Errors by kind")
		for k := ErrNone + 1; k < numErrorKinds; k++ {
			if n := s.ErrorKinds[k]; n > 0 {
				p("  %-9s %12d", k, n)
				for _, msg := range s.errSamples[k] {
					for _, line := range wrap("e.g. "+msg, 80-4, "     ") {
						p("    %s", line)
					}
				}
			}
		}
	}
	s.writeTargets(p)

	p("")
	p("Response time histogram (ms)")
	rows := s.ResponseHistogram(histogramRows)
	if len(rows) == 0 {
		p("  no responses")
	}
	var most int64
	for _, r := range rows {
		most = max(most, r.Count)
	}
	for _, r := range rows {
		n := 0
		if most > 0 {
			n = int(math.Ceil(float64(r.Count) * barWidth / float64(most)))
		}
		p("  <= %11.3f ms %10d  %s", ms(r.Upper), r.Count, strings.Repeat("#", n))
	}

	g := s.Generator
	p("")
	p("Generator")
	if g.Engine != "" {
		p("  Engine          %s", g.Engine)
	}
	if g.TargetRate > 0 {
		p("  Target rate     %.1f req/s", g.TargetRate)
	} else {
		p("  Target rate     none (closed model)")
	}
	p("  Achieved rate   %.1f req/s", g.AchievedRate)
	if g.TargetRate > 0 {
		p("  Send lag        p99 %.3f ms, max %.3f ms", ms(g.SendLagP99), ms(g.SendLagMax))
		if g.LateGenerator+g.LateWaiting > 0 {
			p("  Late because    %d the generator was slow, %d waited for a free connection", g.LateGenerator, g.LateWaiting)
			if m := g.UnreadMean(); m > 0 {
				p("  Answers unread  %.3f ms on average in the generator's sockets before it read them", ms(m))
			}
		}
	} else {
		// Without a schedule nothing is due, so nothing can be late.
		p("  Send lag        none (closed model)")
	}
	p("  GC pause total  %.3f ms", ms(g.GCPause))
	if g.CPU > 0 {
		p("  CPU             %.3f s, %.2f µs per request", g.CPU.Seconds(),
			float64(s.CPUPerRequest())/float64(time.Microsecond))
	} else {
		p("  CPU             unknown")
	}
	warnings := g.Warnings
	if s.Runs > 1 && len(warnings) > mergedWarnings {
		// Each of many segments may bring its own: a few tell the story.
		warnings = warnings[:mergedWarnings]
	}
	for _, warning := range warnings {
		for _, line := range wrap("WARNING: "+warning, 80, "         ") {
			p("%s", line)
		}
	}
	if n := len(g.Warnings) - len(warnings); n > 0 {
		p("WARNING: and %d more from the merged runs (all of them in -o json)", n)
	}
	if g.Bound && len(g.Warnings) == 0 {
		p("WARNING: the generator, not the server, was the bottleneck")
	}
	s.writeExports(p)
	s.writePartTable(p)
	s.writeThresholds(p)
	return bw.Flush()
}

// writeLatency writes one latency section; without responses it says so
// rather than print zeros that would read as measurements.
func writeLatency(p func(string, ...any), title string, l Latency) {
	p("%s", title)
	if l.Count == 0 {
		p("  no data: no request was answered")
		return
	}
	for _, row := range []struct {
		name string
		d    time.Duration
	}{
		{"p50", l.P50}, {"p90", l.P90}, {"p95", l.P95}, {"p99", l.P99},
		{"p99.9", l.P999}, {"max", l.Max}, {"mean", l.Mean},
	} {
		p("  %-9s %12.3f", row.name, ms(row.d))
	}
}

// wrap splits text into lines of at most width columns at spaces,
// starting continuation lines with indent. A word longer than a line is
// left whole.
func wrap(text string, width int, indent string) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len([]rune(line))+1+len([]rune(word)) > width:
			lines = append(lines, line)
			line = indent + word
		default:
			line += " " + word
		}
	}
	return append(lines, line)
}

// plural returns "1 connection" or "n connections".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func percent(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// FormatBytes formats n bytes as the text report does: with a decimal
// (SI) unit and two decimals, "2.35 kB".
func FormatBytes(n float64) string { return bytesText(n) }

// bytesText formats n bytes with a decimal (SI) unit and two decimals.
func bytesText(n float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	u := 0
	for n >= 1000 && u < len(units)-1 {
		n /= 1000
		u++
	}
	return fmt.Sprintf("%.2f %s", n, units[u])
}

// HistogramRow is one row of the terminal histogram: the responses whose
// time is above the previous row's Upper and at most this row's Upper.
type HistogramRow struct {
	Upper time.Duration
	Count int64
}

// ResponseHistogram returns up to n rows that split the response times between
// the fastest and the slowest into logarithmically growing ranges, so a
// long tail gets rows of its own instead of one bar among empty ones. The
// first row also holds the fastest responses. Equal edges (rounded to the
// microsecond) are collapsed, so there are fewer rows for narrow
// distributions. Counts are exact: every recorded value lands in exactly
// one row, by the highest value its histogram bucket can hold.
func (s *Summary) ResponseHistogram(n int) []HistogramRow {
	h := s.response
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	lo, hi := max(h.Min(), 1), max(h.Max(), 1)
	// Each edge is moved up to the top of its histogram bucket, so that a
	// bucket is never split between two rows and a row's label is the
	// largest value it can hold. Edges that meet are merged.
	edges := make([]int64, 0, n)
	ratio := float64(hi) / float64(lo)
	for i := 1; i <= n; i++ {
		e := bucketTop(h, int64(math.Round(float64(lo)*math.Pow(ratio, float64(i)/float64(n)))))
		if i == n || e > hi {
			e = hi
		}
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	rows := make([]HistogramRow, len(edges))
	for i, e := range edges {
		rows[i].Upper = time.Duration(e) * time.Microsecond
	}
	for _, bar := range h.Distribution() {
		// bar.To is its bucket's top, so it is either an edge or
		// between two.
		if bar.Count == 0 {
			continue
		}
		i, _ := slices.BinarySearch(edges, bar.To)
		i = min(i, len(rows)-1)
		rows[i].Count += bar.Count
	}
	return rows
}

// bucketTop returns the largest value in v's histogram bucket. Buckets
// hold contiguous values and are at most 1/1024 of their values wide.
func bucketTop(h *hdrhistogram.Histogram, v int64) int64 {
	lo, hi := v, v+v/1024+1
	for lo < hi {
		mid := hi - (hi-lo)/2
		if h.ValuesAreEquivalent(v, mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
