package report

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// What 'gather report' does with its arguments: read the saved runs of
// files, folders and standard input, check that they belong in one
// report, and merge them.

// The errors of [MergeInputs] that are the input's fault match these
// (errors.Is): a file that cannot be read or holds no saved run
// (ErrBadInput), runs that do not belong together (ErrConflict), and the
// segments of a distributed run that are not all there (ErrIncomplete).
// The last two are not returned when the merge is forced.
var (
	ErrBadInput   = errors.New("bad input")
	ErrConflict   = errors.New("runs that do not belong in one report")
	ErrIncomplete = errors.New("a distributed run without all its segments")
)

// inputError is an error of the input: its message, matching kind.
type inputError struct {
	err  error
	kind error
}

func (e *inputError) Error() string        { return e.err.Error() }
func (e *inputError) Unwrap() error        { return e.err }
func (e *inputError) Is(target error) bool { return target == e.kind }

func badInput(err error) error { return &inputError{err: err, kind: ErrBadInput} }

// A NamedRun is one saved run and where it came from, for the messages
// and the report page: "a.json", "runs/b.json:3" (the run on line 3 of a
// file of several), "stdin".
type NamedRun struct {
	Name    string
	Summary *Summary
}

// MergeInputs reads the saved runs of every input and merges them into
// one summary, as one run holding every request (see [Summary.Add]); it
// returns it with the runs, in the order read. An input is "-" (stdin),
// a file, or a folder, whose files are read in name order. Every run is
// checked against the others ([MergeCheck]); with force, those that do
// not belong are merged anyway, and the merged run's MergeWarnings says
// so. note receives what is only worth a note: lines that are not saved
// runs, a file in a folder that holds none.
func MergeInputs(inputs []string, stdin io.Reader, force bool, note func(string)) (*Summary, []NamedRun, error) {
	m := merger{force: force}
	for _, name := range inputs {
		if err := readInput(name, stdin, note, m.add); err != nil {
			return nil, nil, err
		}
	}
	for _, c := range m.check.Missing() {
		if !force {
			return nil, nil, &inputError{err: errors.New(c), kind: ErrIncomplete}
		}
		m.conflicts = append(m.conflicts, "merged with --force: "+c)
	}
	m.total.MergeWarnings = append(m.total.MergeWarnings, m.conflicts...)
	return &m.total, m.runs, nil
}

// merger is the state of MergeInputs.
type merger struct {
	force     bool
	total     Summary
	runs      []NamedRun
	check     MergeCheck
	conflicts []string
}

func (m *merger) add(name string, s *Summary) error {
	for _, c := range m.check.Check(name, s) {
		if !m.force {
			return &inputError{err: errors.New(c), kind: ErrConflict}
		}
		m.conflicts = append(m.conflicts, "merged with --force: "+c)
	}
	if err := m.total.Add(s); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m.runs = append(m.runs, NamedRun{Name: name, Summary: s})
	return nil
}

// readInput reads the saved runs of one input and gives each to merge,
// named for the messages by the input's name (and its line, if it holds
// several). A file holding no run is bad input when named, and only
// noted when found in a folder (a machine that died before it saved
// leaves its file empty; the merge check names its segment).
func readInput(name string, stdin io.Reader, note func(string), merge func(string, *Summary) error) error {
	if name == "-" {
		// Named as every command names it: "stdin: ...", "stdin:3".
		return readStream("stdin", stdin, note, false, merge)
	}
	f, err := os.Open(name)
	if err != nil {
		return badInput(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return badInput(err)
	}
	if !fi.IsDir() {
		defer f.Close()
		return readStream(name, f, note, false, merge)
	}
	f.Close()
	entries, err := os.ReadDir(name)
	if err != nil {
		return badInput(err)
	}
	files := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(name, e.Name())
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			// Read as the file it names: runs gathered with ln -s. A
			// link to nothing is a run file missing, bad input as a
			// named file missing is, not one to pass over with a note.
			fi, err := os.Stat(path)
			if err != nil {
				return badInput(brokenLink(path, err))
			}
			mode = fi.Mode().Type()
		}
		if !mode.IsRegular() {
			// Neither read nor dropped without a word: a folder is not
			// searched in depth, a FIFO's writer could hold it up.
			note(path + " is not a file: not read")
			continue
		}
		files++
		if err := readFile(path, note, merge); err != nil {
			return err
		}
	}
	if files == 0 {
		return badInput(fmt.Errorf("%s: the folder holds no file", name))
	}
	return nil
}

// brokenLink is the error of a symbolic link whose file cannot be read,
// err being os.Stat's: "runs/b.json links to ../b.json: no such file or
// directory", where os.Stat names the link, not what it links to.
func brokenLink(path string, err error) error {
	target, lerr := os.Readlink(path)
	var pe *fs.PathError
	if lerr != nil || !errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%s links to %s: %w", path, target, pe.Err)
}

// readFile reads a file found in a folder.
func readFile(name string, note func(string), merge func(string, *Summary) error) error {
	f, err := os.Open(name)
	if err != nil {
		return badInput(err)
	}
	defer f.Close()
	return readStream(name, f, note, true, merge)
}

// readStream reads the runs of one stream, as readInput says.
func readStream(name string, r io.Reader, note func(string), inFolder bool, merge func(string, *Summary) error) error {
	var first *Summary
	var firstLine int
	var mergeErr error
	runs := 0
	skipped, err := ReadRuns(r, func(line int, s *Summary) error {
		runs++
		switch runs {
		case 1:
			// Held back: a file of one run is named without a line.
			first, firstLine = s, line
			return nil
		case 2:
			if mergeErr = merge(fmt.Sprintf("%s:%d", name, firstLine), first); mergeErr != nil {
				return mergeErr
			}
		}
		mergeErr = merge(fmt.Sprintf("%s:%d", name, line), s)
		return mergeErr
	})
	switch {
	case mergeErr != nil:
		return mergeErr
	case errors.Is(err, ErrNoRuns) && inFolder:
		note(name + " holds no saved run")
		return nil
	case err != nil:
		return badInput(fmt.Errorf("%s: %w", name, err))
	}
	if runs == 1 {
		if err := merge(name, first); err != nil {
			return err
		}
	}
	if skipped == 1 {
		note(name + ": skipped 1 line that is not a saved run")
	} else if skipped > 1 {
		note(fmt.Sprintf("%s: skipped %d lines that are not saved runs", name, skipped))
	}
	return nil
}
