package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// WriteIntervalLog writes the run's series as an HdrHistogram interval log
// (format 1.3), the text format that HdrHistogram's own tools read
// (HistogramLogProcessor, HdrHistogramVisualizer, hdrhistogram-go's
// HistogramLogReader): a line per interval for the response times, and one
// tagged "service" for the service times. Values are microseconds, so
// HistogramLogProcessor wants -outputValueUnitRatio 1000 to print
// milliseconds; the Interval_Max column, which the format scales by 10^6,
// is in seconds. Timestamps are seconds from the log's BaseTime, the start
// of the run's first interval; StartTime is when the run started.
//
// It fails if the summary has no series.
func (s *Summary) WriteIntervalLog(w io.Writer) error {
	if s.Series == nil || s.Series.Len() == 0 {
		return errors.New("report: the run has no series for an interval log")
	}
	bw := bufio.NewWriter(w)
	lw := hdrhistogram.NewHistogramLogWriter(bw)
	first := s.Series.At(0).Start
	start := s.Start
	if start.IsZero() {
		start = first
	}
	base := first.Unix() * 1000 // the header holds whole seconds
	lw.SetBaseTime(base)
	for _, err := range []error{
		lw.OutputLogFormatVersion(),
		lw.OutputComment(fmt.Sprintf("[gather bench: %s %s; response times untagged, service times tagged \"service\"; values in microseconds; %v intervals]",
			s.Method, s.Target, s.Series.Interval())),
		lw.OutputStartTime(start.UnixMilli()),
		lw.OutputBaseTime(base),
		lw.OutputLegend(),
	} {
		if err != nil {
			return err
		}
	}
	for iv := range s.Series.All() {
		for _, h := range []*hdrhistogram.Histogram{iv.response, iv.service} {
			h.SetStartTimeMs(iv.Start.UnixMilli())
			h.SetEndTimeMs(iv.End().UnixMilli())
		}
		iv.service.SetTag("service")
		if err := lw.OutputIntervalHistogram(iv.response); err != nil {
			return err
		}
		if err := lw.OutputIntervalHistogram(iv.service); err != nil {
			return err
		}
	}
	return bw.Flush()
}
