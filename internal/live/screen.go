package live

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/sparkline"
	"github.com/charmbracelet/bubbles/progress"
	"github.com/charmbracelet/lipgloss"

	"github.com/gather-dev/gather/internal/report"
)

var (
	titleStyle = lipgloss.NewStyle().Bold(true)
	labelStyle = lipgloss.NewStyle().Bold(true).Width(12)
	dimStyle   = lipgloss.NewStyle().Faint(true)
	errStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	rateChart  = lipgloss.NewStyle().Foreground(lipgloss.Color("4"))
	p99Chart   = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
)

// chartHeight is the height of each small chart, in rows.
const chartHeight = 3

// maxChartWidth bounds the width of each small chart: the last minute
// or so of a run at 1 s intervals. ntcharts draws a chart cell by cell
// through lipgloss, about 1.5 µs a cell, so a chart as wide as a wide
// terminal would cost a millisecond a frame.
const maxChartWidth = 72

// screen returns the view of the run at now, width columns wide.
func screen(s *state, info *Info, now time.Time, width int) string {
	width = max(width, 60)
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line("%s  %s", titleStyle.Render("gather bench"), clip(info.Target, width-14))
	line("%s", dimStyle.Render(info.Model))
	line("")

	// Elapsed and remaining: of the duration, or of the requests at the
	// overall rate so far, whichever is further along.
	elapsed := now.Sub(s.start)
	frac, remaining := 0.0, time.Duration(-1)
	if d := info.Duration; d > 0 {
		frac = float64(elapsed) / float64(d)
		remaining = d - elapsed
	}
	if n := info.Requests; n > 0 {
		f := float64(s.total.Requests) / float64(n)
		if f > frac || remaining < 0 {
			frac = f
			remaining = -1
			if rate := s.overallRate(now); rate > 0 {
				remaining = time.Duration(float64(n-s.total.Requests) / rate * float64(time.Second))
			}
		}
	}
	frac = min(max(frac, 0), 1)
	bar := progress.New(progress.WithDefaultGradient(), progress.WithWidth(max(width-40, 10)))
	left := "unknown"
	if remaining >= 0 {
		left = seconds(max(remaining, 0))
	}
	line("%s  elapsed %s  remaining %s", bar.ViewAs(frac), seconds(elapsed), left)
	line("")

	if s.intervals == 0 {
		line("waiting for the first interval (%v)...", info.Interval)
		line("")
		line("%s", dimStyle.Render("q or Ctrl-C: stop the run (the report still prints)"))
		return b.String()
	}
	per := seconds(s.last.Length)
	line("%s now %s   overall %s   requests %d", labelStyle.Render("Requests/s"),
		fmt.Sprintf("%10.1f", s.lastRate), fmt.Sprintf("%10.1f", s.overallRate(now)), s.total.Requests)
	if info.Open {
		target := ""
		if info.Rate > 0 {
			target = fmt.Sprintf("   target  %10.1f", info.Rate)
		}
		line("%s now %s%s   late %d, dropped %d", labelStyle.Render("Due/s"),
			fmt.Sprintf("%10.1f", s.lastDue), target, s.total.Late, s.total.Dropped)
	}
	line("")

	// Percentiles of the last interval and of the run so far.
	last, run := s.last.Response(), s.runLatency()
	line("%s %14s %14s", labelStyle.Render("Response"), "last "+per, "run")
	for _, p := range []struct {
		name string
		get  func(report.Latency) time.Duration
	}{
		{"p50", func(l report.Latency) time.Duration { return l.P50 }},
		{"p90", func(l report.Latency) time.Duration { return l.P90 }},
		{"p99", func(l report.Latency) time.Duration { return l.P99 }},
		{"p99.9", func(l report.Latency) time.Duration { return l.P999 }},
		{"max", func(l report.Latency) time.Duration { return l.Max }},
	} {
		line("  %-10s %14s %14s", p.name, latencyText(last, p.get), latencyText(run, p.get))
	}
	line("")

	// Errors by kind and status codes: the run's, with the last
	// interval's in parentheses.
	if s.total.Errors == 0 {
		line("%s none", labelStyle.Render("Errors"))
	} else {
		var kinds []string
		for k := 1; k < report.NumErrorKinds; k++ {
			if n := s.total.ErrorKinds[k]; n > 0 {
				kinds = append(kinds, fmt.Sprintf("%s %d (%d)", report.ErrorKind(k), n, s.last.ErrorKinds[k]))
			}
		}
		line("%s %s", labelStyle.Render("Errors"), errStyle.Render(fmt.Sprintf("%d", s.total.Errors))+"  "+strings.Join(kinds, "  "))
	}
	// Status codes, ascending, then the answers whose codes the
	// intervals did not split, wrapped to the width.
	var codes []string
	for _, code := range slices.Sorted(maps.Keys(s.codes)) {
		codes = append(codes, fmt.Sprintf("%d %d (%d)", code, s.codes[code], s.last.Codes.Count(code)))
	}
	if s.otherCodes > 0 {
		codes = append(codes, fmt.Sprintf("other codes %d (%d)", s.otherCodes, s.last.OtherCodes()))
	}
	if len(codes) == 0 {
		codes = append(codes, "no answer yet")
	}
	for i, row := range wrap(codes, width-13) {
		label := ""
		if i == 0 {
			label = "Status"
		}
		line("%s %s", labelStyle.Render(label), row)
	}
	line("%s", dimStyle.Render(fmt.Sprintf("%12s(in parentheses: the last %s)", "", per)))
	line("")

	// Small charts of the rate and p99 over the last intervals.
	cw := min(width-14, maxChartWidth)
	line("%s", chartBlock("req/s", s.rates, cw, rateChart, "%.0f"))
	line("%s", chartBlock("p99 ms", s.p99s, cw, p99Chart, "%.3g"))
	line("")
	line("%s", dimStyle.Render("q or Ctrl-C: stop the run (the report still prints)"))
	return b.String()
}

// wrap joins items two spaces apart into rows of at most width columns
// (an item wider than that on a row of its own).
func wrap(items []string, width int) []string {
	var rows []string
	row := ""
	for _, it := range items {
		switch {
		case row == "":
			row = it
		case len(row)+2+len(it) > width:
			rows = append(rows, row)
			row = it
		default:
			row += "  " + it
		}
	}
	return append(rows, row)
}

// chartBlock draws values, the latest on the right, in a sparkline of
// width columns under a label and the largest value shown.
func chartBlock(label string, values []float64, width int, style lipgloss.Style, format string) string {
	shown := values[max(0, len(values)-width):]
	top := 0.0
	for _, v := range shown {
		top = max(top, v)
	}
	sl := sparkline.New(width, chartHeight, sparkline.WithStyle(style))
	sl.PushAll(shown)
	sl.Draw()
	head := lipgloss.NewStyle().Width(12).Render(label + "\n" + dimStyle.Render("max "+fmt.Sprintf(format, top)))
	return lipgloss.JoinHorizontal(lipgloss.Top, head, "  ", sl.View())
}

func latencyText(l report.Latency, get func(report.Latency) time.Duration) string {
	if l.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f ms", float64(get(l))/float64(time.Millisecond))
}

// seconds writes d as "12.3 s".
func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n && n > 3 {
		return string(r[:n-3]) + "..."
	}
	return s
}
