package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer answers /status/N with N, /slow after 20 ms, anything
// else with 200, and counts the requests.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		switch {
		case strings.HasPrefix(r.URL.Path, "/status/5"):
			w.WriteHeader(503)
		case r.URL.Path == "/slow":
			time.Sleep(20 * time.Millisecond)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// runGather runs the command line and returns its exit status and output.
func runGather(t *testing.T, stdin string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(args, strings.NewReader(stdin), &out, &errOut)
	return status, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBenchTargetsBadInput: every bad targets or data file, template or
// threshold is one line naming the file, the line and the problem, exit
// status 2, before any request.
func TestBenchTargetsBadInput(t *testing.T) {
	srv, requests := countingServer(t)
	dir := t.TempDir()
	u := srv.URL
	writeFile(t, dir, "users.csv", "user,pass\nann,1\nbob\n")
	writeFile(t, dir, "good.csv", "user\nann\n")
	file := func(name, text string) string { return writeFile(t, dir, name, text) }
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string // the whole of stderr, as a regexp
	}{
		{"lower-case method", "", []string{"--targets", file("m.txt", "purge "+u+"/\n")}, `^gather: bench: .*m\.txt:1: method "purge": methods are case-sensitive and upper case by convention \(PURGE\)$`},
		{"no URL", "", []string{"--targets", file("nourl.txt", "GET\n")}, `^gather: bench: .*nourl\.txt:1: want a target's first line, METHOD URL, got "GET"$`},
		{"no URL in JSON", "", []string{"--targets", file("nourl.jsonl", `{"method": "GET"}`)}, `^gather: bench: .*nourl\.jsonl:1: no url$`},
		{"header without a colon", "", []string{"--targets", file("h.txt", "GET "+u+"/\n\nGET "+u+"/a\nX-Trace abc\n")}, `^gather: bench: .*h\.txt:4: header line without a colon: "X-Trace abc"$`},
		{"missing body file", "", []string{"--targets", file("b.txt", "POST "+u+"/\n@"+dir+"/nope.json\n")}, `^gather: bench: .*b\.txt:2: body file: .*nope\.json: no such file or directory$`},
		{"body file a directory", "", []string{"--targets", file("d.txt", "POST "+u+"/\n@"+dir+"\n")}, `^gather: bench: .*d\.txt:2: body file: .*: is a directory$`},
		{"unknown template field", "", []string{"--targets", file("f.txt", "GET "+u+"/{{.nope}}\n"), "--data", filepath.Join(dir, "good.csv")}, `^gather: bench: .*f\.txt:1: URL: template: unknown field \.nope: .*good\.csv has no such column \(it has user\)$`},
		{"field without data", "", []string{u + "/{{.user}}"}, `^gather: bench: URL: template: unknown field \.user: no data file was given \(--data\)$`},
		{"ragged data", "", []string{"--data", filepath.Join(dir, "users.csv"), u + "/{{.user}}"}, `^gather: bench: .*users\.csv:3: the row has a different number of fields than the header's 2$`},
		{"missing data", "", []string{"--data", filepath.Join(dir, "nope.csv"), u + "/"}, `^gather: bench: --data: open .*nope\.csv: no such file or directory$`},
		{"data no template uses", "", []string{"--data", filepath.Join(dir, "good.csv"), u + "/"}, `^gather: bench: --data .*good\.csv: no template uses its fields \(such as \{\{\.user\}\} in the URL, a header or the body\)$`},
		{"data the targets do not use", "", []string{"--targets", filepath.Join(dir, "ok.txt"), "--data", filepath.Join(dir, "good.csv")}, `^gather: bench: --data .*good\.csv: no template uses its fields`},
		{"body templates without a body", "", []string{"--body-templates", u + "/"}, `^gather: bench: --body-templates needs a body file to treat as a template \(-D FILE\)$`},
		{"missing targets", "", []string{"--targets", filepath.Join(dir, "nope.txt")}, `^gather: bench: --targets: open .*nope\.txt: no such file or directory$`},
		{"targets a directory", "", []string{"--targets", dir}, `^gather: bench: --targets .*: is a directory$`},
		{"stdin, bad line", "GET " + u + "/\nnot a line\n", []string{"--targets", "-"}, `^gather: bench: stdin:2: header line without a colon: "not a line"$`},
		{"empty stdin", "", []string{"--targets", "-"}, `^gather: bench: stdin: no targets$`},
		{"both on stdin", "", []string{"--targets", "-", "--data", "-"}, `^gather: bench: --targets and --data cannot both read stdin$`},
		{"-m with targets", "", []string{"--targets", file("ok.txt", "GET "+u+"/\n"), "-m", "POST"}, `^gather: bench: -m cannot be used with --targets: each target has its own \(give it in the file\)$`},
		{"-d with targets", "", []string{"--targets", filepath.Join(dir, "ok.txt"), "-d", "x"}, `^gather: bench: -d cannot be used with --targets`},
		{"--pick without targets", "", []string{"--pick", "random", u + "/"}, `^gather: bench: --pick needs --targets$`},
		{"bad pick", "", []string{"--targets", filepath.Join(dir, "ok.txt"), "--pick", "fair"}, `^gather: bench: --pick: unknown pick "fair": want round-robin, random or weighted$`},
		{"weights and round-robin", "", []string{"--targets", file("w.jsonl", `{"url": "`+u+`/", "weight": 2}`), "--pick", "round-robin"}, `^gather: bench: .*w\.jsonl:1: a weight has no effect with --pick round-robin: use --pick weighted, or leave --pick out$`},
		{"two servers", "", []string{"--targets", file("two.txt", "GET "+u+"/\nGET http://127.0.0.1:1/\n")}, `^gather: bench: .*two\.txt:2: http://127\.0\.0\.1:1 is not the run's server .*: every target of a run goes to one server$`},
		{"a path without a server", "", []string{"--targets", file("rel.txt", "GET /x\n")}, `^gather: bench: .*rel\.txt:1: URL "/x" is a path: give an absolute URL, or the server as bench's URL argument$`},
		{"bad threshold", "", []string{"--threshold", "p99<fast", u + "/"}, `^gather: bench: threshold "p99<fast": want a duration with a unit after <, such as 250ms or 1\.5s; got "fast"$`},
		{"unknown measure", "", []string{"--threshold", "latency<1s", u + "/"}, `^gather: bench: threshold "latency<1s": unknown measure "latency" \(want .*\)$`},
		{"bad percentile", "", []string{"--threshold", "p99x<1s", u + "/"}, `^gather: bench: threshold "p99x<1s": percentile "p99x": want p and a number above 0 and up to 100, such as p99 or p99\.9$`},
		{"unknown target", "", []string{"--targets", filepath.Join(dir, "ok.txt"), "--threshold", "login:p99<1s"}, `^gather: bench: threshold "login:p99<1s": no target is named "login" \(the names are "GET /"\)$`},
		{"achieved, closed", "", []string{"--threshold", "achieved>=99%", u + "/"}, `^gather: bench: threshold "achieved>=99%": achieved is a measure of the open model \(-q\); this run is closed$`},
		{"abort without thresholds", "", []string{"--abort-on-fail", u + "/"}, `^gather: bench: --abort-on-fail needs a --threshold$`},
		{"abort, nothing to judge early", "", []string{"--abort-on-fail", "--threshold", "mean<1s", u + "/"}, `^gather: bench: --abort-on-fail: none of the thresholds can be judged before the run ends`},
		{"junit without thresholds", "", []string{"--junit", filepath.Join(dir, "j.xml"), u + "/"}, `^gather: bench: --junit needs a --threshold to report$`},
		{"unwritable junit", "", []string{"--junit", filepath.Join(dir, "no/such/j.xml"), "--threshold", "p99<1s", u + "/"}, `^gather: bench: --junit: cannot create .*: no such file or directory$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := requests.Load()
			status, stdout, stderr := runGather(t, tc.stdin, append([]string{"bench", "-n", "5"}, tc.args...)...)
			if status != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !regexp.MustCompile(tc.want).MatchString(strings.TrimSuffix(stderr, "\n")) {
				t.Errorf("exit status %d, stdout %q, stderr:\n%s\nwant status 2 and one line matching %s", status, stdout, stderr, tc.want)
			}
			if n := requests.Load() - before; n != 0 {
				t.Errorf("%d requests were sent", n)
			}
		})
	}
}

// TestBenchThresholds: each kind of threshold passing and failing, the
// Thresholds block, the exit status (3 for a failed threshold, 0 when all
// pass), JSON, and JUnit XML that parses.
func TestBenchThresholds(t *testing.T) {
	srv, _ := countingServer(t)
	dir := t.TempDir()
	targets := writeFile(t, dir, "api.txt", "# name: home\nGET "+srv.URL+"/\n\n# name: slow\nGET "+srv.URL+"/slow\n\n# name: down\nGET "+srv.URL+"/status/503\n")
	pass := []string{"p50<10s", "p99.9<=10s", "mean<10s", "max<10s", "min>=0s", "errors<1%", "errors==0", "status5xx<=34%",
		"status503>=10", "rps>1", "home:p99<10s", "slow:p50>=20ms", "down:status5xx>=100%", "home:errors==0", "home:rps>0.1"}
	fail := []string{"p50>10s", "errors>0", "status5xx<1%", "status2xx>=99%", "rps>1e9", "slow:p50<1ms", "down:status5xx<1%"}
	args := []string{"bench", "-n", "60", "-c", "3", "--targets", targets}
	for _, p := range pass {
		args = append(args, "--threshold", p)
	}
	status, stdout, stderr := runGather(t, "", args...)
	if status != 0 || !strings.Contains(stdout, "\nThresholds     all 15 passed\n") {
		t.Fatalf("all passing: exit status %d, stderr %q\n%s", status, stderr, stdout)
	}
	junit := filepath.Join(dir, "t.xml")
	args = append(args, "--junit", junit, "-o", "json")
	for _, f := range fail {
		args = append(args, "--threshold", f)
	}
	status, stdout, stderr = runGather(t, "", args...)
	if status != 3 {
		t.Fatalf("exit status %d, want 3; stderr %q", status, stderr)
	}
	var rep struct {
		Targets []struct {
			Name     string
			Requests int64
		}
		Thresholds []struct {
			Expr     string
			Pass     bool
			Measured string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Targets) != 3 || rep.Targets[1].Name != "slow" || rep.Targets[1].Requests != 20 {
		t.Errorf("targets: %+v", rep.Targets)
	}
	if len(rep.Thresholds) != len(pass)+len(fail) {
		t.Fatalf("%d verdicts", len(rep.Thresholds))
	}
	for i, v := range rep.Thresholds {
		if want := i < len(pass); v.Pass != want {
			t.Errorf("%s: pass %v, want %v (measured %s)", v.Expr, v.Pass, want, v.Measured)
		}
	}
	for _, f := range fail {
		if !strings.Contains(stderr, "gather: bench: threshold "+f+" failed: measured ") {
			t.Errorf("stderr does not name %s:\n%s", f, stderr)
		}
	}
	checkJUnit(t, junit, len(pass)+len(fail), len(fail))
}

func checkJUnit(t *testing.T, path string, tests, failures int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JUnit XML does not parse: %v\n%s", err, b)
	}
	failed := 0
	for _, c := range doc.Suites[0].Cases {
		if c.Failure != nil {
			failed++
		}
	}
	if doc.Tests != tests || doc.Failures != failures || len(doc.Suites[0].Cases) != tests || failed != failures {
		t.Errorf("JUnit: %d tests, %d failures (%d cases, %d failed); want %d and %d", doc.Tests, doc.Failures,
			len(doc.Suites[0].Cases), failed, tests, failures)
	}
}

// TestAbortOnFail: a threshold failed beyond doubt stops a long run soon,
// with exit status 3, and the report covers what was done.
func TestAbortOnFail(t *testing.T) {
	srv, _ := countingServer(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"statistical", []string{"-z", "60s", "--threshold", "status5xx<1%", srv.URL + "/status/503"}},
		{"certain, with -n", []string{"-n", "100000000", "--threshold", "errors<10%", "--threshold", "status2xx>=99%", srv.URL + "/status/503"}},
		{"a count", []string{"-z", "60s", "--threshold", "status503<5", srv.URL + "/status/503"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			status, stdout, stderr := runGather(t, "", append([]string{"bench", "-c", "2", "--abort-on-fail"}, tc.args...)...)
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("the run took %v: it was not stopped", took)
			}
			if status != 3 || !strings.Contains(stdout, "WARNING: the run was stopped early: --abort-on-fail: threshold") ||
				!strings.Contains(stdout, "failed") || !strings.Contains(stderr, "failed: measured") {
				t.Errorf("exit status %d; stderr %q\n%s", status, stderr, stdout)
			}
		})
	}
	// A threshold that holds does not stop the run.
	status, stdout, _ := runGather(t, "", "bench", "-c", "2", "-z", "1s", "--abort-on-fail", "--threshold", "status5xx<1%", srv.URL+"/")
	if status != 0 || strings.Contains(stdout, "stopped early") || !regexp.MustCompile(`Elapsed        1\.\d{3} s`).MatchString(stdout) {
		t.Errorf("a passing run: exit status %d\n%s", status, stdout)
	}
}

// TestReportThresholds: gather report judges merged saved runs as bench
// judges one, with the same exit statuses and JUnit output.
func TestReportThresholds(t *testing.T) {
	srv, _ := countingServer(t)
	dir := t.TempDir()
	targets := writeFile(t, dir, "api.txt", "# name: home\nGET "+srv.URL+"/\n\n# name: down\nGET "+srv.URL+"/status/503\n")
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	for _, save := range []string{a, b} {
		if status, _, stderr := runGather(t, "", "bench", "-n", "40", "-c", "2", "--targets", targets, "--save", save); status != 0 {
			t.Fatalf("bench: %d %s", status, stderr)
		}
	}
	status, stdout, stderr := runGather(t, "", "report", "--threshold", "down:status5xx>=100%", "--threshold", "home:status2xx==40", "--threshold", "errors==0", a, b)
	if status != 0 || !strings.Contains(stdout, "\nThresholds     all 3 passed\n") || !regexp.MustCompile(`\n  pass  home:status2xx==40 +40\n`).MatchString(stdout) {
		t.Errorf("passing: exit status %d, stderr %q\n%s", status, stderr, stdout)
	}
	junit := filepath.Join(dir, "r.xml")
	status, stdout, stderr = runGather(t, "", "report", "--junit", junit, "--threshold", "status5xx<50%", "--threshold", "p99<1m", a, b)
	if status != 3 || !strings.Contains(stdout, "FAIL  status5xx<50%  50.00% (40 of 80)") ||
		stderr != "gather: report: threshold status5xx<50% failed: measured 50.00% (40 of 80)\n" {
		t.Errorf("failing: exit status %d, stderr %q\n%s", status, stderr, stdout)
	}
	checkJUnit(t, junit, 2, 1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--threshold", "p99"}, `gather: report: threshold "p99": want [TARGET:]MEASURE OP VALUE`},
		{[]string{"--threshold", "nobody:p99<1s"}, `gather: report: threshold "nobody:p99<1s": no target is named "nobody" (the names are "home", "down")`},
		{[]string{"--threshold", "late<1%"}, `late is a measure of the open model (-q); this run is closed`},
		{[]string{"--junit", junit}, "gather: report: --junit needs a --threshold to report"},
		{[]string{"--junit", filepath.Join(dir, "no/such/r.xml"), "--threshold", "p99<1s"}, "gather: report: --junit: cannot create"},
	} {
		status, stdout, stderr := runGather(t, "", append(append([]string{"report"}, tc.args...), a, b)...)
		if status != 2 || stdout != "" || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit status %d, stderr %q, want 2 and %q", tc.args, status, stderr, tc.want)
		}
	}
}
