package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"
)

// TestSignalExitStatus sends the test process real signals while run
// executes a command under gather.Run: every command exits 130 after
// SIGINT and 143 after SIGTERM, after reporting what it did.
//
// It must not run in parallel with other tests that call gather.Run,
// which would see the signals too; being a sequential top-level test, it
// runs while no parallel test does.
func TestSignalExitStatus(t *testing.T) {
	// A server that holds every request until the test ends, so a bench
	// is in flight when the signal comes.
	var once sync.Once
	started := make(chan struct{})
	arrived := make(chan string, 100) // the paths requested
	// request returns a ready func that waits for a request of path.
	request := func(path string) func(*bufio.Reader) {
		return func(*bufio.Reader) {
			for p := range arrived {
				if p == path {
					return
				}
			}
		}
	}
	hold := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(started) })
		select {
		case arrived <- r.URL.Path:
		default:
		}
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hold)

	// A saved run that report reads from stdin, held back until the
	// signal has come: report stops reading at once and exits 130 (see
	// TestInterruptWhileReadingStdin).
	ar, err := txtar.ParseFile("testdata/script/report_errors.txtar")
	if err != nil {
		t.Fatal(err)
	}
	var saved []byte
	for _, f := range ar.Files {
		if f.Name == "a.json" {
			saved = f.Data
		}
	}
	stdin := &heldReader{data: saved, reading: make(chan struct{}), release: make(chan struct{})}

	tests := []struct {
		name   string
		args   []string
		sig    syscall.Signal
		ready  func(stderr *bufio.Reader) // returns once the command is running
		after  func()                     // called once the signal is sent
		status int
		// records, if not 0, is how many records stdout must hold, each
		// line a whole one: fetch's output is complete after a signal.
		records int
	}{
		{"report SIGINT", []string{"report", "-"}, syscall.SIGINT,
			func(*bufio.Reader) { <-stdin.reading }, func() { close(stdin.release) }, 130, 0},
		{"serve SIGINT", []string{"serve", "--addr", "127.0.0.1:0", "--grace", "0s"}, syscall.SIGINT, listening, nil, 130, 0},
		{"serve SIGTERM", []string{"serve", "--addr", "127.0.0.1:0", "--grace", "0s"}, syscall.SIGTERM, listening, nil, 143, 0},
		{"bench SIGTERM", []string{"bench", "-n", "100", "-c", "1", "-t", "1m", srv.URL + "/"}, syscall.SIGTERM,
			func(*bufio.Reader) { <-started }, nil, 143, 0},
		{"bench --find-max SIGINT", []string{"bench", "--find-max", "--slo-p99", "1s", "-z", "10s", "-q", "10", "-c", "1", "-t", "1m", srv.URL + "/findmax"}, syscall.SIGINT,
			request("/findmax"), nil, 130, 0},
		{"fetch SIGINT", []string{"fetch", "-c", "2", srv.URL + "/1", srv.URL + "/2", srv.URL + "/3", srv.URL + "/4"}, syscall.SIGINT,
			request("/1"), nil, 130, 4},
		{"fetch SIGINT, net/http", []string{"fetch", "--client", "net/http", "-c", "2", srv.URL + "/5", srv.URL + "/6", srv.URL + "/7"}, syscall.SIGINT,
			request("/5"), nil, 130, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			var stdout bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(tt.args, stdin, &stdout, pw)
				pw.Close()
			}()
			stderr := bufio.NewReader(pr)
			tt.ready(stderr)
			if err := syscall.Kill(syscall.Getpid(), tt.sig); err != nil {
				t.Fatal(err)
			}
			if tt.after != nil {
				// The signal is delivered asynchronously: let it land first.
				time.Sleep(200 * time.Millisecond)
				tt.after()
			}
			rest, _ := io.ReadAll(stderr)
			if got := <-done; got != tt.status {
				t.Errorf("exit status %d, want %d; stderr: %s", got, tt.status, rest)
			}
			if tt.records > 0 {
				lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
				for _, l := range lines {
					if !strings.HasPrefix(l, `{"line":`) || !strings.HasSuffix(l, "}") || !strings.Contains(l, `"error":"cancelled"`) {
						t.Errorf("record %q, want a whole cancelled one", l)
					}
				}
				if len(lines) != tt.records {
					t.Errorf("%d records, want %d:\n%s", len(lines), tt.records, stdout.String())
				}
			}
		})
	}
}

