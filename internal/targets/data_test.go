package targets

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestLoadData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		cols       string
		rows       []string // each row's values joined by "|"
	}{
		{"u.csv", "user,pass\nann,\"a,b\"\n\nbob,\"x\"\"y\"\n", "user|pass", []string{"ann|a,b", "bob|x\"y"}},
		{"u.csv", "\uFEFFuser\r\nann\r\n", "user", []string{"ann"}},
		{"u.jsonl", `{"user": "ann", "id": 1, "ok": true}` + "\n\n" + `{"id": 2.5, "ok": false, "user": "b\u00e9"}`,
			"id|ok|user", []string{"1|true|ann", "2.5|false|bé"}},
		{"sniffed", ` {"a": "x"}`, "a", []string{"x"}},
		{"sniffed", "a\nx\n", "a", []string{"x"}},
	} {
		d, err := LoadData(strings.NewReader(tc.text), tc.name, DataOptions{})
		if err != nil {
			t.Errorf("%s %q: %v", tc.name, tc.text, err)
			continue
		}
		if got := strings.Join(d.Columns(), "|"); got != tc.cols {
			t.Errorf("%q: columns %s, want %s", tc.text, got, tc.cols)
		}
		if d.Rows() != len(tc.rows) {
			t.Errorf("%q: %d rows, want %d", tc.text, d.Rows(), len(tc.rows))
			continue
		}
		for r, want := range tc.rows {
			var vals []string
			for c := range d.Columns() {
				vals = append(vals, string(d.value(r, c)))
			}
			if got := strings.Join(vals, "|"); got != want {
				t.Errorf("%q row %d: %s, want %s", tc.text, r, got, want)
			}
		}
	}
}

func TestLoadDataErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, text, format, want string }{
		{"u.csv", "a,b\n1,2\n3\n", "", "u.csv:3: the row has a different number of fields than the header's 2"},
		{"u.csv", "a,b\n1,2,3\n", "", "u.csv:2: the row has a different number of fields"},
		{"u.csv", "a\n", "", "u.csv: no rows of data"},
		{"u.csv", "", "", "u.csv: no rows of data"},
		{"u.csv", "a,a\n1,2\n", "", `u.csv:1: two columns are named "a"`},
		{"u.csv", "a,\n1,2\n", "", "u.csv:1: column 2 has no name"},
		{"u.csv", "seq\n1\n", "", `u.csv:1: column "seq" has the name of the built-in field {{.seq}}`},
		{"u.csv", "a\n\"x\n", "", "u.csv:2: extraneous or missing \" in quoted-field"},
		{"u.jsonl", `{"a": 1}` + "\n" + `{"b": 1}`, "", `u.jsonl:2: field "b" is not on the first row (line 1)`},
		{"u.jsonl", `{"a": 1, "b": 2}` + "\n" + `{"a": 1}`, "", `u.jsonl:2: field "b" is missing (the first row has it)`},
		{"u.jsonl", `{"a": 1}` + "\n" + `{"a": 1, "b": 2}`, "", `u.jsonl:2: field "b" is not on the first row`},
		{"u.jsonl", `{"a": [1]}`, "", `u.jsonl:1: field "a": an array is not a string, number or boolean`},
		{"u.jsonl", `{"a": {"b": 1}}`, "", `u.jsonl:1: field "a": an object is not`},
		{"u.jsonl", `{"a": null}`, "", `u.jsonl:1: field "a": null is not`},
		{"u.jsonl", `{}`, "", "u.jsonl:1: the object has no fields"},
		{"u.jsonl", `[1]`, "", "u.jsonl:1: not a JSON object"},
		{"u.jsonl", `{"time": 1}`, "", `column "time" has the name of the built-in field`},
		{"u.jsonl", "\n\n", "", "u.jsonl: no rows of data"},
		{"u.txt", "a\n1\n", "xml", `u.txt: unknown data format "xml"`},
	} {
		_, err := LoadData(strings.NewReader(tc.text), tc.name, DataOptions{Format: tc.format})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q:\n got %v\nwant %s", tc.name, tc.text, err, tc.want)
		}
	}
	_, err := LoadData(strings.NewReader(`{"a": "`+strings.Repeat("x", maxLine)+`"}`), "big.jsonl", DataOptions{})
	if err == nil || !strings.Contains(err.Error(), "big.jsonl:1: line longer than") {
		t.Errorf("a long line: %v", err)
	}
	_, err = LoadData(iotestErr{}, "broken.csv", DataOptions{})
	if err == nil || !strings.Contains(err.Error(), "broken.csv: boom") {
		t.Errorf("a read error: %v", err)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("boom") }

// FuzzLoad: no input makes Load panic; an error is one line, an *Error
// naming a line of the input; a set renders requests that an HTTP/1.1
// request line and header block can carry.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"GET http://h/\nX-A: b\n\nPOST http://h/x\n@b.json\n",
		"# name: a\n# weight: 2\nGET http://h:8/{{.seq}}?r={{randInt 1 9}}\r\n",
		`{"url": "http://h/", "header": {"A": ["b", "c"]}, "body": "{{uuid}}", "weight": 2}`,
		`{"name": "n", "method": "PUT", "url": "/x", "body_base64": "AA=="}`,
		"GET http://h/{{.time}}\nGET http://h/{{urlquery .unix}}\n",
		"get http://h/\n", "GET\n", "GET http://h/{{if}}\n", "{\n",
	} {
		f.Add(s)
	}
	base := mustURL("http://base:1/")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Load(strings.NewReader(text), "f.txt", Options{Base: base, ReadFile: files(map[string]string{"b.json": "{{.seq}}"})})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%T: %v", err, err)
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			if lines := strings.Count(text, "\n") + 1; e.Line < 0 || e.Line > lines {
				t.Fatalf("error at line %d of %d: %v", e.Line, lines, err)
			}
			return
		}
		r := s.NewRequest()
		for i, tg := range s.Targets() {
			r.Next(int64(i), time.Now())
			r.Target = tg
			path := tg.Path.Append(nil, r)
			if len(path) == 0 || path[0] != '/' || bytes.ContainsAny(path, " \t\r\n") {
				t.Fatalf("target %d: request-target %q", i, path)
			}
			for _, h := range append(tg.Header, Field{"Host", tg.Host}) {
				if v := h.Value.Append(nil, r); bytes.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("target %d: header %s: %q", i, h.Name, v)
				}
			}
			if checkHeaderName(tg.Method) != nil {
				t.Fatalf("method %q", tg.Method)
			}
			tg.Body.Append(nil, r)
		}
	})
}

// BenchmarkLoad100k measures what 100,000 targets cost to read and keep:
// the heap they hold, per target, is reported as B/target.
func BenchmarkLoad100k(b *testing.B) {
	var text bytes.Buffer
	for i := range 100_000 {
		fmt.Fprintf(&text, "GET http://127.0.0.1:8080/items/%d?color=blue\nAccept: application/json\nX-Trace: {{uuid}}\n\n", i)
	}
	b.SetBytes(int64(text.Len()))
	var held uint64
	for range b.N {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		s, err := Load(bytes.NewReader(text.Bytes()), "t.txt", Options{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		held = m1.HeapAlloc - m0.HeapAlloc
		runtime.KeepAlive(s)
	}
	b.ReportMetric(float64(held)/100_000, "B/target")
}
