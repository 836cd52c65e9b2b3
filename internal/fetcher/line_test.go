package fetcher

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line    string
		want    string // URL, if valid
		skip    bool
		wantErr string // substring, if invalid
	}{
		{line: "", skip: true},
		{line: "   \t\r", skip: true},
		{line: "# a comment", skip: true},
		{line: "   # indented comment", skip: true},
		{line: "http://example.com/", want: "http://example.com/"},
		{line: "  https://example.com/a?b=c&d=e#frag \r", want: "https://example.com/a?b=c&d=e#frag"},
		{line: "http://127.0.0.1:8080/delay/50ms?i=1", want: "http://127.0.0.1:8080/delay/50ms?i=1"},
		{line: "http://[::1]:80/", want: "http://[::1]:80/"},
		{line: "HTTP://EXAMPLE.COM/", want: "http://EXAMPLE.COM/"},
		{line: "example.com", wantErr: "no scheme"},
		{line: "/just/a/path", wantErr: "no scheme"},
		{line: "ftp://example.com/", wantErr: "unsupported scheme"},
		{line: "javascript:alert(1)", wantErr: "unsupported scheme"},
		{line: "http:example.com", wantErr: "no host"},
		{line: "http:///path", wantErr: "no host"},
		{line: "http://:80/", wantErr: "empty host"},
		{line: "http://exa mple.com/", wantErr: "white space"},
		{line: "http://example.com/\x00", wantErr: "control"},
		{line: "http://example.com/%zz", wantErr: "malformed"},
		{line: "http://[::1/", wantErr: "malformed"},
		{line: "http://127.0.0.1:99999/", wantErr: "port 99999 is out of range"},
		{line: "http://127.0.0.1:0/", wantErr: "port 0 is out of range"},
		{line: "http://127.0.0.1:65535/", want: "http://127.0.0.1:65535/"},
		{line: "http://127.0.0.1:/", want: "http://127.0.0.1:/"},
	}
	for _, tt := range tests {
		u, skip, err := ParseLine(tt.line)
		switch {
		case skip != tt.skip:
			t.Errorf("ParseLine(%q): skip = %v, want %v", tt.line, skip, tt.skip)
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseLine(%q): err = %v, want one saying %q", tt.line, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("ParseLine(%q): %v", tt.line, err)
		case !tt.skip && u.String() != tt.want:
			t.Errorf("ParseLine(%q) = %q, want %q", tt.line, u, tt.want)
		}
	}
}

// FuzzParseLine checks the parser's promises on any input: it never
// panics, skips exactly the blank and comment lines, and whatever it
// accepts is an absolute http(s) URL with a host, which survives being
// printed and parsed again.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"", "# comment", "http://example.com/", "https://a.b:8443/p?q=1#f", "http://[::1]:80/",
		"example.com", "http://%41/", "http://a b/", "\ufeffhttp://x/", "http://x/\r", "http://x/%zz",
		"HTTP://X/..%2f..%2f", "http://user:pass@host/", "http://host:port/", "http://[fe80::1%25en0]/",
		"http://x/a%20b?q=%zz#fr%20ag", "http://x?", "http://x#", "http://x/é?é#é", "http://x/p?q#",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		u, skip, err := ParseLine(line)
		trimmed := strings.TrimSpace(line)
		if wantSkip := trimmed == "" || trimmed[0] == '#'; skip != wantSkip {
			t.Fatalf("ParseLine(%q): skip = %v, want %v", line, skip, wantSkip)
		}
		if skip || err != nil {
			if u != nil {
				t.Fatalf("ParseLine(%q): URL %v with skip or error %v", line, u, err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("ParseLine(%q): scheme %q", line, u.Scheme)
		}
		if u.Hostname() == "" {
			t.Fatalf("ParseLine(%q): no host name", line)
		}
		again, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("ParseLine(%q) gave %q, which does not parse: %v", line, u, err)
		}
		if again.Host != u.Host {
			t.Fatalf("ParseLine(%q): host %q became %q", line, u.Host, again.Host)
		}
		if printsAs(u, trimmed) && u.String() != trimmed {
			t.Fatalf("printsAs(%q) is true, but the URL prints as %q", trimmed, u)
		}
		if name := FileName(u); !safeName(name) {
			t.Fatalf("FileName(%q) = %q, not a safe name", u, name)
		}
	})
}

