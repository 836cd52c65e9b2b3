package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gather-dev/gather/internal/report"
)

// runSaver is where bench saves its run (--save). A file is written to a
// temporary file beside it and renamed over it once whole, so a run
// killed before its end leaves no file, rather than an empty one (a
// merge of the segments of a distributed run then names it missing), and
// an older file is only ever replaced by a whole run. "-" is standard
// output: the run on one line (see [report.Summary.SaveLine]). A name
// that is not a regular file (/dev/null, a FIFO another tool reads) is
// written in place, where a rename would replace it; a symbolic link is
// followed, so that the file it names is replaced, not the link. The zero
// (nil) runSaver saves nothing.
type runSaver struct {
	name    string
	tmp     *os.File
	inPlace bool
	stdout  io.Writer
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
	if fi, err := os.Stat(name); err == nil {
		switch {
		case fi.IsDir():
			return nil, usagef("bench: --save: %s is a directory", name)
		case !fi.Mode().IsRegular():
			// Opened after the run: a FIFO's open waits for its reader.
			if err := syscall.Access(name, 2 /* W_OK */); err != nil {
				return nil, usagef("bench: --save: cannot write %s: %v", name, err)
			}
			return &runSaver{name: name, inPlace: true}, nil
		}
	}
	name = followLinks(name)
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
	if s.inPlace {
		f, err := os.OpenFile(s.name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = sum.Save(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
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

// followLinks returns the file that name names through symbolic links,
// whether it exists or not (a link may name the file a run creates).
func followLinks(name string) string {
	for range 40 { // the kernel's own limit
		target, err := os.Readlink(name)
		if err != nil {
			return name
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(name), target)
		}
		name = target
	}
	return name
}
