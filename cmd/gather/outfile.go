package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// An outputFile is a file a command writes once its work is done (bench's
// and report's --save, --html, --hlog and --junit). It is prepared before
// the work, so that a name that cannot be written is a usage error before
// any request or any run read, and it changes nothing until written:
//
//   - A regular file, or a new one, is written to a temporary file beside
//     it and renamed over it once whole. A run killed or failed before its
//     end leaves the older file as it was (or none), never an empty or
//     half-written one, and a command may read the file it will replace
//     (report --save a.json a.json b.json).
//   - A name that is not a regular file (a FIFO another tool reads,
//     /dev/null) is written in place, opened write-only when written, so
//     that a FIFO's open waits for its reader. Opened before the run, as
//     os.Create opens (read-write, which does not wait), a FIFO would take
//     what it was given into its buffer and lose it if the reader came
//     only after gather closed it, or hold gather up once the buffer (64
//     KiB) was full; and a rename would replace the FIFO by a file. A FIFO
//     with no reader yet gets a note on stderr, so that gather waiting for
//     one is not taken for gather hung.
//   - A symbolic link is followed, so that the file it names is replaced,
//     not the link.
//
// The nil *outputFile writes nothing.
type outputFile struct {
	what    string // for messages: "bench: --html"
	name    string
	tmp     *os.File
	inPlace bool
	perm    fs.FileMode // of the file replaced; 0 for a new file, made as the umask says
	stderr  io.Writer   // for the note of a FIFO waiting for its reader
}

// prepareOutput prepares the output file name ("" for none), for the
// flag what names ("bench: --html"); a name that cannot be written is a
// usage error. stderr gets the note of a FIFO that waits for its reader.
func prepareOutput(what, name string, stderr io.Writer) (*outputFile, error) {
	if name == "" {
		return nil, nil
	}
	o := &outputFile{what: what, name: followLinks(name), stderr: stderr}
	if fi, err := os.Stat(o.name); err == nil {
		switch {
		case fi.IsDir():
			return nil, usagef("%s: %s is a directory", what, name)
		case syscall.Access(o.name, 2 /* W_OK */) != nil:
			// The rename would replace a file its owner made read-only.
			return nil, usagef("%s: cannot write %s: %v", what, name, syscall.Access(o.name, 2))
		case !fi.Mode().IsRegular():
			o.inPlace = true
			return o, nil
		}
		o.perm = fi.Mode().Perm() // a replaced file keeps its mode
	}
	tmp, err := createTemp(o.name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the temporary file's name would only confuse
		}
		return nil, usagef("%s: cannot create %s: %v", what, name, err)
	}
	o.tmp = tmp
	return o, nil
}

// write gives the file to fill and puts it in place; its error names the
// flag.
func (o *outputFile) write(fill func(io.Writer) error) error {
	if o == nil {
		return nil
	}
	if err := o.writeFile(fill); err != nil {
		return fmt.Errorf("%s: %w", o.what, err)
	}
	return nil
}

func (o *outputFile) writeFile(fill func(io.Writer) error) error {
	if o.inPlace {
		// O_WRONLY: a FIFO waits for its reader (see outputFile). Tried
		// with O_NONBLOCK first, which fails at once (ENXIO) if no reader
		// is there, to say why gather waits; opened so, the FIFO is
		// written through Go's poller. Closing that try before the open
		// that waits would give a reader there an end of file.
		f, err := os.OpenFile(o.name, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if errors.Is(err, syscall.ENXIO) {
			fmt.Fprintf(o.stderr, "gather: %s: waiting for a reader of %s (a second Ctrl-C gives up)\n", o.what, o.name)
			f, err = os.OpenFile(o.name, os.O_WRONLY, 0)
		}
		if err != nil {
			return err
		}
		err = fill(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if o.tmp == nil {
		return errors.New("written twice") // a bug, not the user's
	}
	tmp := o.tmp
	o.tmp = nil
	err := fill(tmp)
	if err == nil && o.perm != 0 {
		err = tmp.Chmod(o.perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), o.name)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// createTemp creates a new file beside name to be renamed onto it, as
// os.CreateTemp does but with mode 0666 less the umask, which is what
// os.Create would have given name (os.CreateTemp's 0600 would make every
// new output private, and a Chmod to a fixed mode would ignore the umask).
func createTemp(name string) (*os.File, error) {
	dir, base := filepath.Dir(name), "."+filepath.Base(name)+"."
	for range 100 {
		f, err := os.OpenFile(filepath.Join(dir, base+strconv.FormatUint(uint64(rand.Uint32()), 10)+".tmp"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, &fs.PathError{Op: "createtemp", Path: name, Err: fs.ErrExist}
}

// abandon removes the temporary file of an output that was not written;
// after write it does nothing.
func (o *outputFile) abandon() {
	if o != nil && o.tmp != nil {
		o.tmp.Close()
		os.Remove(o.tmp.Name())
		o.tmp = nil
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
