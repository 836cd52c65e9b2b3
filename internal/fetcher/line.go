package fetcher

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// MaxLineLength is the longest input line [Lines] reads whole. A longer
// line is not a URL anyone means to fetch: it becomes an invalid record,
// and the reader skips to the next newline without holding the rest.
const MaxLineLength = 64 << 10

// shownPrefix is how much of an over-long line its record shows.
const shownPrefix = 256

// A Line is one input line to fetch: blank lines and comments never become
// Lines, but they are counted in Number.
type Line struct {
	// Number is the line's 1-based number in its input.
	Number int
	// Text is the line with surrounding white space removed (or, for a
	// line longer than MaxLineLength, its first few hundred bytes).
	Text string
	// URL is the parsed URL; nil if Err is set.
	URL *url.URL
	// Err says why the line is not a URL that can be fetched.
	Err error

	printed string // URL.String(): Text itself when they agree, as they mostly do
}

// urlString returns l.URL.String(), computed once.
func (l *Line) urlString() string {
	if l.printed == "" && l.URL != nil {
		l.printed = l.URL.String()
	}
	return l.printed
}

// ErrLineTooLong is the Err of a [Line] longer than [MaxLineLength].
var ErrLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineLength)

// ParseLine reads one line of input. It reports skip for a blank line or a
// comment (a line whose first non-blank character is '#'); otherwise it
// returns the absolute http or https URL the line holds, or an error that
// says why it holds none. Surrounding white space, including a trailing
// carriage return, is ignored.
//
// A '#' after the URL is a fragment, not a comment: it is part of the URL
// (and, as with any client, never sent to the server).
func ParseLine(line string) (u *url.URL, skip bool, err error) {
	if skipped(line) {
		return nil, true, nil
	}
	s := strings.TrimSpace(line)
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, false, errors.New("URL contains white space or a control character")
	}
	u, err = url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, false, fmt.Errorf("malformed URL: %w", err)
	}
	switch {
	case u.Scheme == "":
		return nil, false, errors.New("URL has no scheme (want http:// or https://)")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, false, fmt.Errorf("unsupported scheme %q (want http or https)", u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return nil, false, errors.New("URL has no host")
	case u.Hostname() == "":
		return nil, false, errors.New("URL has an empty host name")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, false, fmt.Errorf("port %s is out of range (want 1 to 65535)", p)
		}
	}
	// The request is made from u.String(), which must parse too: net/url
	// accepts a few odd forms (such as a zone of raw bytes) that it does not
	// print back in a form it reads. Most lines print back as they are.
	if !printsAs(u, s) {
		if _, err := url.Parse(u.String()); err != nil {
			return nil, false, errors.New("malformed URL: does not survive normalization")
		}
	}
	return u, false, nil
}

// Lines reads r one line at a time and yields a [Line] for every line that
// is not blank or a comment, with its line number. It holds one line at a
// time, however long the input: memory does not grow with its length.
// A UTF-8 byte-order mark at the start of the input is ignored.
//
// Reading stops at the end of r or at its first error; the Input's Err
// method reports that error once the sequence has ended. Each Input may be
// ranged over once.
func Lines(r io.Reader) *Input {
	return &Input{r: r}
}

// An Input is a stream of input lines made by [Lines] or [Args].
type Input struct {
	r    io.Reader
	args []string
	read atomic.Int64
	err  error
}

// Args returns an Input whose lines are args, numbered from 1.
func Args(args []string) *Input {
	return &Input{args: args}
}

// BytesRead reports how many bytes of the input have been consumed so far:
// the lines yielded, and the skipped ones before them. It may be called
// from any goroutine while the input is being read.
func (in *Input) BytesRead() int64 { return in.read.Load() }

// Err returns the error that ended reading early, or nil if the whole
// input was read. It must be called after the sequence has ended.
func (in *Input) Err() error { return in.err }

// All yields the input's lines to fetch.
func (in *Input) All() iter.Seq[Line] {
	return func(yield func(Line) bool) {
		if in.r == nil {
			for i, a := range in.args {
				if l, ok := parse(i+1, a); ok && !yield(l) {
					return
				}
			}
			return
		}
		in.err = scan(in.r, &in.read, func(n int, text string, tooLong bool) bool {
			if tooLong {
				return yield(Line{Number: n, Text: text + "...", Err: ErrLineTooLong})
			}
			l, ok := parse(n, text)
			return !ok || yield(l)
		})
	}
}

// CountLines returns how many lines of r [Lines] would yield: those that
// are neither blank nor a comment. It reads r to its end.
func CountLines(r io.Reader) (int, error) {
	count := 0
	err := scan(r, nil, func(_ int, text string, tooLong bool) bool {
		if tooLong || !skipped(text) {
			count++
		}
		return true
	})
	return count, err
}

