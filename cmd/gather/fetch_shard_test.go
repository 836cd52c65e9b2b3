package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shards of an input, fetched apart and merged, give the records one
// fetch of the whole input gives, in its order, one per line; without a
// shard the merge says which lines have no record.
func TestFetchShardsMerge(t *testing.T) {
	t.Parallel()
	var servers []*httptest.Server
	for range 3 { // three hosts (host:port), so that the shards differ
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/404") {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte("hello"))
		}))
		defer srv.Close()
		servers = append(servers, srv)
	}
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	var urls strings.Builder
	urls.WriteString("# the input\n")
	for i := range 60 {
		fmt.Fprintf(&urls, "%s/page/%d\n", servers[i%3].URL, i)
		if i%20 == 0 {
			fmt.Fprintf(&urls, "%s/404\n\nnot a url %d\n", servers[(i+1)%3].URL, i)
		}
	}
	if err := os.WriteFile(path("urls.txt"), []byte(urls.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	fetch := func(args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		code := run(append([]string{"fetch"}, args...), strings.NewReader(""), &out, &errs)
		return code, out.String(), errs.String()
	}
	// What a record says, without its timing.
	fields := func(out string) []string {
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				Line   int
				URL    string
				Status int
				Error  string
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			got = append(got, fmt.Sprintf("%d %s %d %s", r.Line, r.URL, r.Status, r.Error))
		}
		return got
	}
	codeOne, one, _ := fetch("-i", path("urls.txt"), "--quiet")
	var files []string
	for i := range 3 {
		code, out, errs := fetch("-i", path("urls.txt"), "--shard", fmt.Sprintf("%d/3", i), "--quiet")
		if code != codeOne || out == "" {
			t.Fatalf("shard %d/3: exit status %d (whole: %d), %d bytes: %s", i, code, codeOne, len(out), errs)
		}
		name := path(fmt.Sprintf("shard%d.jsonl", i))
		os.WriteFile(name, []byte(out), 0o644)
		files = append(files, name)
	}
	code, merged, errs := fetch(append([]string{"--merge", "-i", path("urls.txt")}, files...)...)
	if code != codeOne || !strings.Contains(errs, "merged 66 records from 3 files (checked against ") {
		t.Errorf("merge: exit status %d (whole: %d), stderr %q", code, codeOne, errs)
	}
	if a, b := fields(merged), fields(one); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("merged:\n%s\nwhole:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	code, out, errs := fetch(append([]string{"--merge", "-i", path("urls.txt")}, files[:2]...)...)
	if code != 2 || out != "" || !strings.Contains(errs, "has no record") || strings.Count(errs, "\n") != 1 {
		t.Errorf("a shard missing: exit status %d, %d bytes, stderr %q; want 2, nothing, one line naming a line", code, len(out), errs)
	}
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"--shard", "3/3", "http://a/"}, ""},
		{[]string{"--shard", "0/2", "--merge", files[0]}, ""},
		{[]string{"--merge"}, ""},
		{[]string{"--merge", "-c", "5", files[0]}, ""},
		{[]string{"--merge", path("nope.jsonl")}, ""},
		// Read twice, a shard cannot be stdin; it said "open -: no such
		// file or directory".
		{[]string{"--merge", files[0], "-"}, "gather: fetch: --merge: - is not read from stdin: "},
	} {
		if code, out, errs := fetch(tt.args...); code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, tt.says) {
			t.Errorf("%q: exit status %d, stdout %q, stderr %q; want 2 and one line %s", tt.args, code, out, errs, tt.says)
		}
	}
}
