package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"
)

// scriptDir holds the CLI tests of 'gather report'; their saved runs and
// expected reports are made here, from known samples, so that the scripts
// need no server and no bench run.
const scriptDir = "../../cmd/gather/testdata/script"

// repeat returns n copies of s.
func repeat(n int, s Sample) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func closedOK(d time.Duration, status int) Sample {
	return Sample{Response: d, Service: d, Status: status, Bytes: 200}
}

// scriptFiles returns the files the report_*.txtar scripts use, by name.
// The latencies are chosen so that the merged percentiles are easy to
// check by hand: of the 2500 responses of a.json and b.json, 900 took 1 ms,
// 1400 took 2 ms, 90 took 10 ms, 99 took 20 ms, 10 took 100 ms and one
// took 1 s, so p50 = p90 = 2 ms, p95 = 10 ms, p99 = 20 ms, p99.9 = 100 ms
// and max = 1 s (to HdrHistogram's precision).
func scriptFiles(t *testing.T) map[string][]byte {
	ms := time.Millisecond
	meta := func(s *Summary, conns int, elapsed time.Duration) *Summary {
		s.Target, s.Method, s.Connections, s.Elapsed = "http://127.0.0.1:8080/", "GET", conns, elapsed
		s.Generator.AchievedRate = float64(s.Requests) / elapsed.Seconds()
		return s
	}
	a := slicesConcat(
		repeat(900, closedOK(ms, 200)), repeat(90, closedOK(10*ms, 200)),
		repeat(10, closedOK(100*ms, 200)), repeat(2, Sample{Response: 5 * time.Second, Service: 5 * time.Second, Err: ErrTimeout}),
	)
	b := slicesConcat(
		repeat(1395, closedOK(2*ms, 200)), repeat(5, closedOK(2*ms, 500)),
		repeat(99, closedOK(20*ms, 200)), repeat(1, closedOK(time.Second, 200)),
	)
	runA := meta(summaryOf(a, time.Second), 10, time.Second)
	runA.Generator.GCPause = ms
	runA.Generator.CPU = 10 * ms
	runB := meta(summaryOf(b, 2*time.Second), 20, 2*time.Second)
	runB.Generator.GCPause = 2 * ms
	runB.Generator.CPU = 30 * ms
	runAB := meta(summaryOf(slicesConcat(a, b), 2*time.Second), 30, 2*time.Second)

	// The open model at 100 req/s for 3 s against a server that stalled
	// for 1 s: the 100 requests due during the stall were sent late and
	// their response times include the wait.
	var open []Sample
	for i := range 300 {
		s := Sample{Response: 5 * ms, Service: 5 * ms, Status: 200, Bytes: 150}
		if i >= 100 && i < 200 {
			wait := time.Duration(200-i) * 10 * ms
			s.Response, s.Late = wait+5*ms, true
		}
		open = append(open, s)
	}
	runOpen := meta(summaryOf(open, 3*time.Second), 10, 3*time.Second)
	runOpen.Rate = 100
	runOpen.Generator = Generator{
		TargetRate: 100, AchievedRate: 100, SendLagP99: 990 * ms, SendLagMax: 1000 * ms,
		GCPause: 500 * time.Microsecond,
	}

	// Fixed run ids keep the files the same from one -update to the next.
	runA.RunIDs, runB.RunIDs = []string{"run-a"}, []string{"run-b"}
	runAB.RunIDs, runOpen.RunIDs = []string{"run-ab"}, []string{"run-open"}
	// Runs that do not belong with a.json: another target, another method.
	elsewhere := runA.clone()
	elsewhere.Target, elsewhere.RunIDs = "http://127.0.0.1:9090/", []string{"run-elsewhere"}
	post := runA.clone()
	post.Method, post.RunIDs = "POST", []string{"run-post"}

	files := make(map[string][]byte)
	save := func(name string, s *Summary) {
		var buf bytes.Buffer
		if err := s.Save(&buf); err != nil {
			t.Fatal(err)
		}
		files[name] = buf.Bytes()
	}
	text := func(name string, s *Summary) {
		var buf bytes.Buffer
		if err := s.WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		files[name] = buf.Bytes()
	}
	save("a.json", runA)
	save("b.json", runB)
	save("ab.json", runAB)
	save("open.json", runOpen)
	save("elsewhere.json", elsewhere)
	save("post.json", post)
	files["inconsistent.json"] = bytes.Replace(files["a.json"], []byte(`"requests": 1002`), []byte(`"requests": 1005`), 1)
	text("want_a.txt", runA)
	text("want_open.txt", runOpen)
	merged := roundTrip(t, runA)
	if err := merged.Add(roundTrip(t, runB)); err != nil {
		t.Fatal(err)
	}
	text("want_merged.txt", merged)
	return files
}

func slicesConcat(parts ...[]Sample) []Sample {
	var out []Sample
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestScriptInputs checks that the saved runs and expected reports in the
// report_*.txtar scripts are what this package makes today; with -update
// it rewrites them.
func TestScriptInputs(t *testing.T) {
	files := scriptFiles(t)
	scripts, err := filepath.Glob(filepath.Join(scriptDir, "report_*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) == 0 {
		t.Fatalf("no report_*.txtar in %s", scriptDir)
	}
	used := make(map[string]bool)
	for _, path := range scripts {
		ar, err := txtar.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		changed := false
		for i, f := range ar.Files {
			want, ok := files[f.Name]
			if !ok {
				continue
			}
			used[f.Name] = true
			if !bytes.Equal(f.Data, want) {
				if !*update {
					t.Errorf("%s: %s is out of date (go test ./internal/report -run TestScriptInputs -update)", filepath.Base(path), f.Name)
				}
				ar.Files[i].Data = want
				changed = true
			}
		}
		if changed && *update {
			if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range files {
		if !used[name] {
			t.Errorf("no report_*.txtar script has a section %q", name)
		}
	}
	// The percentiles promised in scriptFiles' comment hold.
	s, err := Load(bytes.NewReader(files["ab.json"]))
	if err != nil {
		t.Fatal(err)
	}
	l := s.Response()
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"p50", l.P50, 2 * time.Millisecond}, {"p90", l.P90, 2 * time.Millisecond},
		{"p95", l.P95, 10 * time.Millisecond}, {"p99", l.P99, 20 * time.Millisecond},
		{"p99.9", l.P999, 100 * time.Millisecond}, {"max", l.Max, time.Second},
	} {
		if !near(c.got, c.want) {
			t.Errorf("ab.json %s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
