package fetcher

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// The error kinds of a [Record]. Callers branch on these; Message has the
// details.
const (
	KindInvalid    = "invalid"    // the input line is not an http(s) URL
	KindDNS        = "dns"        // the host name did not resolve
	KindRefused    = "refused"    // the connection was refused
	KindTimeout    = "timeout"    // an attempt took longer than the timeout
	KindTLS        = "tls"        // the TLS handshake or certificate failed
	KindConnection = "connection" // any other network or protocol error
	KindRedirects  = "redirects"  // a redirect not followed: over the limit, or not to an http(s) URL
	KindStatus     = "status"     // the final response had a status >= 400
	KindSave       = "save"       // the body could not be written to its file
	KindCancelled  = "cancelled"  // the run was interrupted before this URL finished
)

// A Record is the outcome of one input line: a line of fetch's JSON Lines
// output. A record without Error is a success.
type Record struct {
	Line        int     `json:"line"`              // 1-based input line number
	URL         string  `json:"url"`               // the line as read (trimmed)
	FinalURL    string  `json:"final_url"`         // the last URL requested, after redirects; "" if no response came
	Status      int     `json:"status"`            // HTTP status from FinalURL; 0 if it gave no response
	Bytes       int64   `json:"bytes"`             // body length as received (after gzip decoding)
	ContentType string  `json:"content_type"`      // the Content-Type header
	DurationMS  float64 `json:"duration_ms"`       // from first attempt to record, in milliseconds
	Attempts    int     `json:"attempts"`          // requests made, retries included
	Error       string  `json:"error,omitempty"`   // one of the Kind constants; absent on success
	Message     string  `json:"message,omitempty"` // what went wrong, for people
	// Body is the body as text, up to the size cap, with --body. Bytes that
	// are not valid UTF-8 appear as U+FFFD.
	Body *string `json:"body,omitempty"`
	// BodyTruncated is true when Body holds only the first part of a
	// longer body (Bytes tells the whole length).
	BodyTruncated bool `json:"body_truncated,omitempty"`
	// File is where the body was saved, with --dir.
	File string `json:"file,omitempty"`
}

// OK reports whether the record is a success.
func (r *Record) OK() bool { return r.Error == "" }

// A Writer writes records as JSON Lines. Writes are buffered and flushed
// at least every flush interval, so a slow tail of requests does not hold
// back records already written, and a fast run costs few system calls.
// A record is encoded straight into the buffer, with no allocation unless
// it is larger than the buffer's free space.
// Its methods may be called from any goroutine.
type Writer struct {
	mu   sync.Mutex
	bw   *bufio.Writer
	err  error
	stop chan struct{}
	done chan struct{}
}

// NewWriter returns a Writer on w that flushes at least every interval
// (never, until Close, if interval <= 0). It starts a goroutine that Close
// stops.
func NewWriter(w io.Writer, interval time.Duration) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	wr := &Writer{bw: bw, stop: make(chan struct{}), done: make(chan struct{})}
	go wr.flusher(interval)
	return wr
}

func (w *Writer) flusher(interval time.Duration) {
	defer close(w.done)
	if interval <= 0 {
		<-w.stop
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.mu.Lock()
			if w.err == nil && w.bw.Buffered() > 0 {
				w.err = w.bw.Flush()
			}
			w.mu.Unlock()
		case <-w.stop:
			return
		}
	}
}

// Write writes r as one line. It returns the first error met in writing,
// and keeps returning it.
func (w *Writer) Write(r *Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		_, w.err = w.bw.Write(appendRecord(w.bw.AvailableBuffer(), r))
	}
	return w.err
}

// Close flushes what is buffered and stops the flushing goroutine. It does
// not close the underlying writer.
func (w *Writer) Close() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// A Summary counts records by status and by error kind. The zero value is
// ready to use; it is not safe for concurrent use.
type Summary struct {
	Total    int            // records
	Failed   int            // records with an Error
	Statuses map[int]int    // records by HTTP status, for those with a response
	Errors   map[string]int // failed records by error kind
}

// Add counts r.
func (s *Summary) Add(r *Record) {
	if s.Statuses == nil {
		s.Statuses = make(map[int]int)
		s.Errors = make(map[string]int)
	}
	s.Total++
	if r.Status != 0 {
		s.Statuses[r.Status]++
	}
	if r.Error != "" {
		s.Failed++
		s.Errors[r.Error]++
	}
}

// Format writes the summary as a few lines of text, for stderr: URLs,
// elapsed time and rate, then counts by status and by error kind.
func (s *Summary) Format(w io.Writer, elapsed time.Duration) {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Total) / elapsed.Seconds()
	}
	urls := "URLs"
	if s.Total == 1 {
		urls = "URL"
	}
	fmt.Fprintf(w, "fetched %d %s in %v (%.0f URLs/s): %d ok, %d failed\n",
		s.Total, urls, elapsed.Round(time.Millisecond), rate, s.Total-s.Failed, s.Failed)
	if len(s.Statuses) > 0 {
		var parts []string
		for _, code := range slices.Sorted(maps.Keys(s.Statuses)) {
			parts = append(parts, fmt.Sprintf("%d: %d", code, s.Statuses[code]))
		}
		fmt.Fprintf(w, "  status  %s\n", strings.Join(parts, ", "))
	}
	if len(s.Errors) > 0 {
		var parts []string
		for _, kind := range slices.Sorted(maps.Keys(s.Errors)) {
			parts = append(parts, fmt.Sprintf("%s: %d", kind, s.Errors[kind]))
		}
		fmt.Fprintf(w, "  errors  %s\n", strings.Join(parts, ", "))
	}
}
