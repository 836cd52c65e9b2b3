package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// onFirstWrite is a standard output that calls first, once, when the
// report starts: the run is over, and only the files beside it are left
// to write.
type onFirstWrite struct {
	once  sync.Once
	first func()
}

func (w *onFirstWrite) Write(p []byte) (int, error) {
	w.once.Do(w.first)
	return len(p), nil
}

// bench's --html, --junit and --hlog onto FIFOs reach their readers, as
// --save does, even a reader that comes once the run is over. They were
// opened read-write before the run (os.Create), which does not wait for a
// reader: what was written then sat in the pipe and was lost when gather
// closed it before the reader came (a JUnit file, smaller than the
// pipe's buffer, with exit status 0), and a reader waiting in its open
// was let through before the run began.
func TestBenchOutputsFIFO(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	dir := t.TempDir()
	outputs := []struct{ flag, want string }{
		{"--html", "<html"},
		{"--junit", "<testsuites"},
		{"--hlog", "#[Histogram log format"},
	}
	args := []string{"bench", "-n", "3", "-c", "1", "--threshold", "p99<1m"}
	fifos := make([]string, len(outputs))
	for i, o := range outputs {
		fifos[i] = filepath.Join(dir, strings.TrimPrefix(o.flag, "--"))
		if err := syscall.Mkfifo(fifos[i], 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, o.flag, fifos[i])
	}
	got := make([]chan []byte, len(outputs))
	var heldOpen []string
	stdout := &onFirstWrite{first: func() {
		for i, fifo := range fifos {
			// Fails (ENXIO) unless someone holds the FIFO open for
			// reading: gather must not, before it writes.
			if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
				heldOpen = append(heldOpen, fifo)
			} else if !errors.Is(err, syscall.ENXIO) {
				t.Errorf("%s: %v", fifo, err)
			}
			got[i] = make(chan []byte, 1)
			go func() {
				data, _ := os.ReadFile(fifo) // as cat would, after the run
				got[i] <- data
			}()
		}
	}}
	var stderr syncBuffer
	status := run(append(args, srv.URL+"/"), strings.NewReader(""), stdout, &stderr)
	for _, fifo := range fifos {
		// Frees a reader gather never wrote to (no reader yet: the open
		// fails, which is fine).
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
	if status != 0 {
		t.Fatalf("exit status %d: %s", status, stderr.String())
	}
	if len(heldOpen) > 0 {
		t.Errorf("held open during the run, before the reader came: %v", heldOpen)
	}
	for i, o := range outputs {
		if data := <-got[i]; !strings.Contains(string(data), o.want) {
			t.Errorf("%s FIFO: the reader got %d bytes: %.80q", o.flag, len(data), data)
		}
		if fi, err := os.Lstat(fifos[i]); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("%s FIFO: it is now %v (%v), want the FIFO", o.flag, fi.Mode(), err)
		}
	}
}