func TestLines(t *testing.T) {
	t.Parallel()
	long := "http://example.com/" + strings.Repeat("a", MaxLineLength)
	input := "\ufeffhttp://a.example/\r\n\n# comment\n  \nnot a url\n" + long + "\nhttp://b.example/ \nhttp://c.example/"
	in := Lines(iotest.OneByteReader(strings.NewReader(input)))
	var got []Line
	for l := range in.All() {
		got = append(got, l)
	}
	if err := in.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	type short struct {
		n    int
		text string
		ok   bool
	}
	var gotShort []short
	for _, l := range got {
		text := l.Text
		if len(text) > 30 {
			text = text[:30]
		}
		gotShort = append(gotShort, short{l.Number, text, l.Err == nil})
	}
	want := []short{
		{1, "http://a.example/", true},
		{5, "not a url", false},
		{6, "http://example.com/aaaaaaaaaaa", false},
		{7, "http://b.example/", true},
		{8, "http://c.example/", true},
	}
	if !slices.Equal(gotShort, want) {
		t.Fatalf("lines:\n got %v\nwant %v", gotShort, want)
	}
	if !errors.Is(got[2].Err, ErrLineTooLong) || len(got[2].Text) > shownPrefix+3 {
		t.Errorf("long line: err %v, text of %d bytes", got[2].Err, len(got[2].Text))
	}
	if n := in.BytesRead(); n != int64(len(input)) {
		t.Errorf("BytesRead() = %d, want %d", n, len(input))
	}
}

// TestLinesLongest checks the boundary of MaxLineLength: a line of exactly
// that many bytes is read whole, one byte more is too long.
func TestLinesLongest(t *testing.T) {
	t.Parallel()
	const prefix = "http://example.com/"
	longest := prefix + strings.Repeat("a", MaxLineLength-len(prefix))
	for _, input := range []string{longest + "\n" + longest + "a\n", longest + "\n" + longest + "a"} {
		var got []Line
		for l := range Lines(strings.NewReader(input)).All() {
			got = append(got, l)
		}
		if len(got) != 2 {
			t.Fatalf("%d lines, want 2", len(got))
		}
		if got[0].Err != nil || got[0].Text != longest || !errors.Is(got[1].Err, ErrLineTooLong) {
			t.Errorf("first line: %d bytes, err %v; second: err %v", len(got[0].Text), got[0].Err, got[1].Err)
		}
	}
}

func TestLinesReadError(t *testing.T) {
	t.Parallel()
	in := Lines(iotest.TimeoutReader(strings.NewReader("http://a.example/\nhttp://b.example/\n")))
	n := 0
	for range in.All() {
		n++
	}
	if in.Err() == nil {
		t.Fatalf("Err() = nil after a read error, %d lines", n)
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	var got []int
	for l := range Args([]string{"http://a.example/", "", "# c", "bad"}).All() {
		got = append(got, l.Number)
	}
	if !slices.Equal(got, []int{1, 4}) {
		t.Fatalf("line numbers %v, want [1 4]", got)
	}
}

// CountLines counts what Lines yields, over a chunked read as much as a
// whole one.
func TestCountLines(t *testing.T) {
	t.Parallel()
	long := "http://example.com/" + strings.Repeat("a", MaxLineLength)
	input := "\ufeffhttp://a.example/\r\n\n# comment\n  \nnot a url\n" + long + "\nhttp://b.example/ \n   # x\nhttp://c.example/"
	for _, r := range []func() io.Reader{
		func() io.Reader { return strings.NewReader(input) },
		func() io.Reader { return iotest.OneByteReader(strings.NewReader(input)) },
		func() io.Reader { return iotest.HalfReader(strings.NewReader(input)) },
	} {
		n, err := CountLines(r())
		yielded := 0
		for range Lines(r()).All() {
			yielded++
		}
		if err != nil || n != 5 || yielded != 5 {
			t.Errorf("CountLines = %d, %v; Lines yields %d; want 5", n, err, yielded)
		}
	}
}

// BenchmarkLines reads 10,000 lines per op: the input side of a run.
func BenchmarkLines(b *testing.B) {
	var in strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&in, "http://127.0.0.1:8080/?i=%d\n", i)
	}
	s := in.String()
	b.ReportAllocs()
	for b.Loop() {
		for l := range Lines(strings.NewReader(s)).All() {
			if l.Err != nil {
				b.Fatal(l.Err)
			}
		}
	}
}
