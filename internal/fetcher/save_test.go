package fetcher

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// safeName reports whether name is one plain, visible file name.
func safeName(name string) bool {
	return name != "" && len(name) < 255 && filepath.IsLocal(name) && filepath.Base(name) == name &&
		!strings.HasPrefix(name, ".") && !strings.ContainsAny(name, "/\\\x00:")
}

var hostileURLs = []string{
	"http://example.com/../../etc/passwd",
	"http://example.com/..%2f..%2fetc%2fpasswd",
	"http://example.com/%2e%2e/%2e%2e/x",
	"http://example.com/a\\..\\..\\b",
	"http://example.com/%00nul",
	"http://example.com/" + strings.Repeat("long/", 200),
	"http://example.com/?q=../../x&r=/etc/shadow",
	"http://..:80/..",
	"http://example.com/.hidden",
	"http://example.com/CON",
	"http://example.com/héllo/wörld",
	"http://user:pw@example.com:8080/",
}

func TestFileName(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, raw := range hostileURLs {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", raw, err)
		}
		name := FileName(u)
		if !safeName(name) {
			t.Errorf("FileName(%q) = %q, not a safe name", raw, name)
		}
		if other, ok := seen[name]; ok {
			t.Errorf("FileName(%q) = FileName(%q) = %q", raw, other, name)
		}
		seen[name] = raw
	}
	u, _ := url.Parse("http://127.0.0.1:8080/a/b.html?x=1")
	if got, want := FileName(u), "127.0.0.1_8080_a_b.html_x_1-"; !strings.HasPrefix(got, want) {
		t.Errorf("FileName(%v) = %q, want prefix %q", u, got, want)
	}
}

// TestDirHostile fetches hostile URLs with --dir and checks that every
// body landed as a plain file inside the directory, and nothing outside.
func TestDirHostile(t *testing.T) {
	t.Parallel()
	forClients(t, func(t *testing.T, client Client) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, r.URL.RequestURI())
		}))
		defer srv.Close()
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// A symbolic link planted in the directory must not be followed out.
		if err := os.Symlink(parent, filepath.Join(dir, "escape")); err != nil {
			t.Fatal(err)
		}
		f, err := New(Options{Concurrency: 4, Dir: dir + string(filepath.Separator), Client: client})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		paths := []string{"/../../etc/passwd", "/..%2f..%2fescape%2fx", "/escape/x", "/%2e%2e/%2e%2e/y", "/a\\..\\..\\b", "/.hidden", "/" + strings.Repeat("d/", 300)}
		var lines []string
		for _, p := range paths {
			lines = append(lines, srv.URL+p)
		}
		recs := run(t, f, lines)
		for i, r := range recs {
			if !r.OK() {
				t.Errorf("%s: %s %s", lines[i], r.Error, r.Message)
				continue
			}
			if r.File != filepath.Join(dir, filepath.Base(r.File)) || !safeName(filepath.Base(r.File)) {
				t.Errorf("%s saved as %q, not a plain file in %s", lines[i], r.File, dir)
				continue
			}
			b, err := os.ReadFile(r.File)
			if err != nil || int64(len(b)) != r.Bytes {
				t.Errorf("%s: file %s: %d bytes, err %v; record says %d", lines[i], r.File, len(b), err, r.Bytes)
			}
		}
		entries, _ := os.ReadDir(parent)
		if len(entries) != 1 {
			t.Errorf("%s holds %d entries, want only out/", parent, len(entries))
		}
		entries, _ = os.ReadDir(dir)
		if len(entries) != len(paths)+1 {
			t.Errorf("%s holds %d entries, want %d files and the link", dir, len(entries), len(paths))
		}
	})
}

// run fetches lines and returns their records in input order.
func run(t *testing.T, f *Fetcher, lines []string) []Record {
	t.Helper()
	return runCtx(t, context.Background(), f, lines)
}

func runCtx(t *testing.T, ctx context.Context, f *Fetcher, lines []string) []Record {
	t.Helper()
	var recs []Record
	err := f.Run(ctx, Lines(strings.NewReader(strings.Join(lines, "\n"))).All(), func(r *Record) error {
		recs = append(recs, *r)
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return recs
}

// A body that cannot be saved is a "save" record that still tells the
// body's length; a directory that takes no file is refused by New.
func TestSaveFails(t *testing.T) {
	t.Parallel()
	forClients(t, func(t *testing.T, client Client) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "abc") }))
		defer srv.Close()
		dir := t.TempDir()
		f, err := New(Options{Dir: dir, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// The directory goes away after the start: no file can be made.
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		r := run(t, f, []string{srv.URL + "/x"})[0]
		if r.Error != KindSave || r.Bytes != 3 || r.Status != 200 || r.File != "" {
			t.Errorf("record %+v, want a save failure of 3 bytes", r)
		}
	})
	if _, err := New(Options{Dir: "/proc"}); err == nil {
		t.Errorf("New with a directory that takes no file: no error")
	}
}
