package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gather-dev/gather/internal/report"
)

// runSaver is where bench saves its run (--save). A file is written to a
// temporary file beside it and renamed over it once whole, so a run
// killed before its end leaves no file, rather than an empty one (a
// merge of the segments of a distributed run then names it missing), and
// an older file is only ever replaced by a whole run. "-" is standard
// output: the run on one line (see [report.Summary.SaveLine]). The zero
// (nil) runSaver saves nothing.
type runSaver struct {
	name   string
	tmp    *os.File
	stdout io.Writer
}

// openSave prepares to save to name ("" for nowhere); an unwritable name
// is a usage error, before any request.
func openSave(name string, stdout io.Writer) (*runSaver, error) {
	switch name {
	case "":
		return nil, nil
	case "-":
		return &runSaver{name: name, stdout: stdout}, nil
	}
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		return nil, usagef("bench: --save: %s is a directory", name)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the temporary file's name would only confuse
		}
		return nil, usagef("bench: --save: cannot create %s: %v", name, err)
	}
	return &runSaver{name: name, tmp: tmp}, nil
}

// write saves sum.
func (s *runSaver) write(sum *report.Summary) error {
	if s == nil {
		return nil
	}
	if s.tmp == nil {
		return sum.SaveLine(s.stdout)
	}
	err := sum.Save(s.tmp)
	if err == nil {
		err = s.tmp.Chmod(0o644) // as os.Create makes it under the usual umask
	}
	if cerr := s.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(s.tmp.Name(), s.name)
	}
	if err != nil {
		os.Remove(s.tmp.Name())
	}
	s.tmp = nil
	return err
}

// abandon removes the temporary file of a run that was not saved.
func (s *runSaver) abandon() {
	if s != nil && s.tmp != nil {
		s.tmp.Close()
		os.Remove(s.tmp.Name())
	}
}
