package targets

import (
	"errors"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// files serves body files from a map.
func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := m[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

func load(t *testing.T, text string, opt Options) *Set {
	t.Helper()
	s, err := Load(strings.NewReader(text), "t.txt", opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sent renders target i of s at seq 0 as "METHOD path | Host | headers | body".
func sent(s *Set, i int) string {
	r := s.NewRequest()
	r.Next(0, time.Unix(0, 0))
	tg := s.targets[i]
	r.Target = tg
	var b strings.Builder
	b.WriteString(tg.Method + " " + string(tg.Path.Append(nil, r)))
	if tg.Host != nil {
		b.WriteString(" | Host: " + string(tg.Host.Append(nil, r)))
	}
	for _, f := range tg.Header {
		b.WriteString(" | " + f.Name + ": " + string(f.Value.Append(nil, r)))
	}
	if tg.Body != nil {
		b.WriteString(" | body " + string(tg.Body.Append(nil, r)))
	}
	return b.String()
}

func TestHTTPFormat(t *testing.T) {
	t.Parallel()
	text := "# a vegeta file\r\n" +
		"GET http://127.0.0.1:8080/a?x=1\r\n" +
		"X-Account-ID: 8675309\r\n" +
		"# a comment inside a target\r\n" +
		"Accept: text/plain\r\n" +
		"\r\n" +
		"\r\n" +
		"DELETE http://127.0.0.1:8080/things/1\r\n" +
		"Authorization: Token: DEADBEEF\r\n" +
		"GET http://127.0.0.1:8080/next-without-blank-line\n" +
		"\n" +
		"# name: create\n" +
		"# weight: 2.5\n" +
		"POST http://127.0.0.1:8080/things\n" +
		"Content-Type: application/json\n" +
		"Host: api.example\n" +
		"@thing.json\n" +
		"\n" +
		"POST http://127.0.0.1:8080/ä b" // no trailing newline, and a space: an error? no: see below
	_, err := Load(strings.NewReader(text), "t.txt", Options{ReadFile: files(map[string]string{"thing.json": `{"a":1}`})})
	if err == nil || err.Error() != `t.txt:19: bad URL "http://127.0.0.1:8080/ä b": a URL cannot hold white space` {
		t.Fatalf("a URL with a space: %v", err)
	}
	text = strings.TrimSuffix(text, " b")
	s, err := Load(strings.NewReader(text), "t.txt", Options{Pick: Weighted, ReadFile: files(map[string]string{"thing.json": `{"a":1}`})})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /a?x=1 | X-Account-ID: 8675309 | Accept: text/plain",
		"DELETE /things/1 | Authorization: Token: DEADBEEF",
		"GET /next-without-blank-line",
		`POST /things | Host: api.example | Content-Type: application/json | body {"a":1}`,
		"POST /%C3%A4",
	}
	if len(s.targets) != len(want) {
		t.Fatalf("%d targets, want %d", len(s.targets), len(want))
	}
	for i, w := range want {
		if got := sent(s, i); got != w {
			t.Errorf("target %d:\n got %s\nwant %s", i, got, w)
		}
	}
	if tg := s.targets[3]; tg.Name != "create" || tg.Weight != 2.5 || tg.Line != 14 {
		t.Errorf("named target: %q weight %v line %d", tg.Name, tg.Weight, tg.Line)
	}
	wantNames := []string{"GET /a", "DELETE /things/1", "GET /next-without-blank-line", "create", "POST /%C3%A4"}
	if got := s.Names(); strings.Join(got, "|") != strings.Join(wantNames, "|") {
		t.Errorf("names %q, want %q", got, wantNames)
	}
	if u := s.Server(); u.String() != "http://127.0.0.1:8080/" {
		t.Errorf("server %s", u)
	}
}

func TestJSONLines(t *testing.T) {
	t.Parallel()
	text := `# comments and blank lines are skipped

{"url": "http://h:81/a"}
{"name": "login", "method": "POST", "url": "http://h:81/login", "header": {"Content-Type": "application/json", "Accept": ["a", "b"]}, "body": "{\"n\": {{.seq}}}", "weight": 3}
{"method": "PUT", "url": "/relative", "body_base64": "e3t4fX0=", "weight": 1}
{"method": "POST", "url": "http://H:81/f", "body_file": "b.txt"}
`
	base := mustURL("http://h:81/ignored")
	s := load(t, text, Options{Base: base, ReadFile: files(map[string]string{"b.txt": "{{.seq}} raw"})})
	want := []string{
		"GET /a",
		`POST /login | Content-Type: application/json | Accept: a | Accept: b | body {"n": 0}`,
		"PUT /relative | body {{x}}", // base64 bodies are bytes, not templates
		"POST /f | body {{.seq}} raw",
	}
	for i, w := range want {
		if got := sent(s, i); got != w {
			t.Errorf("target %d:\n got %s\nwant %s", i, got, w)
		}
	}
	if s.Pick() != Weighted {
		t.Errorf("weights given, no --pick: pick %v, want weighted", s.Pick())
	}
	s = load(t, `{"url": "http://h/f", "method": "POST", "body_file": "b.txt"}`,
		Options{BodyTemplates: true, ReadFile: files(map[string]string{"b.txt": "n={{.seq}}"})})
	if got := sent(s, 0); got != "POST /f | body n=0" {
		t.Errorf("body templates: %s", got)
	}
}

func TestDefaultHeaders(t *testing.T) {
	t.Parallel()
	s := load(t, "GET http://h/a\nAccept: x\n\nGET http://h/b\n", Options{Header: [][2]string{{"Accept", "*/*"}, {"X-Run", "{{.seq}}"}}})
	if got := sent(s, 0); got != "GET /a | X-Run: 0 | Accept: x" {
		t.Errorf("a target's own field replaces -H's: %s", got)
	}
	if got := sent(s, 1); got != "GET /b | Accept: */* | X-Run: 0" {
		t.Errorf("-H fields: %s", got)
	}
}

func TestSingle(t *testing.T) {
	t.Parallel()
	s, err := Single("POST", "http://127.0.0.1:9/u/{{.seq}}?q={{randInt 1 1}}#frag", []byte(`{"id":{{.seq}}}`), true, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sent(s, 0); got != `POST /u/0?q=1 | body {"id":0}` {
		t.Errorf("got %s", got)
	}
	if _, err := Single("GET", "http://{{.seq}}/", nil, true, Options{}); err == nil || !strings.Contains(err.Error(), "templates are not allowed in the scheme or host") {
		t.Errorf("template in the host: %v", err)
	}
	if s.Source() != "" || s.Targets()[0].Name != "POST /u/{{.seq}}" {
		t.Errorf("source %q name %q", s.Source(), s.Targets()[0].Name)
	}
}

// TestBadInput: every rule is one error naming the file, the line and the
// problem.
// TestAnyMethod checks that a method outside the list (a cache's PURGE,
// a service's own) is sent as given, in both formats.
func TestAnyMethod(t *testing.T) {
	for _, text := range []string{
		"PURGE http://h/a\nBAN http://h/b\n",
		`{"method": "PURGE", "url": "http://h/a"}` + "\n" + `{"method": "BAN", "url": "http://h/b"}` + "\n",
	} {
		var got []string
		for _, tg := range load(t, text, Options{}).Targets() {
			got = append(got, tg.Method)
		}
		if want := []string{"PURGE", "BAN"}; !slices.Equal(got, want) {
			t.Errorf("%q: methods %q, want %q", text, got, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := testData(t, "user,note\nann,two words\n")
	rf := func(name string) ([]byte, error) {
		if name == "dir" {
			return os.ReadFile(dir)
		}
		return files(map[string]string{"ok.json": "{}"})(name)
	}
	for _, tc := range []struct{ text, want string }{
		{"", "t.txt: no targets"},
		{"# only comments\n\n", "t.txt: no targets"},
		{"get http://h/\n", `t.txt:1: method "get": methods are case-sensitive and upper case by convention (GET)`},
		{"CONNECT http://h/\n", "t.txt:1: method CONNECT is not supported"},
		{"GET\n", `t.txt:1: want a target's first line, METHOD URL, got "GET"`},
		{"GET \n", `t.txt:1: want a target's first line, METHOD URL`},
		{"X-A: b\n", `t.txt:1: want a target's first line, METHOD URL, got "X-A: b"`},
		{"GET http://h/\nX-A b\n", `t.txt:2: header line without a colon: "X-A b"`},
		{"GET http://h/\n: b\n", `t.txt:2: header with no name`},
		{"GET http://h/\nX A: b\n", `t.txt:2: bad header name "X A"`},
		{"GET http://h/\nContent-Length: 3\n", `t.txt:2: header Content-Length is set by gather from the body`},
		{"GET http://h/\nConnection: close\n", `t.txt:2: header Connection is set by gather`},
		{"GET http://h/\nHost: a\nHost: b\n", `t.txt:3: two Host fields`},
		{"POST http://h/\n@missing.json\n", "t.txt:2: body file: missing.json: file does not exist"},
		{"POST http://h/\n@dir\n", "t.txt:2: body file: " + dir + ": is a directory"},
		{"POST http://h/\n@\n", "t.txt:2: body line @ names no file"},
		{"POST http://h/\n@ok.json\nX-A: b\n", "t.txt:3: the body line @... ends a target"},
		{"GET http://h/{{.nope}}\n", "t.txt:1: URL: template: unknown field .nope: users.csv has no such column (it has user, note)"},
		{"GET http://h/\nX-A: {{.nope}}\n", "t.txt:2: header X-A: template: unknown field .nope"},
		{"GET http://h/{{.note}}\n", `t.txt:1: URL: field .note is "two words" at users.csv:2, and a URL cannot carry it as it is: write {{urlquery .note}}`},
		{"GET http://h/{{urlquery .note}}\nGET http://h/{{if 1}}{{end}}\n", "t.txt:2: URL: template: {{if 1}}{{end}} is not supported"},
		{"GET http://h/\nGET http://other/\n", "t.txt:2: http://other is not the run's server http://h: every target of a run goes to one server"},
		{"GET http://h/\nGET https://h/\n", "t.txt:2: https://h is not the run's server http://h"},
		{"GET http://h:80/\nGET http://H/x\n", ""}, // the same server
		{"GET ftp://h/\n", `t.txt:1: bad URL "ftp://h/": scheme must be http or https`},
		{"GET http://u:p@h/\n", "credentials in URLs are not sent"},
		{"GET http://h:99999/\n", `bad port "99999"`},
		{"GET http:///x\n", "no host"},
		{"GET /x\n", `t.txt:1: URL "/x" is a path: give an absolute URL, or the server as bench's URL argument`},
		{"GET http://h/%zz\n", `t.txt:1: bad URL "http://h/%zz": invalid URL escape "%zz"`},
		{"GET h/x\n", `t.txt:1: bad URL "h/x": want http://host[:port]/path`},
		{"# name: a\n# name: b\nGET http://h/\n", `t.txt:2: a second name for one target (the first is "a")`},
		{"# weight: -1\nGET http://h/\n", `t.txt:1: weight "-1": want a positive number up to 1e12`},
		{"# weight: x\nGET http://h/\n", `t.txt:1: weight "x": want a positive number up to 1e12`},
		{"GET http://h/\n# name: dangling\n", "t.txt:2: a name or weight with no target after it"},
		{"# weight: 2\nGET http://h/\n", ""},
		{`{"url": "http://h/", "bogus": 1}`, `t.txt:1: not a target object: unknown field "bogus" (want name, method, url`},
		{`{"method": "GET"}`, "t.txt:1: no url"},
		{`{"url": "http://h/", "method": ""}`, "t.txt:1: empty method"},
		{`{"url": "http://h/", "method": "GE T"}`, `t.txt:1: bad method "GE T": a method is a token`},
		{`{"url": "http://h/", "method": "post"}`, `t.txt:1: method "post": methods are case-sensitive`},
		{`{"url": "http://h/"}` + "\n{\"url\": 3}", "t.txt:2: not a target object: cannot unmarshal number"},
		{`{"url": "http://h/"} {"url": "http://h/"}`, "t.txt:1: more than one JSON value on the line"},
		{`{"url": "http://h/", "header": {"A": 1}}`, "t.txt:1: header: A: want a string or a list of strings, got 1"},
		{`{"url": "http://h/", "header": {"A": []}}`, "t.txt:1: header: A: an empty list"},
		{`{"url": "http://h/", "header": ["A"]}`, "t.txt:1: header: want an object"},
		{`{"url": "http://h/", "header": {"A": "x\r\nB: y"}}`, "t.txt:1: header A: a value cannot hold a line break or NUL"},
		{`{"url": "http://h/", "body": "a", "body_file": "ok.json"}`, "t.txt:1: more than one of body, body_base64 and body_file"},
		{`{"url": "http://h/", "body_base64": "!!"}`, "t.txt:1: body_base64: illegal base64"},
		{`{"url": "http://h/", "body_file": "missing"}`, "t.txt:1: body file: missing: file does not exist"},
		{`{"url": "http://h/", "body": "{{.nope}}"}`, "t.txt:1: body: template: unknown field .nope"},
		{`{"url": "http://h/", "weight": 0}`, "t.txt:1: weight 0: want a positive number up to 1e12"},
		{`{"url": "http://h/", "weight": -2}`, "t.txt:1: weight -2: want a positive number up to 1e12"},
		{`{"url": "http://h/", "weight": 1e300}`, "t.txt:1: weight 1e+300: want a positive number up to 1e12"},
		{"{\"url\": \"http://h/\"\n", "t.txt:1: not a target object: unexpected EOF"},
	} {
		_, err := Load(strings.NewReader(tc.text), "t.txt", Options{Data: data, ReadFile: rf})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.text, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q:\n got %v\nwant %s", tc.text, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%q: a multi-line error: %q", tc.text, err)
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Errorf("%q: %T is not an *Error", tc.text, err)
		}
	}
}

func TestPickRules(t *testing.T) {
	t.Parallel()
	weighted := "# weight: 2\nGET http://h/a\n\nGET http://h/b\n"
	for _, tc := range []struct {
		text string
		pick Pick
		want Pick
		err  string
	}{
		{"GET http://h/a\n", PickDefault, RoundRobin, ""},
		{weighted, PickDefault, Weighted, ""},
		{weighted, Weighted, Weighted, ""},
		{weighted, RoundRobin, 0, "t.txt:2: a weight has no effect with --pick round-robin"},
		{weighted, Random, 0, "t.txt:2: a weight has no effect with --pick random"},
		{"GET http://h/a\n", Random, Random, ""},
		{"GET http://h/a\n", Weighted, Weighted, ""},
	} {
		s, err := Load(strings.NewReader(tc.text), "t.txt", Options{Pick: tc.pick})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: got %v, want %s", tc.pick, err, tc.err)
			}
			continue
		}
		if err != nil || s.Pick() != tc.want {
			t.Errorf("%v: got %v %v, want %v", tc.pick, s, err, tc.want)
		}
	}
	for _, s := range []string{"round-robin", "random", "weighted"} {
		if p, err := ParsePick(s); err != nil || p.String() != s {
			t.Errorf("ParsePick(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParsePick("default"); err == nil {
		t.Error("ParsePick(default) succeeded")
	}
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	s := load(t, "GET http://h/0\nGET http://h/1\nGET http://h/2\n", Options{})
	r := s.NewRequest()
	for seq := range int64(9) {
		r.Next(seq, time.Time{})
		if r.Target.Index() != int(seq%3) {
			t.Fatalf("seq %d took target %d", seq, r.Target.Index())
		}
	}
}

// TestWeightedPick: counts within a binomial bound over many draws (the
// server-side count is in loadgen's tests).
func TestWeightedPick(t *testing.T) {
	t.Parallel()
	for _, weights := range [][]float64{{1, 2, 7}, {5}, {0.001, 1000}, {3, 3, 3, 1}} {
		var text strings.Builder
		var sum float64
		for i, w := range weights {
			text.WriteString("# weight: " + ftoa(w) + "\nGET http://h/" + ftoa(float64(i)) + "\n\n")
			sum += w
		}
		s := load(t, text.String(), Options{})
		r := s.NewRequest()
		const n = 200_000
		counts := make([]int, len(weights))
		for seq := range int64(n) {
			r.Next(seq, time.Time{})
			counts[r.Target.Index()]++
		}
		for i, w := range weights {
			p := w / sum
			mean, sd := n*p, math.Sqrt(n*p*(1-p))
			if math.Abs(float64(counts[i])-mean) > 5*sd+1 {
				t.Errorf("weights %v: target %d drawn %d times, want %.0f ± %.0f", weights, i, counts[i], mean, 5*sd)
			}
		}
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func TestRandomPickAndRows(t *testing.T) {
	t.Parallel()
	data := testData(t, "n\n0\n1\n2\n3\n")
	s := load(t, "GET http://h/a/{{.n}}\nGET http://h/b/{{.n}}\n", Options{Pick: Random, Data: data, RowPick: RandomRow})
	r := s.NewRequest()
	seen := map[string]int{}
	for seq := range int64(4000) {
		r.Next(seq, time.Time{})
		seen[string(r.Target.Path.Append(nil, r))]++
	}
	if len(seen) != 8 {
		t.Fatalf("random targets and rows: %d combinations, want 8: %v", len(seen), seen)
	}
	for k, c := range seen {
		if c < 350 || c > 650 { // mean 500, sd 21
			t.Errorf("%s drawn %d times of 4000", k, c)
		}
	}
	s = load(t, "GET http://h/{{.n}}\n", Options{Data: data})
	r = s.NewRequest()
	for seq := range int64(8) {
		r.Next(seq, time.Time{})
		if got, want := string(r.Target.Path.Append(nil, r)), "/"+ftoa(float64(seq%4)); got != want {
			t.Errorf("cycled rows: seq %d got %s want %s", seq, got, want)
		}
	}
}

func TestNamesCap(t *testing.T) {
	t.Parallel()
	var text strings.Builder
	for i := range MaxNames + 50 {
		text.WriteString("GET http://h/" + ftoa(float64(i)) + "\n")
	}
	s := load(t, text.String(), Options{})
	names := s.Names()
	if len(names) != MaxNames+1 || names[MaxNames] != OtherName {
		t.Fatalf("%d names, last %q", len(names), names[len(names)-1])
	}
	for i, tg := range s.Targets() {
		if want := min(i, MaxNames); tg.NameID() != want {
			t.Fatalf("target %d has name %d, want %d", i, tg.NameID(), want)
		}
	}
}

func TestBodyFilesReadOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := filepath.Join(dir, "b.json")
	if err := os.WriteFile(body, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	reads := 0
	rf := func(name string) ([]byte, error) { reads++; return os.ReadFile(name) }
	s := load(t, strings.Repeat("POST http://h/\n@"+body+"\n\n", 50), Options{ReadFile: rf})
	if reads != 1 || len(s.Targets()) != 50 {
		t.Errorf("%d reads for 50 targets of one body file", reads)
	}
	if &s.Targets()[0].Body.lit[0] != &s.Targets()[49].Body.lit[0] {
		t.Error("the targets do not share the body's bytes")
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
