package fetcher

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A Progress draws a one-line progress bar, meant for a terminal: records
// written and failed, the rate, and a bar when the number of records the
// run will write is known. [Progress.Add] is cheap enough for every record
// (a few atomic operations); drawing happens on its own goroutine a few
// times a second.
type Progress struct {
	w       io.Writer
	total   atomic.Int64 // records to come in all; < 0 if not known
	done    atomic.Int64
	failed  atomic.Int64
	mu      sync.Mutex // serializes writes to w
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// StartProgress starts drawing on w every interval until Stop. The bar
// appears once SetTotal has said how many records to expect.
func StartProgress(w io.Writer, interval time.Duration) *Progress {
	p := &Progress{w: w, stop: make(chan struct{}), stopped: make(chan struct{})}
	p.total.Store(-1)
	go p.run(interval)
	return p
}

// SetTotal says how many records the run will write in all.
func (p *Progress) SetTotal(n int) { p.total.Store(int64(n)) }

// Add counts a record written.
func (p *Progress) Add(r *Record) {
	p.done.Add(1)
	if !r.OK() {
		p.failed.Add(1)
	}
}

// Note writes msg on a line of its own above the bar.
func (p *Progress) Note(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r\x1b[K"+msg+"\n")
}

// Stop stops drawing and erases the bar, so that what follows on w starts
// on a clean line. It may be called more than once.
func (p *Progress) Stop() {
	p.once.Do(func() {
		close(p.stop)
		<-p.stopped
		fmt.Fprint(p.w, "\r\x1b[K")
	})
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
			line := p.line(done, float64(done)/elapsed.Seconds(), elapsed)
			p.mu.Lock()
			fmt.Fprint(p.w, "\r\x1b[K"+line)
			p.mu.Unlock()
		}
	}
}

func (p *Progress) line(done int64, rate float64, elapsed time.Duration) string {
	const width = 30
	var b strings.Builder
	if total := p.total.Load(); total >= 0 {
		f := 1.0
		if total > 0 {
			f = min(float64(done)/float64(total), 1)
		}
		n := int(f * width)
		fmt.Fprintf(&b, "[%s%s] %3.0f%% ", strings.Repeat("=", n), strings.Repeat(" ", width-n), f*100)
		fmt.Fprintf(&b, "%d of %d done, %d failed, %.0f URLs/s, %v", done, total, p.failed.Load(), rate, elapsed.Truncate(time.Second))
		return b.String()
	}
	fmt.Fprintf(&b, "%d done, %d failed, %.0f URLs/s, %v", done, p.failed.Load(), rate, elapsed.Truncate(time.Second))
	return b.String()
}
