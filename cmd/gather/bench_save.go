package main

import (
	"fmt"
	"io"

	"github.com/gather-dev/gather/internal/report"
)

// runSaver is where bench saves its run (--save): a file, written as
// every [outputFile] is (a run killed before its end leaves no file,
// rather than an empty one, and a merge of the segments of a distributed
// run then names it missing; an older file is only ever replaced by a
// whole run), or "-", standard output: the run on one line (see
// [report.Summary.SaveLine]). The zero (nil) runSaver saves nothing.
type runSaver struct {
	file   *outputFile
	stdout io.Writer
}

// openSave prepares to save to name ("" for nowhere); an unwritable name
// is a usage error, before any request.
func openSave(name string, stdout, stderr io.Writer) (*runSaver, error) {
	switch name {
	case "":
		return nil, nil
	case "-":
		return &runSaver{stdout: stdout}, nil
	}
	file, err := prepareOutput("bench: --save", name, stderr)
	if err != nil {
		return nil, err
	}
	return &runSaver{file: file}, nil
}

// write saves sum.
func (s *runSaver) write(sum *report.Summary) error {
	switch {
	case s == nil:
		return nil
	case s.file == nil:
		if err := sum.SaveLine(s.stdout); err != nil {
			return fmt.Errorf("bench: --save: %w", err)
		}
		return nil
	}
	return s.file.write(sum.Save)
}

// abandon removes the temporary file of a run that was not saved.
func (s *runSaver) abandon() {
	if s != nil {
		s.file.abandon()
	}
}
