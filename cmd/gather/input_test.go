package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// failingReader gives data, then fails as a disk that cannot be read.
type failingReader struct{ data string }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, &os.PathError{Op: "read", Path: "/dev/stdin", Err: syscall.EIO}
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// An input that cannot be read is bad input, exit status 2 and one line,
// in every command that reads one: fetch, which streams its input, said 1
// and printed a summary of nothing when not a line could be read. Once
// lines were fetched, their records are out and the status is 1.
func TestUnreadableInput(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	shard := filepath.Join(t.TempDir(), "a.jsonl")
	if err := os.WriteFile(shard, []byte(`{"line":1,"url":"http://127.0.0.1:1/","final_url":"","status":200,"bytes":0,"content_type":"","duration_ms":0,"attempts":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const eio = "read /dev/stdin: input/output error"
	for _, tt := range []struct {
		args   []string
		stdin  string
		status int
		stderr string // its last line
		out    int    // lines on stdout
	}{
		{[]string{"fetch", "-i", "-"}, "", 2, "gather: fetch: reading input: " + eio, 0},
		{[]string{"fetch"}, "# comments are no request\n", 2, "gather: fetch: reading input: " + eio, 0},
		{[]string{"fetch", "-i", "-"}, srv.URL + "/\n", 1, "gather: fetch: reading input: " + eio + " (the lines after it have no record)", 1},
		{[]string{"fetch", "--merge", "-i", "-", shard}, "", 2, "gather: fetch: --merge: reading the input: " + eio, 0},
		{[]string{"report", "-"}, "", 2, "gather: report: stdin: " + eio, 0},
		{[]string{"bench", "-n", "1", "--targets", "-"}, "", 2, "gather: bench: stdin: " + eio, 0},
	} {
		var stdout, stderr syncBuffer
		status := run(tt.args, &failingReader{data: tt.stdin}, &stdout, &stderr)
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		outLines := strings.Count(stdout.String(), "\n")
		if status != tt.status || lines[len(lines)-1] != tt.stderr || outLines != tt.out || (tt.status == 2 && len(lines) != 1) {
			t.Errorf("gather %s, stdin failing: exit status %d, stderr %q, %d lines out; want %d, %q, %d", strings.Join(tt.args, " "),
				status, stderr.String(), outLines, tt.status, tt.stderr, tt.out)
		}
	}
}