// An output file is replaced only by a whole one: a bench or report that
// stops before its end leaves the older file as it was, where os.Create
// had emptied it before the run, and leaves no temporary file.
func TestOutputsKeptUntilWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := map[string]string{}
	for _, name := range []string{"page.html", "j.xml", "x.hlog", "run.json"} {
		old[name] = "the older " + name
		if err := os.WriteFile(filepath.Join(dir, name), []byte(old[name]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	in := func(name string) string { return filepath.Join(dir, name) }
	for _, args := range [][]string{
		// --tui is refused once the files are prepared: stderr is no terminal.
		{"bench", "--tui", "-n", "1", "--threshold", "p99<1s", "--html", in("page.html"), "--junit", in("j.xml"), "--hlog", in("x.hlog"), "--save", in("run.json"), "http://127.0.0.1:9/"},
		// The run to report is not there.
		{"report", "--threshold", "p99<1s", "--html", in("page.html"), "--junit", in("j.xml"), "--save", in("run.json"), in("missing.json")},
	} {
		var stderr strings.Builder
		if status := run(args, strings.NewReader(""), io.Discard, &stderr); status != 2 {
			t.Errorf("%s: exit status %d (%s), want 2", args[0], status, stderr.String())
		}
		for name, want := range old {
			data, err := os.ReadFile(in(name))
			if err != nil || string(data) != want {
				t.Errorf("%s: %s is now %q (%v), want %q", args[0], name, data, err, want)
			}
		}
		if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(leftovers) > 0 {
			t.Errorf("%s: temporary files left: %v", args[0], leftovers)
		}
	}
	// A replaced file keeps its mode.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	if status := run([]string{"bench", "-n", "1", "--html", in("page.html"), srv.URL + "/"}, strings.NewReader(""), io.Discard, io.Discard); status != 0 {
		t.Fatalf("bench --html: exit status %d", status)
	}
	if fi, err := os.Stat(in("page.html")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 1000 {
		t.Errorf("bench --html over a file of mode 0600: %v, %v", fi, err)
	}
}

// A FIFO with no reader yet is waited for, saying so on stderr: without a
// word, gather waiting after the report looked hung.
func TestOutputFIFOWaitsForReader(t *testing.T) {
	t.Parallel()
	saved, fifo := savedRunAndFIFO(t)
	stderr := &notifyingBuffer{seen: make(chan struct{}), want: "waiting for a reader of " + fifo}
	status := make(chan int, 1)
	go func() {
		status <- run([]string{"report", "--threshold", "p99<1m", "--junit", fifo, saved}, strings.NewReader(""), io.Discard, stderr)
	}()
	select { // no reader until gather says it waits
	case <-stderr.seen:
	case st := <-status:
		t.Fatalf("report --junit FIFO: exit status %d before any reader, stderr %q", st, stderr.String())
	case <-time.After(time.Minute):
		t.Errorf("report --junit FIFO: no word of the wait in a minute; stderr %q", stderr.String())
	}
	data, err := os.ReadFile(fifo)
	if st := <-status; st != 0 || err != nil || !strings.Contains(string(data), "<testsuites") {
		t.Errorf("report --junit FIFO: exit status %d, stderr %q, the reader got %v, %.80q", st, stderr.String(), err, data)
	}
	if want := "gather: report: --junit: waiting for a reader of " + fifo + " (a second Ctrl-C gives up)\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

// notifyingBuffer is a syncBuffer that closes seen once it holds want.
type notifyingBuffer struct {
	syncBuffer
	want string
	seen chan struct{}
	once sync.Once
}

func (b *notifyingBuffer) Write(p []byte) (int, error) {
	n, err := b.syncBuffer.Write(p)
	if strings.Contains(b.String(), b.want) {
		b.once.Do(func() { close(b.seen) })
	}
	return n, err
}

// A usage error found after an output was prepared (a bad --threshold, an
// unwritable --html) leaves none of the prepared outputs' temporary files
// behind: report prepared --save, then returned before it could remove it.
func TestUsageErrorLeavesNoTemporaryFile(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"report", "--save", "out.json", "--html", "page.html", "--threshold", "bogus!!", "run.json"},
		{"report", "--save", "out.json", "--html", "no/such/folder/page.html", "run.json"},
		{"bench", "-n", "1", "--save", "out.json", "--html", "no/such/folder/page.html", "http://127.0.0.1:9/"},
	} {
		dir := t.TempDir()
		for i, a := range args {
			if strings.HasSuffix(a, ".json") || strings.HasSuffix(a, ".html") {
				args[i] = filepath.Join(dir, a)
			}
		}
		var stderr syncBuffer
		if status := run(args, strings.NewReader(""), io.Discard, &stderr); status != 2 {
			t.Errorf("gather %s: status %d, want 2 (%s)", strings.Join(args, " "), status, stderr.String())
		}
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Errorf("gather %s left %s in its folder", args[0], left[0].Name())
		}
	}
}

// A new output file gets the mode os.Create would give it, 0666 less the
// umask: the temporary file it is written to used to be made 0600 and
// then set to 0644, which ignored a umask of 077 (a private run made
// readable to all) as much as one of 002. Not parallel: the umask is the
// process's.
func TestNewOutputFollowsUmask(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	o, err := prepareOutput("bench: --save", filepath.Join(dir, "run.json"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.write(func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "run.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("a new output under umask 077: %v, %v; want mode 0600", fi, err)
	}
	syscall.Umask(0o002)
	o, err = prepareOutput("bench: --save", filepath.Join(dir, "shared.json"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.write(func(w io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "shared.json")); err != nil || fi.Mode().Perm() != 0o664 {
		t.Errorf("a new output under umask 002: %v, %v; want mode 0664", fi, err)
	}
}
