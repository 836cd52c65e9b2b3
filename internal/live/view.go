// Package live is gather bench's live terminal view: while a run goes, a
// screen of its rate now and overall, elapsed and remaining time as a
// bar, the latency percentiles of the last interval and of the run so
// far, errors by kind, status codes, and small charts of the rate and
// the p99 over time, redrawn as each interval of the run's series closes.
//
// The view reads the intervals the run's series hands over (see
// [loadgen.Plan.OnInterval]); it never touches the workers or their
// recorders, so it cannot slow them down, whatever the terminal does. It
// costs some tens of microseconds of CPU per interval (see
// BenchmarkViewInterval), and the terminal's drawing.
//
// The view takes over the terminal (raw mode, the alternate screen) from
// [Start] to [View.Stop], and gives it back as it was on every way out:
// the run's end, q or Ctrl-C, a signal, a panic in the view.
package live

import (
	"errors"
	"io"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gather-dev/gather/internal/report"
)

// Info describes the run a view follows.
type Info struct {
	// Target and Model head the screen: "GET http://127.0.0.1:8080/",
	// "closed: 50 connections".
	Target, Model string
	// Duration and Requests are the run's bounds, for the bar; zero when
	// not set.
	Duration time.Duration
	Requests int64
	// Open says that requests are due on a schedule (the open model), so
	// that the view shows the rate they are due at; Rate is the target
	// rate, if it is one for the whole run (0 for rate stages).
	Open bool
	Rate float64
	// Interval is the length of the series' intervals.
	Interval time.Duration
	// Start is when the run started.
	Start time.Time
}

// View is a live view on a terminal. Its methods may be called from any
// goroutine.
type View struct {
	prog     *tea.Program
	done     chan struct{} // closed when the program has returned
	err      error         // the program's, once done is closed
	stopOnce sync.Once
}

// fps bounds how often the view is drawn: enough for a key press to show
// at once, and no more than that many wake-ups a second when idle.
const fps = 10

// Start takes over the terminal whose input is in and output out, and
// shows the run described by info until Stop. When the user presses q
// or Ctrl-C, the view calls stop, once, from its own goroutine, and
// gives the terminal back; the run should then stop (and Stop be called
// as ever).
func Start(in io.Reader, out io.Writer, info Info, stop func()) *View {
	m := &model{state: state{start: info.Start}, info: info, stop: stop, width: 80}
	v := &View{done: make(chan struct{})}
	v.prog = tea.NewProgram(m,
		tea.WithInput(in),
		tea.WithOutput(out),
		tea.WithAltScreen(),
		// Signals are gather's: SIGINT and SIGTERM stop the run, which
		// stops the view. In raw mode Ctrl-C is a key, handled below.
		tea.WithoutSignalHandler(),
		tea.WithFPS(fps),
	)
	go func() {
		defer close(v.done)
		_, err := v.prog.Run()
		if errors.Is(err, tea.ErrProgramKilled) {
			err = nil
		}
		v.err = err
	}()
	return v
}

// Interval shows one closed interval of the run: hand it to
// [loadgen.Plan.OnInterval]. It waits for the view to take it (the view
// draws it within a tenth of a second) but never for the terminal.
func (v *View) Interval(iv report.Interval) {
	select {
	case <-v.done:
	default:
		v.prog.Send(intervalMsg(iv))
	}
}

// Stop ends the view and returns once the terminal is back as it was,
// with the view's error, if it failed to draw. It may be called more than
// once.
func (v *View) Stop() error {
	v.stopOnce.Do(v.prog.Quit)
	<-v.done
	return v.err
}

// Done returns a channel that is closed once the view has ended (Stop, q
// or Ctrl-C) and the terminal is back.
func (v *View) Done() <-chan struct{} { return v.done }

type intervalMsg report.Interval

// model is the bubbletea model of the view.
type model struct {
	state state
	info  Info
	stop  func()
	width int
}

func (m *model) Init() tea.Cmd { return nil }

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case intervalMsg:
		m.state.add(report.Interval(msg))
	case tea.WindowSizeMsg:
		m.width = msg.Width
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "ctrl+c":
			if m.stop != nil {
				m.stop()
				m.stop = nil
			}
			return m, tea.Quit
		}
	}
	return m, nil
}

func (m *model) View() string { return screen(&m.state, &m.info, time.Now(), m.width) }
