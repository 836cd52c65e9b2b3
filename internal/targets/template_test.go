package targets

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// render compiles text against data and renders it for request seq.
func render(t *testing.T, text string, data *Data, seq int64) string {
	t.Helper()
	tpl, err := compileTemplate(text, data)
	if err != nil {
		t.Fatalf("compile %q: %v", text, err)
	}
	s := &Set{targets: []*Target{{}}, data: data, pick: RoundRobin}
	r := s.NewRequest()
	r.Next(seq, time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.FixedZone("x", 3600)))
	return string(tpl.Append(nil, r))
}

func testData(t *testing.T, text string) *Data {
	t.Helper()
	d, err := LoadData(strings.NewReader(text), "users.csv", DataOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTemplateFields(t *testing.T) {
	t.Parallel()
	data := testData(t, "user,pass\nann,a b&c\nbob,x\n")
	for _, tc := range []struct {
		text, want string
		seq        int64
	}{
		{"/plain", "/plain", 0},
		{"/item/{{.seq}}", "/item/42", 42},
		{"{{.time}}", "2025-03-04T04:06:07.891Z", 0},
		{"{{.unix}}", "1741061167", 0},
		{"{{.unix_ms}}", "1741061167891", 0},
		{"u={{.user}}&p={{.pass}}", "u=ann&p=a b&c", 0},
		{"u={{.user}}&p={{.pass}}", "u=bob&p=x", 1},
		{"u={{.user}}", "u=ann", 2}, // cycled
		{"p={{urlquery .pass}}", "p=a+b%26c", 0},
		{"p={{.pass | urlquery}}", "p=a+b%26c", 0},
		{"t={{urlquery .time}}", "t=2025-03-04T04%3A06%3A07.891Z", 0},
		{`{{"{{"}}x}}`, "{{x}}", 0},
		{"{{/* a comment */}}x", "x", 0},
		{"a {{- .seq -}} b", "a7b", 7},
		{"{{randInt 5 5}}", "5", 0},
	} {
		if got := render(t, tc.text, data, tc.seq); got != tc.want {
			t.Errorf("%q at seq %d: got %q, want %q", tc.text, tc.seq, got, tc.want)
		}
	}
}

func TestTemplateRandom(t *testing.T) {
	t.Parallel()
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	tpl, err := compileTemplate("{{randInt -3 3}} {{uuid}}", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := (&Set{targets: []*Target{{}}}).NewRequest()
	seen := map[int]int{}
	uuids := map[string]bool{}
	for range 2000 {
		f := strings.Fields(string(tpl.Append(nil, r)))
		n, err := strconv.Atoi(f[0])
		if err != nil || n < -3 || n > 3 {
			t.Fatalf("randInt -3 3 gave %q", f[0])
		}
		seen[n]++
		if !uuidRE.MatchString(f[1]) {
			t.Fatalf("not a version 4 UUID: %q", f[1])
		}
		uuids[f[1]] = true
	}
	if len(seen) != 7 {
		t.Errorf("randInt -3 3 took %d of the 7 values in 2000 draws: %v", len(seen), seen)
	}
	if len(uuids) != 2000 {
		t.Errorf("%d distinct UUIDs in 2000", len(uuids))
	}
}

func TestTemplateErrors(t *testing.T) {
	t.Parallel()
	data := testData(t, "user\nann\n")
	for _, tc := range []struct{ text, want string }{
		{"{{.nope}}", "unknown field .nope: users.csv has no such column (it has user)"},
		{"{{.a.b}}", "nested fields"},
		{"{{if .seq}}x{{end}}", "is not supported"},
		{"{{range .seq}}{{end}}", "is not supported"},
		{"{{$x := .seq}}", "variables are not supported"},
		{"{{printf \"%d\" .seq}}", `function "printf" not defined`},
		{"{{randInt 1}}", "want randInt MIN MAX"},
		{"{{randInt 1 x}}", `function "x" not defined`},
		{"{{randInt 9 1}}", "want MIN <= MAX"},
		{"{{randInt 1.5 2}}", "want randInt MIN MAX"},
		{"{{uuid 3}}", "uuid takes no arguments"},
		{"{{urlquery}}", "urlquery needs one value"},
		{"{{.seq | uuid}}", "only a value"},
		{"{{.seq", "unclosed action"},
		{"{{define \"x\"}}a{{end}}", "not supported"},
		{"{{.seq 1}}", "takes no arguments"},
		{"{{3}}", "is not supported"},
	} {
		_, err := compileTemplate(tc.text, data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
	if _, err := compileTemplate("{{.user}}", nil); err == nil || !strings.Contains(err.Error(), "no data file was given (--data)") {
		t.Errorf("a field without a data file: %v", err)
	}
	// The line of a multi-line template.
	_, err := compileTemplate("a\nb\n{{.nope}}", nil)
	if te, ok := err.(*templateError); !ok || te.line != 3 {
		t.Errorf("error on line 3: got %#v", err)
	}
}

func TestQueryEscapeAsNetURL(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a b", "ä/ö?&=#+%", "\x00\x7f\xff", "~-._"} {
		if got, want := string(appendQueryEscaped(nil, []byte(s))), url.QueryEscape(s); got != want {
			t.Errorf("%q: got %q, want %q", s, got, want)
		}
	}
}

func TestJoin(t *testing.T) {
	t.Parallel()
	seq, _ := compileTemplate("{{.seq}}", nil)
	j := Join(Literal([]byte("a")), nil, Literal([]byte("b")), seq, Literal([]byte("c")))
	if _, ok := j.Static(); ok || len(j.segs) != 3 || j.Needs() != NeedsSeq {
		t.Fatalf("join: %+v", j)
	}
	r := (&Set{targets: []*Target{{}}}).NewRequest()
	r.Next(9, time.Time{})
	if got := string(j.Append(nil, r)); got != "ab9c" {
		t.Errorf("got %q", got)
	}
	if b, ok := Join(Literal([]byte("x")), Literal([]byte("y"))).Static(); !ok || string(b) != "xy" {
		t.Errorf("static join: %q %v", b, ok)
	}
	if b, ok := Join().Static(); !ok || len(b) != 0 {
		t.Errorf("empty join: %q %v", b, ok)
	}
}

// TestRenderAllocs: a connection that reuses its buffer renders with no
// allocation, whatever the template draws on.
func TestRenderAllocs(t *testing.T) {
	data := testData(t, "user,pass\nann,a b\nbob,c\n")
	tpl, err := compileTemplate("/u/{{.seq}}/{{.user}}?p={{urlquery .pass}}&r={{randInt 1 1000}}&id={{uuid}}&t={{urlquery .time}}&ms={{.unix_ms}}", data)
	if err != nil {
		t.Fatal(err)
	}
	s := &Set{targets: []*Target{{}, {}}, data: data, pick: Weighted, alias: newAlias([]float64{1, 2})}
	r := s.NewRequest()
	buf := make([]byte, 0, 512)
	now := time.Now()
	seq := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		r.Next(seq, now)
		buf = tpl.Append(buf[:0], r)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per render, want 0", allocs)
	}
}

func BenchmarkRender(b *testing.B) {
	tpl, _ := compileTemplate("/items/{{.seq}}?r={{randInt 1 1000}}", nil)
	r := (&Set{targets: []*Target{{}}}).NewRequest()
	buf := make([]byte, 0, 256)
	now := time.Now()
	b.ReportAllocs()
	for i := range b.N {
		r.Next(int64(i), now)
		buf = tpl.Append(buf[:0], r)
	}
}

// TestUUIDLayout: the digits of hi and lo in order, the version and
// variant set, the dashes where RFC 9562 puts them.
func TestUUIDLayout(t *testing.T) {
	t.Parallel()
	got := string(appendUUID([]byte("x"), 0x0123456789abcdef, 0xfedcba9876543210))
	if want := "x01234567-89ab-4def-bedc-ba9876543210"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func BenchmarkUUID(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := range b.N {
		buf = appendUUID(buf[:0], uint64(i), uint64(i)*7)
	}
}

func TestAppendIntAsStrconv(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{0, 9, 10, 99, 100, 101, 12345, -1, -10, -987654321, 1<<63 - 1, -1 << 63, 1741061167891} {
		if got, want := string(appendInt([]byte("x"), v)), "x"+strconv.FormatInt(v, 10); got != want {
			t.Errorf("%d: got %s, want %s", v, got, want)
		}
	}
}
