package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fullWriter is a standard output that cannot be written, as /dev/full:
// its error is an *os.PathError, as a file's is.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
}

// Output that cannot be written after the work started is an operational
// failure in every command: exit status 1 and one line saying so, never 0
// with the output lost (bench --find-max and demo printed with
// fmt.Fprintf and dropped the errors) nor 2, which says the input was bad
// (fetch --merge called a failed write of its records a bad shard file).
func TestOutputWriteFailure(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	shard := filepath.Join(t.TempDir(), "a.jsonl")
	record := `{"line":1,"url":"http://127.0.0.1:1/","final_url":"","status":200,"bytes":0,"content_type":"","duration_ms":0,"attempts":1}` + "\n"
	if err := os.WriteFile(shard, []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(filepath.Dir(shard), "run.json")
	if status := run([]string{"bench", "-n", "2", "-c", "1", "--save", saved, srv.URL + "/"}, strings.NewReader(""), io.Discard, io.Discard); status != 0 {
		t.Fatalf("bench --save: exit status %d", status)
	}
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		// A search whose one step is refused (no rate held: exit
		// status 1 either way; the line on stderr tells them apart).
		{[]string{"bench", "--find-max", "--slo-p99", "1s", "-z", "100ms", "-q", "20", refused}, "gather: bench: writing the report: write /dev/stdout: no space left on device\n"},
		{[]string{"bench", "--find-max", "--slo-p99", "1s", "-z", "100ms", "-q", "20", "-o", "json", refused}, "gather: bench: writing the report: write /dev/stdout: no space left on device\n"},
		{[]string{"demo", "--unit", "1ms", "--requests", "3"}, "gather: demo: writing the output: write /dev/stdout: no space left on device\n"},
		{[]string{"fetch", "--merge", shard}, "gather: fetch: --merge: writing the records: write /dev/stdout: no space left on device\n"},
		{[]string{"fetch", "--quiet", srv.URL + "/"}, "gather: fetch: writing the records: write /dev/stdout: no space left on device\n"},
		{[]string{"bench", "-n", "2", "-c", "1", srv.URL + "/"}, "gather: bench: writing the report: write /dev/stdout: no space left on device\n"},
		{[]string{"report", saved}, "gather: report: writing the report: write /dev/stdout: no space left on device\n"},
		{[]string{"report", "-o", "json", saved}, "gather: report: writing the report: write /dev/stdout: no space left on device\n"},
		{[]string{"--version"}, "gather: writing the output: write /dev/stdout: no space left on device\n"},
		// cobra's help drops its write errors.
		{[]string{"help"}, "gather: writing the output: write /dev/stdout: no space left on device\n"},
		{[]string{"bench", "--help"}, "gather: writing the output: write /dev/stdout: no space left on device\n"},
		{[]string{"completion", "bash"}, "gather: writing the output: write /dev/stdout: no space left on device\n"},
	} {
		var stderr syncBuffer
		if status := run(tt.args, strings.NewReader(""), fullWriter{}, &stderr); status != 1 || stderr.String() != tt.stderr {
			t.Errorf("gather %s > full: exit status %d, stderr %q; want 1 and %q", strings.Join(tt.args, " "), status, stderr.String(), tt.stderr)
		}
	}
}

// fetch --merge fetches nothing: every flag about fetching is a usage
// error with it, not only some (--backoff, --max-redirects, --dns-cache
// and others were silently dropped).
func TestFetchMergeIdleFlags(t *testing.T) {
	t.Parallel()
	shard := filepath.Join(t.TempDir(), "a.jsonl")
	record := `{"line":1,"url":"http://127.0.0.1:1/","final_url":"","status":200,"bytes":0,"content_type":"","duration_ms":0,"attempts":1}` + "\n"
	if err := os.WriteFile(shard, []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--backoff=1s", "--max-backoff=1s", "--max-retry-after=1s", "--max-redirects=1", "--dns-cache=0", "--max-body=10",
		"--concurrency=3", "--timeout=1s", "--order=done", "--client=net/http", "--header=X-A: 1", "--keep-body", "--host-rate=5", "--per-host=2", "--retries=1"} {
		var stdout, stderr strings.Builder
		status := run([]string{"fetch", "--merge", flag, shard}, strings.NewReader(""), &stdout, &stderr)
		name, _, _ := strings.Cut(flag, "=")
		want := "gather: fetch: --merge fetches nothing: " + name + " has nothing to do\n"
		if status != 2 || stderr.String() != want || stdout.Len() != 0 {
			t.Errorf("fetch --merge %s: exit status %d, stderr %q, %d bytes out; want 2 and %q", flag, status, stderr.String(), stdout.Len(), want)
		}
	}
	// What merge does use still works.
	var stdout, stderr strings.Builder
	if status := run([]string{"fetch", "--merge", "--quiet", shard}, strings.NewReader(""), &stdout, &stderr); status != 0 || stdout.String() != record {
		t.Errorf("fetch --merge --quiet: exit status %d, stdout %q, stderr %q", status, stdout.String(), stderr.String())
	}
}

