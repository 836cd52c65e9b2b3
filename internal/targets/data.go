package targets

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// Data is a data file's rows, from which templates take fields
// ({{.user}}): CSV with a header row naming the columns, or JSON Lines of
// flat objects whose values are strings, numbers or booleans. Each request
// takes one row, so the fields of one request belong together.
//
// The values are kept column by column in one buffer per column, with a
// 4-byte offset per value, so a file costs little more than its size.
type Data struct {
	file  string
	names []string       // the columns, in the file's order (sorted for JSON Lines)
	index map[string]int // name -> column
	cols  []column       // the named columns, then escaped twins
	twins map[int]int    // column -> its urlquery-escaped twin
	lines []int          // each row's line in the file
	rows  int
}

type column struct {
	buf  []byte
	offs []uint32 // value i is buf[offs[i]:offs[i+1]]
}

func (c *column) add(v []byte) {
	if len(c.offs) == 0 {
		c.offs = append(c.offs, 0)
	}
	c.buf = append(c.buf, v...)
	c.offs = append(c.offs, uint32(len(c.buf)))
}

// value returns the value of column col in row.
func (d *Data) value(row, col int) []byte {
	c := &d.cols[col]
	return c.buf[c.offs[row]:c.offs[row+1]]
}

// Rows returns the number of rows.
func (d *Data) Rows() int { return d.rows }

// Columns returns the column names.
func (d *Data) Columns() []string { return slices.Clone(d.names) }

// column returns the column of a field name, or why there is none.
func (d *Data) column(name string) (int, error) {
	if d == nil {
		return 0, errors.New("no data file was given (--data)")
	}
	if col, ok := d.index[name]; ok {
		return col, nil
	}
	return 0, fmt.Errorf("%s has no such column (it has %s)", d.file, strings.Join(d.names, ", "))
}

// escaped returns the column holding col's values escaped for a URL query,
// made once, when a template first asks for it.
func (d *Data) escaped(col int) int {
	if t, ok := d.twins[col]; ok {
		return t
	}
	var c column
	for row := range d.rows {
		c.add(appendQueryEscaped(nil, d.value(row, col)))
	}
	d.cols = append(d.cols, c)
	t := len(d.cols) - 1
	d.twins[col] = t
	return t
}

// check returns an error naming the first value of the named column col
// that holds a byte bad says it cannot, and why: a message in which %s,
// if any, is the column's name.
func (d *Data) check(col int, bad func(byte) bool, why string) error {
	name := d.names[col]
	if strings.Contains(why, "%s") {
		why = fmt.Sprintf(why, name)
	}
	for row := range d.rows {
		for _, c := range d.value(row, col) {
			if bad(c) {
				return fmt.Errorf("field .%s is %q at %s:%d, and %s", name, d.value(row, col), d.file, d.lines[row], why)
			}
		}
	}
	return nil
}

// DataOptions says how to read a data file.
type DataOptions struct {
	// Format is "csv", "jsonl" or "" to choose by the name's extension
	// (.csv; .jsonl, .ndjson, .json), else by the first byte ('{').
	Format string
}

// LoadData reads a data file; name is how errors refer to it. Every
// problem (a ragged row, a column named like a built-in field, a value
// that is not a string, number or boolean, no rows) is an error naming
// the file and the line.
func LoadData(r io.Reader, name string, opt DataOptions) (*Data, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	format := opt.Format
	if format == "" {
		switch strings.ToLower(filepath.Ext(name)) {
		case ".csv":
			format = "csv"
		case ".jsonl", ".ndjson", ".json":
			format = "jsonl"
		default:
			format = "csv"
			if first, err := firstByte(br); err == nil && first == '{' {
				format = "jsonl"
			}
		}
	}
	d := &Data{file: name, index: map[string]int{}, twins: map[int]int{}}
	var err error
	switch format {
	case "csv":
		err = d.readCSV(br)
	case "jsonl":
		err = d.readJSONL(br)
	default:
		return nil, fmt.Errorf("%s: unknown data format %q (want csv or jsonl)", name, format)
	}
	if err != nil {
		return nil, err
	}
	if d.rows == 0 {
		return nil, fmt.Errorf("%s: no rows of data", name)
	}
	return d, nil
}

