package fetcher

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// A Progress draws a one-line progress bar, meant for a terminal: records
// done and failed, the current rate, and a bar when the fraction of the
// input read is known. [Progress.Add] is cheap enough for every record
// (two atomic adds); drawing happens on its own goroutine a few times a
// second.
type Progress struct {
	w        io.Writer
	fraction func() float64 // in [0,1], or < 0 if unknown
	done     atomic.Int64
	failed   atomic.Int64
	stop     chan struct{}
	stopped  chan struct{}
}

// StartProgress starts drawing on w every interval until Stop. fraction
// reports how much of the input has been read, or a negative number if
// that is unknown; it may be nil.
func StartProgress(w io.Writer, interval time.Duration, fraction func() float64) *Progress {
	if fraction == nil {
		fraction = func() float64 { return -1 }
	}
	p := &Progress{w: w, fraction: fraction, stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.run(interval)
	return p
}

// Add counts a record.
func (p *Progress) Add(r *Record) {
	p.done.Add(1)
	if !r.OK() {
		p.failed.Add(1)
	}
}

// Stop stops drawing and erases the bar, so that what follows on w starts
// on a clean line.
func (p *Progress) Stop() {
	close(p.stop)
	<-p.stopped
	fmt.Fprint(p.w, "\r\x1b[K")
}

func (p *Progress) run(interval time.Duration) {
	defer close(p.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			// The rate since the start, not over the last tick: records
			// finish in waves, and a per-tick rate would swing to zero
			// between them.
			done, elapsed := p.done.Load(), now.Sub(start)
			fmt.Fprint(p.w, "\r\x1b[K"+p.line(done, float64(done)/elapsed.Seconds(), elapsed))
		}
	}
}

func (p *Progress) line(done int64, rate float64, elapsed time.Duration) string {
	const width = 30
	var b strings.Builder
	if f := p.fraction(); f >= 0 {
		f = min(f, 1)
		n := int(f * width)
		fmt.Fprintf(&b, "[%s%s] %3.0f%% ", strings.Repeat("=", n), strings.Repeat(" ", width-n), f*100)
	}
	fmt.Fprintf(&b, "%d done, %d failed, %.0f URLs/s, %v", done, p.failed.Load(), rate, elapsed.Truncate(time.Second))
	return b.String()
}