// bench --save writes a file that is not a regular one (a FIFO, /dev/null)
// in place, and through a symbolic link saves to the file it names: the
// temporary file renamed over the name replaced the FIFO or the link
// with a regular file (and /dev/null itself, run as root).
func TestBenchSaveInPlace(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	dir := t.TempDir()
	bench := func(save string) (int, string) {
		var stderr syncBuffer
		status := run([]string{"bench", "-n", "2", "-c", "1", "--save", save, srv.URL + "/"}, strings.NewReader(""), io.Discard, &stderr)
		return status, stderr.String()
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// Opened read-write, the FIFO does not wait for a writer, and bench's
	// open finds a reader.
	r, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The reader takes one JSON value, the saved run, however long the
	// run took to send it: no end of file comes while it holds the FIFO
	// open for writing too, and a deadline a second after the run (as
	// this test had) is a race with the scheduler of a loaded machine.
	type saved struct {
		v   map[string]any
		err error
	}
	got := make(chan saved, 1)
	go func() {
		var v map[string]any
		err := json.NewDecoder(r).Decode(&v)
		got <- saved{v, err}
	}()
	status, stderr := bench(fifo)
	if status != 0 {
		r.Close() // nothing will come: free the reader
	}
	var res saved
	select {
	case res = <-got:
	case <-time.After(30 * time.Second):
		r.Close()
		res = <-got
	}
	if status != 0 || res.err != nil || res.v["format"] != "gather-bench-summary" {
		t.Errorf("--save FIFO: exit status %d, stderr %q, the reader got %v (%v)", status, stderr, res.v["format"], res.err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("--save FIFO: it is now %v (%v), want the FIFO", fi.Mode(), err)
	}

	// A link to a file not made yet, then to the file it made.
	link, target := filepath.Join(dir, "latest.json"), filepath.Join(dir, "run-1.json")
	if err := os.Symlink("run-1.json", link); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if status, stderr := bench(link); status != 0 {
			t.Fatalf("--save link: exit status %d: %s", status, stderr)
		}
		fi, err := os.Lstat(link)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("--save link: the link is now %v (%v)", fi.Mode(), err)
		}
		if data, err := os.ReadFile(target); err != nil || !strings.Contains(string(data), `"format": "gather-bench-summary"`) {
			t.Errorf("--save link: the file it names: %v, %.80q", err, data)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

}

// report --save onto a FIFO sends the merged run to its reader. The check
// that the name could be written, made before any run is read, opened the
// FIFO and closed it: that waited for a reader, then gave it an end of
// file, and the run saved later went nowhere (or waited for ever).
func TestReportSaveFIFO(t *testing.T) {
	t.Parallel()
	saved, fifo := savedRunAndFIFO(t)
	got := make(chan []byte, 1)
	go func() {
		// As cat would: open (waiting for a writer), read to the end.
		data, _ := os.ReadFile(fifo)
		got <- data
	}()
	var stderr syncBuffer
	status := run([]string{"report", "--save", fifo, saved}, strings.NewReader(""), io.Discard, &stderr)
	// Frees the reader if gather never opened the FIFO (no reader then:
	// the open fails, which is fine).
	if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
	data := <-got
	if status != 0 || !strings.Contains(string(data), `"format": "gather-bench-summary"`) {
		t.Errorf("report --save FIFO: exit status %d, stderr %q, the reader got %d bytes: %.80q", status, stderr.String(), len(data), data)
	}
}

// savedRunAndFIFO saves a run of 2 requests to a test server in a new
// directory and makes a FIFO beside it: the setting of the tests of
// outputs onto FIFOs. The server is closed when the test ends.
func savedRunAndFIFO(t *testing.T) (saved, fifo string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	saved = filepath.Join(dir, "run.json")
	if status := run([]string{"bench", "-n", "2", "-c", "1", "--save", saved, srv.URL + "/"}, strings.NewReader(""), io.Discard, io.Discard); status != 0 {
		t.Fatalf("bench --save: exit status %d", status)
	}
	fifo = filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	return saved, fifo
}
