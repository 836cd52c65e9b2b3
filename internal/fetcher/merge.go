package fetcher

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
)

// A MergeError says why the outputs given to [Merge] are not the records
// of one input, one per line: the first problems found, and how many
// there were.
type MergeError struct {
	Problems []string // the first few, one line each
	Count    int      // all of them
}

func (e *MergeError) Error() string {
	msg := strings.Join(e.Problems, "; ")
	if more := e.Count - len(e.Problems); more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	return msg
}

// maxProblems bounds the problems a MergeError names.
const maxProblems = 5

// MergeSummary counts what [Merge] wrote.
type MergeSummary struct {
	Records, Failed int
}

// Merge writes the records of the fetch outputs files (the shards of one
// input, see [Shard]) to w in input order, each line as it was. It first
// checks them without writing: that every record is one, and that no line
// has two; with the input (nil if not given), that every line of it that
// is to be fetched has exactly one record, of its URL, and no record is of
// another line. Any problem is a *MergeError, and nothing is written.
//
// Outputs written in input order (fetch's default) are merged as streams,
// holding one record of each at a time; one that is not (--order done) is
// read into memory and sorted.
func Merge(files []string, input *Input, w io.Writer) (MergeSummary, error) {
	srcs := make([]*mergeSource, len(files))
	for i, name := range files {
		srcs[i] = &mergeSource{name: name}
		if err := srcs[i].scan(); err != nil {
			return MergeSummary{}, err
		}
	}
	// The check.
	var sum MergeSummary
	problems := &MergeError{}
	problem := func(format string, args ...any) {
		if problems.Count++; len(problems.Problems) < maxProblems {
			problems.Problems = append(problems.Problems, fmt.Sprintf(format, args...))
		}
	}
	var next func() (Line, bool)
	if input != nil {
		var stop func()
		next, stop = iter.Pull(input.All())
		defer stop()
	}
	var want Line
	haveWant := false
	if next != nil {
		want, haveWant = next()
	}
	var prev *mergeRecord
	err := mergeRecords(srcs, func(r *mergeRecord) error {
		sum.Records++
		if r.failed {
			sum.Failed++
		}
		if prev != nil && prev.line == r.line {
			problem("line %d has two records (%s and %s)", r.line, prev.where(), r.where())
			return nil
		}
		prev = r.copy()
		if next == nil {
			return nil
		}
		for haveWant && want.Number < r.line {
			problem("line %d (%s) has no record", want.Number, want.Text)
			want, haveWant = next()
		}
		switch {
		case !haveWant || want.Number > r.line:
			problem("%s is of line %d, which the input has nothing to fetch on", r.where(), r.line)
		case want.Text != r.url:
			problem("%s is of %q, line %d of the input is %q", r.where(), r.url, r.line, want.Text)
			want, haveWant = next()
		default:
			want, haveWant = next()
		}
		return nil
	})
	if err != nil {
		return MergeSummary{}, err
	}
	for haveWant {
		problem("line %d (%s) has no record", want.Number, want.Text)
		want, haveWant = next()
	}
	if input != nil && input.Err() != nil {
		return MergeSummary{}, fmt.Errorf("reading the input: %w", input.Err())
	}
	if problems.Count > 0 {
		return MergeSummary{}, problems
	}
	// The merge.
	bw := bufio.NewWriterSize(w, 64<<10)
	err = mergeRecords(srcs, func(r *mergeRecord) error {
		bw.Write(r.raw)
		return bw.WriteByte('\n')
	})
	if err != nil {
		return MergeSummary{}, err
	}
	return sum, bw.Flush()
}

// A mergeRecord is one record of an output, as read.
type mergeRecord struct {
	line   int
	url    string
	failed bool
	raw    []byte // the line as written, without its newline
	file   string
	at     int // its line in the file
}

func (r *mergeRecord) where() string { return fmt.Sprintf("%s:%d", r.file, r.at) }

func (r *mergeRecord) copy() *mergeRecord {
	c := *r
	c.raw = nil // not needed to name it
	return &c
}

