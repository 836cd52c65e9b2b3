package fetcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shards of an input cover every line once, and every line of a host
// is in that host's one shard.
func TestShardsCoverEveryLineOnce(t *testing.T) {
	t.Parallel()
	var in strings.Builder
	for i := range 2000 {
		switch i % 10 {
		case 0:
			fmt.Fprintf(&in, "not a url %d\n", i)
		case 1:
			in.WriteString("# a comment\n\n")
		default:
			fmt.Fprintf(&in, "http://host%d.example:%d/page/%d\n", i%37, 8000+i%3, i)
		}
	}
	var all []Line
	for l := range Lines(strings.NewReader(in.String())).All() {
		all = append(all, l)
	}
	for n := 1; n <= 7; n++ {
		seen := make(map[int]int)
		hostShard := map[string]int{}
		counts := make([]int, n)
		for i := range n {
			sh := Shard{Index: i, Count: n}
			for l := range sh.Lines(Lines(strings.NewReader(in.String())).All()) {
				seen[l.Number]++
				counts[i]++
				if l.URL != nil {
					if s, ok := hostShard[l.URL.Host]; ok && s != i {
						t.Errorf("%d shards: host %s in shards %d and %d", n, l.URL.Host, s, i)
					}
					hostShard[l.URL.Host] = i
				}
			}
		}
		for _, l := range all {
			if seen[l.Number] != 1 {
				t.Errorf("%d shards: line %d is in %d of them", n, l.Number, seen[l.Number])
			}
		}
		if len(seen) != len(all) {
			t.Errorf("%d shards: %d lines, the input has %d", n, len(seen), len(all))
		}
		t.Logf("%d shards: %v lines", n, counts)
	}
}

func TestParseShard(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"0/1": "", "2/3": "", "3/3": "i must be from 0 to 2", "x": "want i/N", "0/0": "N must be at least 1"} {
		_, err := ParseShard(in)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("ParseShard(%q): %v, want %q", in, err, want)
		}
	}
}

// record returns a record line of fetch's output for line n and URL u.
func record(n int, u string, failed bool) string {
	if failed {
		return fmt.Sprintf(`{"line":%d,"url":%q,"status":0,"error":"refused"}`, n, u)
	}
	return fmt.Sprintf(`{"line":%d,"url":%q,"status":200}`, n, u)
}

func writeFiles(t *testing.T, files map[string]string) func(string) string {
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return func(name string) string { return filepath.Join(dir, name) }
}

// Merge puts the records of the shards back in input order, byte for
// byte, whether a shard was written in input order or not.
func TestMerge(t *testing.T) {
	t.Parallel()
	input := "http://a/1\n\n# comment\nhttp://b/2\nnot a url\nhttp://a/3\nhttp://c/4\n"
	in := writeFiles(t, map[string]string{
		"a.jsonl": record(1, "http://a/1", false) + "\n" + record(6, "http://a/3", false) + "\n",
		"b.jsonl": record(7, "http://c/4", true) + "\n" + record(4, "http://b/2", false) + "\n", // --order done
		"c.jsonl": record(5, "not a url", true) + "\r\n",
	})
	var out bytes.Buffer
	sum, err := Merge([]string{in("a.jsonl"), in("b.jsonl"), in("c.jsonl")}, Lines(strings.NewReader(input)), &out)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{record(1, "http://a/1", false), record(4, "http://b/2", false), record(5, "not a url", true),
		record(6, "http://a/3", false), record(7, "http://c/4", true)}, "\n") + "\n"
	if out.String() != want || sum.Records != 5 || sum.Failed != 2 {
		t.Errorf("merged (%+v):\n%s\nwant\n%s", sum, out.String(), want)
	}
}

// What does not add up to one record per input line is an error naming
// the lines, and nothing is written.
func TestMergeProblems(t *testing.T) {
	t.Parallel()
	input := "http://a/1\nhttp://b/2\nhttp://c/3\n"
	in := writeFiles(t, map[string]string{
		"one.jsonl":   record(1, "http://a/1", false) + "\n" + record(3, "http://c/3", false) + "\n",
		"two.jsonl":   record(2, "http://b/2", false) + "\n",
		"again.jsonl": record(2, "http://b/2", false) + "\n",
		"other.jsonl": record(2, "http://x/2", false) + "\n",
		"extra.jsonl": record(9, "http://z/9", false) + "\n",
		"bad.jsonl":   record(2, "http://b/2", false) + "\n" + "hello\n",
	})
	for _, tt := range []struct {
		files []string
		input bool
		want  string
	}{
		{[]string{"one.jsonl"}, true, "line 2 (http://b/2) has no record"},
		{[]string{"one.jsonl", "two.jsonl", "again.jsonl"}, false, "line 2 has two records (" + in("two.jsonl") + ":1 and " + in("again.jsonl") + ":1)"},
		{[]string{"one.jsonl", "other.jsonl"}, true, in("other.jsonl") + `:1 is of "http://x/2", line 2 of the input is "http://b/2"`},
		{[]string{"one.jsonl", "two.jsonl", "extra.jsonl"}, true, in("extra.jsonl") + ":1 is of line 9, which the input has nothing to fetch on"},
		{[]string{"one.jsonl", "bad.jsonl"}, false, in("bad.jsonl") + ":2: not a fetch record"},
	} {
		var files []string
		for _, f := range tt.files {
			files = append(files, in(f))
		}
		var inp *Input
		if tt.input {
			inp = Lines(strings.NewReader(input))
		}
		var out bytes.Buffer
		_, err := Merge(files, inp, &out)
		var me *MergeError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), tt.want) || out.Len() != 0 {
			t.Errorf("%v: error %v, %d bytes written; want a MergeError saying %q and nothing", tt.files, err, out.Len(), tt.want)
		}
	}
	// Without the input, a missing line is not a problem it can see.
	var out bytes.Buffer
	if _, err := Merge([]string{in("one.jsonl")}, nil, &out); err != nil || strings.Count(out.String(), "\n") != 2 {
		t.Errorf("without the input: %v, %q", err, out.String())
	}
}
