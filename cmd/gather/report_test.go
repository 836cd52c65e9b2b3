package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// TestReportExitStatus checks what the scripts cannot: usage errors and bad
// input (unreadable or corrupt files, an unwritable --save) exit 2, and
// each prints one line.
func TestReportExitStatus(t *testing.T) {
	dir := t.TempDir()
	ar, err := txtar.ParseFile("testdata/script/report_errors.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if err := txtar.Write(ar, dir); err != nil {
		t.Fatal(err)
	}
	// A folder holding one run, in a file of its own.
	if err := os.Mkdir(filepath.Join(dir, "runs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range ar.Files {
		if f.Name == "a.json" {
			if err := os.WriteFile(filepath.Join(dir, "runs", "a.json"), f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// And one holding a link to a run that is not there.
	if err := os.Mkdir(filepath.Join(dir, "linked"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../gone.json", filepath.Join(dir, "linked", "b.json")); err != nil {
		t.Fatal(err)
	}
	in := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name   string
		args   []string
		status int
		notes  bool // notes on stderr before the error
	}{
		{"ok", []string{"report", in("a.json")}, 0, false},
		{"json", []string{"report", "-o", "json", in("a.json")}, 0, false},
		{"one run twice", []string{"report", in("a.json"), in("a.json")}, 2, false},
		{"one run twice, forced", []string{"report", "--force", in("a.json"), in("a.json")}, 0, false},
		{"no file", []string{"report"}, 2, false},
		{"bad output", []string{"report", "-o", "yaml", in("a.json")}, 2, false},
		{"bad flag", []string{"report", "--frobnicate", in("a.json")}, 2, false},
		{"missing", []string{"report", in("nope.json")}, 2, false},
		{"a folder of runs", []string{"report", in("runs")}, 0, false},
		{"a folder holding bad files", []string{"report", dir}, 2, true},
		{"a folder holding a link to nothing", []string{"report", in("linked")}, 2, false},
		{"not json", []string{"report", in("a.json"), in("notjson.txt")}, 2, false},
		{"inconsistent", []string{"report", in("inconsistent.json")}, 2, false},
		{"unwritable save", []string{"report", "--save", in("no/such/dir/x.json"), in("a.json")}, 2, false},
		{"save to a directory", []string{"report", "--save", dir, in("a.json")}, 2, false},
		{"html to stdout", []string{"report", "--html", "-", in("a.json")}, 2, false},
		{"junit to stdout", []string{"report", "--junit", "-", "--threshold", "p99<1s", in("a.json")}, 2, false},
		{"save, input unreadable", []string{"report", "--save", in("new.json"), in("nope.json")}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(tt.args, strings.NewReader(""), &stdout, &stderr)
			if got != tt.status {
				t.Errorf("exit status %d, want %d; stderr: %s", got, tt.status, stderr.String())
			}
			if tt.status == 0 {
				if stdout.Len() == 0 || stderr.Len() != 0 {
					t.Errorf("stdout %d bytes, stderr %q; want a report and no error", stdout.Len(), stderr.String())
				}
				return
			}
			if stdout.Len() != 0 {
				t.Errorf("printed a report despite the error:\n%s", stdout.String())
			}
			lines := strings.SplitAfter(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if tt.notes {
				for _, l := range lines[:len(lines)-1] {
					if !strings.HasPrefix(l, "gather: report: note: ") {
						t.Errorf("stderr line %q, want a note before the error", l)
					}
				}
				lines = lines[len(lines)-1:]
			}
			if n := len(lines); n != 1 || !strings.HasPrefix(lines[0], "gather: ") {
				t.Errorf("stderr = %q, want one line starting with gather:", stderr.String())
			}
		})
	}
	if _, err := os.Stat(in("no/such/dir/x.json")); err == nil {
		t.Error("--save created a file in a directory that does not exist")
	}
	if _, err := os.Stat(in("new.json")); err == nil {
		t.Error("--save created a file although an input was missing")
	}
	// The check of --save changes nothing: the file may be an input.
	if code := run([]string{"report", "--save", in("a.json"), in("a.json")}, strings.NewReader(""), io.Discard, io.Discard); code != 0 {
		t.Errorf("report --save a.json a.json: exit status %d, want 0", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(ar.Files)+2 { // and the folders runs and linked
		t.Errorf("%d files in the directory after the runs, want the %d inputs", len(entries), len(ar.Files))
	}
}