// A mergeSource is one output: read as a stream if its records are in
// input order, else held sorted.
type mergeSource struct {
	name   string
	sorted []mergeRecord // nil: in order, read as a stream
	f      *os.File
	br     *bufio.Reader
	n      int // lines read
	head   mergeRecord
}

// scan reads the output once, checking each record and whether they are
// in input order; if not, it keeps them, sorted.
func (s *mergeSource) scan() error {
	if err := s.open(); err != nil {
		return err
	}
	defer s.close()
	last := 0
	for {
		r, ok, err := s.read()
		if err != nil {
			return err
		}
		if !ok {
			return nil // in order: merged as a stream
		}
		if r.line < last {
			break
		}
		last = r.line
	}
	// Not in input order: read again in full, and sort.
	s.close()
	if err := s.open(); err != nil {
		return err
	}
	var all []mergeRecord
	for {
		r, ok, err := s.read()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		all = append(all, r)
	}
	slices.SortStableFunc(all, func(a, b mergeRecord) int { return a.line - b.line })
	s.sorted = all
	return nil
}

func (s *mergeSource) open() error {
	f, err := os.Open(s.name)
	if err != nil {
		return err
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return &MergeError{Problems: []string{s.name + " is a directory"}, Count: 1}
	}
	s.f, s.br, s.n = f, bufio.NewReaderSize(f, 64<<10), 0
	return nil
}

func (s *mergeSource) close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// read returns the next record of the file; ok is false at its end.
func (s *mergeSource) read() (r mergeRecord, ok bool, err error) {
	for {
		line, err := s.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A record longer than the buffer (a kept body): the slow way.
			rest, err2 := s.br.ReadBytes('\n')
			line, err = append(slices.Clone(line), rest...), err2
		}
		if err != nil && err != io.EOF {
			return r, false, fmt.Errorf("%s: %w", s.name, err)
		}
		if len(line) == 0 && err == io.EOF {
			return r, false, nil
		}
		s.n++
		text := bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(text)) == 0 {
			if err == io.EOF {
				return r, false, nil
			}
			continue
		}
		var v struct {
			Line  *int   `json:"line"`
			URL   string `json:"url"`
			Error string `json:"error"`
		}
		if jerr := json.Unmarshal(text, &v); jerr != nil || v.Line == nil || *v.Line < 1 {
			return r, false, &MergeError{Problems: []string{fmt.Sprintf("%s:%d: not a fetch record", s.name, s.n)}, Count: 1}
		}
		// A copy: the reader's buffer is reused.
		return mergeRecord{line: *v.Line, url: v.URL, failed: v.Error != "", raw: slices.Clone(text), file: s.name, at: s.n}, true, nil
	}
}

// mergeHeap orders the sources by their next record's line.
type mergeHeap []*mergeSource

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return h[i].head.line < h[j].head.line }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(*mergeSource)) }
func (h *mergeHeap) Pop() any          { old := *h; s := old[len(old)-1]; *h = old[:len(old)-1]; return s }

// mergeRecords calls each with the records of every source, in line
// order; the record is valid only during the call.
func mergeRecords(srcs []*mergeSource, each func(*mergeRecord) error) error {
	var h mergeHeap
	pos := make(map[*mergeSource]int) // next record of a sorted source
	advance := func(s *mergeSource) (bool, error) {
		if s.sorted != nil {
			i := pos[s]
			if i >= len(s.sorted) {
				return false, nil
			}
			s.head, pos[s] = s.sorted[i], i+1
			return true, nil
		}
		r, ok, err := s.read()
		s.head = r
		return ok, err
	}
	for _, s := range srcs {
		if s.sorted == nil {
			if err := s.open(); err != nil {
				return err
			}
			defer s.close()
		}
		ok, err := advance(s)
		if err != nil {
			return err
		}
		if ok {
			h = append(h, s)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		s := h[0]
		if err := each(&s.head); err != nil {
			return err
		}
		ok, err := advance(s)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}
