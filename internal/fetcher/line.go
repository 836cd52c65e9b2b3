package fetcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
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
	s := strings.TrimSpace(line)
	if s == "" || s[0] == '#' {
		return nil, true, nil
	}
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
	// The request is made from u.String(), which must parse too: net/url
	// accepts a few odd forms (such as a zone of raw bytes) that it does not
	// print back in a form it reads.
	if _, err := url.Parse(u.String()); err != nil {
		return nil, false, errors.New("malformed URL: does not survive normalization")
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
		br := bufio.NewReaderSize(in.r, MaxLineLength+1) // and its newline
		for n := 1; ; n++ {
			b, err := br.ReadSlice('\n')
			in.read.Add(int64(len(b)))
			if n == 1 {
				b = bytes.TrimPrefix(b, []byte("\ufeff"))
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				text := prefix(b, shownPrefix)
				for errors.Is(err, bufio.ErrBufferFull) {
					b, err = br.ReadSlice('\n')
					in.read.Add(int64(len(b)))
				}
				if !yield(Line{Number: n, Text: text + "...", Err: ErrLineTooLong}) {
					return
				}
			} else if len(b) > 0 {
				if l, ok := parse(n, string(b)); ok && !yield(l) {
					return
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				in.err = err
				return
			}
		}
	}
}

// parse turns input line n into a Line, and reports false for a line to skip.
func parse(n int, s string) (Line, bool) {
	u, skip, err := ParseLine(s)
	if skip {
		return Line{}, false
	}
	return Line{Number: n, Text: strings.TrimSpace(s), URL: u, Err: err}, true
}

// prefix returns at most n bytes of b as a string, cut at a rune boundary.
func prefix(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n])
}