// TestInterruptWhileReadingStdin: Ctrl-C while report, bench or fetch
// --merge waits on stdin (a terminal, a pipe whose writer has not
// written) ends it at once with 130 and a line saying so, without waiting
// for the input; they used to wait for its end and then call the empty
// input bad (2). (fetch proper reads its input to the end after Ctrl-C,
// by design: every line gets a record.) Sequential, as
// TestSignalExitStatus.
func TestInterruptWhileReadingStdin(t *testing.T) {
	targets := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(targets, []byte("GET http://127.0.0.1:1/{{.user}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shard := filepath.Join(filepath.Dir(targets), "a.jsonl")
	if err := os.WriteFile(shard, []byte(`{"line":1,"url":"http://127.0.0.1:1/","final_url":"","status":0,"bytes":0,"content_type":"","duration_ms":0,"attempts":1,"error":"refused","message":"x"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"fetch --merge -i -", []string{"fetch", "--merge", "-i", "-", shard}, "gather: fetch: --merge: interrupted before the merge was written whole\n"},
		{"report -", []string{"report", "-"}, "gather: report: interrupted while reading the runs: nothing reported\n"},
		{"bench --targets -", []string{"bench", "-n", "1", "--targets", "-"}, "gather: bench: interrupted while reading the run's input: no request sent\n"},
		{"bench --data -", []string{"bench", "-n", "1", "--targets", targets, "--data", "-"}, "gather: bench: interrupted while reading the run's input: no request sent\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdin := &heldReader{reading: make(chan struct{}), release: make(chan struct{})}
			defer close(stdin.release) // the read left behind ends, for goleak
			var stdout, stderr syncBuffer
			done := make(chan int, 1)
			go func() { done <- run(tt.args, stdin, &stdout, &stderr) }()
			<-stdin.reading
			if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-done:
				if got != 130 || stderr.String() != tt.msg || stdout.String() != "" {
					t.Errorf("exit status %d, stderr %q, stdout %q; want 130 and %q", got, stderr.String(), stdout.String(), tt.msg)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%v still waits on stdin 10 s after Ctrl-C", tt.args)
			}
		})
	}
}

// listening reads serve's first line, which it prints once it listens.
func listening(stderr *bufio.Reader) {
	stderr.ReadString('\n')
}

// heldReader is a stdin whose first Read says so on reading, then waits
// for release before it returns data.
type heldReader struct {
	data             []byte
	reading, release chan struct{}
	once             sync.Once
}

func (r *heldReader) Read(p []byte) (int, error) {
	r.once.Do(func() { close(r.reading) })
	<-r.release
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestInterruptedBenchWhoseSaveFails: Ctrl-C, then a --save that cannot
// be written (its directory removed during the run): both are said, the
// interruption first, and the exit status is the interruption's, 130
// (the failed write alone would be 1). Sequential, as
// TestSignalExitStatus.
func TestInterruptedBenchWhoseSaveFails(t *testing.T) {
	dir, srv := dirGoneAt(t, 5, func(r *http.Request) {
		syscall.Kill(syscall.Getpid(), syscall.SIGINT)
		<-r.Context().Done()
	})
	var stdout, stderr syncBuffer
	got := run([]string{"bench", "-c", "1", "-n", "100", "--save", filepath.Join(dir, "run.json"), srv.URL + "/"}, nil, &stdout, &stderr)
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if got != 130 || len(lines) != 2 || lines[0] != "gather: bench interrupted: the report covers the requests that finished" ||
		!strings.HasPrefix(lines[1], "gather: bench: --save: ") || !strings.Contains(lines[1], "no such file or directory") {
		t.Errorf("exit status %d, stderr %q; want 130, the interruption, then the failed --save", got, stderr.String())
	}
	if !strings.Contains(stdout.String(), "\nRequests       4  (") {
		t.Errorf("the report does not cover the 4 finished requests:\n%s", stdout.String())
	}
}

// TestBenchWritesEveryOutputOneFails: a --save that cannot be put in
// place keeps neither --hlog, --html nor --junit from being written, and its
// failure is said; the exit status is 1, an output not written.
func TestBenchWritesEveryOutputOneFails(t *testing.T) {
	gone, srv := dirGoneAt(t, 2, nil)
	tmp := t.TempDir()
	hlog, page, junit := filepath.Join(tmp, "run.hlog"), filepath.Join(tmp, "run.html"), filepath.Join(tmp, "run.xml")
	var stdout, stderr syncBuffer
	got := run([]string{"bench", "-c", "1", "-n", "5", "--save", filepath.Join(gone, "run.json"),
		"--hlog", hlog, "--html", page, "--threshold", "p99<10s", "--junit", junit, srv.URL + "/"}, nil, &stdout, &stderr)
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if got != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "gather: bench: --save: ") {
		t.Errorf("exit status %d, stderr %q; want 1 and the failed --save alone", got, stderr.String())
	}
	for _, path := range []string{hlog, page, junit} {
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written after --save failed: %v", filepath.Base(path), err)
		}
	}
}

// dirGoneAt returns a new directory and a server that answers "hello",
// except that its nth request removes the directory (a --save into it
// can no longer be put in place) and, if then is not nil, is handed to
// then instead of answered.
func dirGoneAt(t *testing.T, n int64, then func(r *http.Request)) (string, *httptest.Server) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == n {
			os.RemoveAll(dir)
			if then != nil {
				then(r)
				return
			}
		}
		w.Write([]byte("hello"))
	}))
	t.Cleanup(srv.Close)
	return dir, srv
}