// firstByte returns the first byte that is not white space, without
// consuming anything.
func firstByte(br *bufio.Reader) (byte, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			return 0, err
		}
		if c := b[n-1]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c, nil
		}
		if n == br.Size() {
			return 0, io.EOF
		}
	}
}

func (d *Data) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", d.file, line, fmt.Sprintf(format, args...))
}

// setColumns names the columns, rejecting names a template could not tell
// apart.
func (d *Data) setColumns(line int, names []string) error {
	for i, n := range names {
		switch {
		case n == "":
			return d.errorf(line, "column %d has no name", i+1)
		case builtinFields[n] != 0:
			return d.errorf(line, "column %q has the name of the built-in field {{.%s}}", n, n)
		}
		if _, dup := d.index[n]; dup {
			return d.errorf(line, "two columns are named %q", n)
		}
		d.index[n] = i
	}
	d.names = names
	d.cols = make([]column, len(names))
	return nil
}

func (d *Data) readCSV(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					return d.errorf(pe.StartLine, "the row has a different number of fields than the header's %d", len(d.names))
				}
				return d.errorf(pe.StartLine, "%v", pe.Err)
			}
			return fmt.Errorf("%s: %w", d.file, err)
		}
		line, _ := cr.FieldPos(0)
		if header {
			header = false
			names := make([]string, len(rec))
			for i, n := range rec {
				names[i] = strings.TrimSpace(strings.TrimPrefix(n, "\uFEFF"))
			}
			if err := d.setColumns(line, names); err != nil {
				return err
			}
			continue
		}
		for i, v := range rec {
			d.cols[i].add([]byte(v))
		}
		d.lines = append(d.lines, line)
		d.rows++
	}
}

func (d *Data) readJSONL(r *bufio.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(text, &obj); err != nil {
			return d.errorf(line, "not a JSON object: %v", err)
		}
		if d.names == nil {
			names := make([]string, 0, len(obj))
			for k := range obj {
				names = append(names, k)
			}
			slices.Sort(names)
			if len(names) == 0 {
				return d.errorf(line, "the object has no fields")
			}
			if err := d.setColumns(line, names); err != nil {
				return err
			}
		}
		for k := range obj {
			if _, ok := d.index[k]; !ok {
				return d.errorf(line, "field %q is not on the first row (line %d)", k, d.firstLine(line))
			}
		}
		for i, name := range d.names {
			raw, ok := obj[name]
			if !ok {
				return d.errorf(line, "field %q is missing (the first row has it)", name)
			}
			v, err := scalar(raw)
			if err != nil {
				return d.errorf(line, "field %q: %v", name, err)
			}
			d.cols[i].add(v)
		}
		d.lines = append(d.lines, line)
		d.rows++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return d.errorf(line+1, "line longer than %d bytes", maxLine)
		}
		return fmt.Errorf("%s: %w", d.file, err)
	}
	return nil
}

// firstLine returns the line of the first row, which may be line itself.
func (d *Data) firstLine(line int) int {
	if len(d.lines) > 0 {
		return d.lines[0]
	}
	return line
}

// scalar returns the text a JSON string, number or boolean renders as.
func scalar(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return nil, errors.New("no value")
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	case raw[0] == '{', raw[0] == '[', string(raw) == "null":
		return nil, fmt.Errorf("%s is not a string, number or boolean", kindOf(raw[0]))
	}
	return raw, nil // a number or a boolean, as written
}

func kindOf(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "null"
}

// urlUnsafe reports bytes a request-target cannot carry as they are.
func urlUnsafe(c byte) bool { return c <= ' ' || c == 0x7f }

// headerUnsafe reports bytes a header value cannot carry.
func headerUnsafe(c byte) bool { return c == '\r' || c == '\n' || c == 0 }