// scan reads up to readBlock bytes at once, into a buffer that grows for
// a line that does not fit, up to maxScanBuffer: two of the longest
// lines, so that one always fits after the part of another. The blocks
// are small because the lines a run holds keep theirs in memory (see
// scan): 16 KiB blocks keep a -c 200 run's input to some 50 KiB, where
// 128 KiB blocks kept 390 KiB, for a read system call per 16 KiB, which
// costs nothing next to a request per line.
const (
	readBlock     = 16 << 10
	maxScanBuffer = 2 * (MaxLineLength + 1)
)

// scan reads r and calls line with each line's number and text (without
// its newline), until line returns false, r ends, or reading fails, whose
// error it returns (nil at the end of r). For a line longer than
// MaxLineLength it calls line with the first few hundred bytes and tooLong
// set, and skips the rest without holding it. read, if not nil, counts the
// bytes read.
//
// The lines of one read come from one string, converted once: a line's
// text is a substring of it, so that reading costs one allocation per read
// rather than one per line. A line's text keeps its block in memory, which
// is bounded by the lines a run holds at once.
func scan(r io.Reader, read *atomic.Int64, line func(n int, text string, tooLong bool) bool) error {
	buf := make([]byte, readBlock)
	start, end := 0, 0 // buf[start:end] is read, not yet split into lines
	fresh := 0         // buf[fresh:end] is yet to be searched for a newline
	n := 0             // the number of the last line begun
	skipping := false  // the rest of a long line is being dropped
	emit := func(text string) bool {
		n++
		if n == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if len(text) > MaxLineLength {
			return line(n, prefix(text, shownPrefix), true)
		}
		return line(n, text, false)
	}
	var err error
	for {
		if i := bytes.LastIndexByte(buf[fresh:end], '\n'); i >= 0 {
			block := string(buf[start : fresh+i+1])
			start = fresh + i + 1
			for len(block) > 0 {
				j := strings.IndexByte(block, '\n')
				text := block[:j]
				block = block[j+1:]
				if skipping {
					skipping = false // the end of a long line
					continue
				}
				if !emit(text) {
					return nil
				}
			}
		}
		fresh = end
		// What is left has no newline: the start of the next line, or a
		// line longer than allowed already, whose rest is dropped.
		if !skipping && end-start > MaxLineLength {
			n++
			long := buf[start:end]
			if n == 1 {
				long = bytes.TrimPrefix(long, []byte("\ufeff"))
			}
			if !line(n, prefix(long, shownPrefix), true) {
				return nil
			}
			skipping = true
		}
		if skipping {
			start, end, fresh = 0, 0, 0
		}
		if err != nil {
			if end > start {
				// A last line without a newline, or one cut by the error.
				emit(string(buf[start:end]))
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		if end == len(buf) {
			end = copy(buf, buf[start:end])
			start, fresh = 0, end
			if end == len(buf) {
				// A line longer than the buffer, and not yet longer
				// than allowed: room for the rest of it.
				buf = append(buf, make([]byte, min(len(buf), maxScanBuffer-len(buf)))...)
			}
		}
		var m int
		m, err = r.Read(buf[end:min(end+readBlock, len(buf))])
		if read != nil {
			read.Add(int64(m))
		}
		end += m
	}
}

// parse turns input line n into a Line, and reports false for a line to skip.
func parse(n int, s string) (Line, bool) {
	u, skip, err := ParseLine(s)
	if skip {
		return Line{}, false
	}
	l := Line{Number: n, Text: strings.TrimSpace(s), URL: u, Err: err}
	if u != nil && printsAs(u, l.Text) {
		l.printed = l.Text
	}
	return l, true
}

// printsAs reports whether u.String() is s, without building the string,
// for the common URL that has no user, needs no escaping and is written as
// net/url writes it. False means "do not know": the caller builds it.
func printsAs(u *url.URL, s string) bool {
	if u.User != nil || u.Opaque != "" || u.OmitHost || u.Host == "" {
		return false
	}
	take := func(p string) bool {
		if !strings.HasPrefix(s, p) {
			return false
		}
		s = s[len(p):]
		return true
	}
	if !take(u.Scheme) || !take("://") {
		return false
	}
	for i := 0; i < len(u.Host); i++ {
		// Characters net/url writes as they are in a host.
		c := u.Host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	if !take(u.Host) {
		return false
	}
	if p := u.EscapedPath(); p != "" && (p[0] != '/' || !take(p)) {
		return false
	}
	if u.ForceQuery || u.RawQuery != "" {
		if !take("?") || !take(u.RawQuery) {
			return false
		}
	}
	if u.Fragment != "" || u.RawFragment != "" {
		if !take("#") || !take(u.EscapedFragment()) {
			return false
		}
	}
	return s == ""
}

// skipped reports whether ParseLine skips line: it is blank or a comment.
func skipped(line string) bool {
	s := strings.TrimSpace(line)
	return s == "" || s[0] == '#'
}

// prefix returns at most n bytes of b as a string, cut at a rune boundary.
func prefix[T string | []byte](b T, n int) string {
	if len(b) <= n {
		return string(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n])
}
