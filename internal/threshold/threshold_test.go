package threshold

import (
	"bytes"
	"encoding/xml"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr, target, measure, op string
		limit                     float64
		share                     bool
	}{
		{"p99<250ms", "", "p99", "<", 250, false},
		{"p99.9<=1s", "", "p99.9", "<=", 1000, false},
		{" mean < 50ms ", "", "mean", "<", 50, false},
		{"errors<1%", "", "errors", "<", 1, true},
		{"errors==0", "", "errors", "==", 0, false},
		{"status5xx<0.1%", "", "status5xx", "<", 0.1, true},
		{"status503<=3", "", "status503", "<=", 3, false},
		{"rps>=1000", "", "rps", ">=", 1000, false},
		{"achieved>=99%", "", "achieved", ">=", 99, true},
		{"late<5%", "", "late", "<", 5, true},
		{"login:p95<100ms", "login", "p95", "<", 100, false},
		{"GET /a:b:errors<2%", "GET /a:b", "errors", "<", 2, true},
		{"max<1.5s", "", "max", "<", 1500, false},
		{"min>10us", "", "min", ">", 0.01, false},
		{"p100<1m", "", "p100", "<", 60000, false},
	} {
		th, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if th.Target != tc.target || th.Measure != tc.measure || th.Op != tc.op || math.Abs(th.limit-tc.limit) > 1e-9 || th.share != tc.share {
			t.Errorf("%q: %+v", tc.expr, th)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, want string }{
		{"", "want [TARGET:]MEASURE OP VALUE"},
		{"p99", "want [TARGET:]MEASURE OP VALUE"},
		{"p99~250ms", "want [TARGET:]MEASURE OP VALUE"},
		{"p99<", "no value after <"},
		{"p99<250", "want a duration with a unit after <, such as 250ms or 1.5s; got \"250\""},
		{"p99<-1s", "want a duration with a unit"},
		{"p0<1s", "percentile \"p0\": want p and a number above 0 and up to 100"},
		{"p101<1s", "percentile \"p101\""},
		{"p9e1<1s", "percentile \"p9e1\""},
		{"pxx<1s", "percentile \"pxx\""},
		{"latency<1s", `unknown measure "latency" (want pN (p99, p99.9), mean`},
		{"errors<1.5", "a count is a whole number; for a share write 1.5%"},
		{"errors<lots", "want a share such as 1% or 0.1%, or a count"},
		{"errors<101%", "a share above 100%"},
		{"status6xx<1%", `"status6xx": want a status class such as status5xx`},
		{"status5x<1%", `want a status class`},
		{"rps>fast", "want a rate in requests per second"},
		{"achieved>=99", "achieved is a share of the target rate: want a percentage"},
		{"login:achieved>=99%", "achieved is the whole run's; it has no value per target"},
		{"login:late<1%", "late is the whole run's"},
		{" :p99<1s", "an empty target name before the colon"},
	} {
		_, err := Parse(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %s", tc.expr, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "threshold "+`"`) {
			t.Errorf("%q: the error does not name the expression: %v", tc.expr, err)
		}
	}
}

// run makes a summary of samples over the names, as one run of 10 s.
func run(samples []report.Sample, names []string) *report.Summary {
	r := report.NewRecorder()
	r.TrackTargets(names)
	for _, s := range samples {
		r.Record(s)
	}
	s := report.Merge(r)
	s.Elapsed = 10 * time.Second
	return s
}

// samples: 1000 requests, target i%2; 10 failed, 20 answered 503, the rest
// 200; response times 1 ms to 100 ms, login's (target 1) ten times slower.
func samples() []report.Sample {
	out := make([]report.Sample, 1000)
	for i := range out {
		d := time.Duration(1+i%100) * time.Millisecond / 10
		if i%2 == 1 {
			d *= 10
		}
		s := report.Sample{Response: d, Service: d, Status: 200, Target: i % 2}
		switch {
		case i%100 == 7:
			s = report.Sample{Err: report.ErrTimeout, Target: i % 2}
		case i%50 == 3:
			s.Status = 503
		}
		out[i] = s
	}
	return out
}

func verdict(t *testing.T, expr string, s *report.Summary) report.Verdict {
	t.Helper()
	th, err := Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	return th.Evaluate(s)
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	s := run(samples(), []string{"home", "login"})
	for _, tc := range []struct {
		expr string
		pass bool
	}{
		{"p50<10ms", true},   // home's and login's together: half are under 10 ms
		{"p99<10ms", false},  // login's tail
		{"p99<101ms", true},  // the slowest is 100 ms
		{"mean<30ms", true},  // about 27.8 ms
		{"mean<25ms", false}, //
		{"min>=100us", true}, // the fastest is 0.1 ms
		{"min>100us", false}, //
		{"max<100ms", false}, // exactly 100 ms (within the histogram's 0.1%)
		{"max<101ms", true},  //
		{"login:p50<10ms", false},
		{"home:p99<=9.91ms", true}, // home's slowest: 9.9 ms
		{"home:p99<9.9ms", false},
		{"login:errors<=2%", true}, // every failed request was login's
		{"home:errors==0", true},
		{"login:rps>=50", true},
		{"login:rps>50", false},
	} {
		if v := verdict(t, tc.expr, s); v.Pass != tc.pass {
			t.Errorf("%s: pass %v, want %v (measured %s)", tc.expr, v.Pass, tc.pass, v.Measured)
		}
	}
	for _, tc := range []struct{ expr, measured string }{
		{"errors<1%", "1.00% (10 of 1000)"},
		{"errors<=9", "10"},
		{"status5xx<2%", "2.00% (20 of 1000)"},
		{"rps>=100", "100.0 req/s"},
		{"login:errors<1%", "2.00% (10 of 500)"},
		{"nobody:p99<1s", `no target named "nobody" in the run`},
		{"achieved>=99%", "no target rate (closed model)"},
	} {
		if v := verdict(t, tc.expr, s); v.Measured != tc.measured {
			t.Errorf("%s: measured %q, want %q", tc.expr, v.Measured, tc.measured)
		}
	}

	// Nothing to measure fails.
	empty := run(nil, nil)
	for _, expr := range []string{"p99<1s", "mean<1s", "errors<1%", "status5xx<1%"} {
		if v := verdict(t, expr, empty); v.Pass || !math.IsNaN(v.Value) {
			t.Errorf("%s on no requests: %+v", expr, v)
		}
	}
	if v := verdict(t, "errors==0", empty); !v.Pass {
		t.Errorf("errors==0 on no requests: %+v", v)
	}

	// The open model's measures.
	open := run(samples(), nil)
	open.Rate = 100
	open.Generator.TargetRate, open.Generator.AchievedRate = 100, 99.5
	open.Late = 30
	for _, tc := range []struct {
		expr string
		pass bool
	}{{"achieved>=99%", true}, {"achieved>=99.6%", false}, {"late<3%", false}, {"late<=3%", true}, {"late<31", true}} {
		if v := verdict(t, tc.expr, open); v.Pass != tc.pass {
			t.Errorf("%s: pass %v, want %v (measured %s)", tc.expr, v.Pass, tc.pass, v.Measured)
		}
	}
}

// TestMergedRuns: thresholds judge merged saved runs exactly as they judge
// one run that held every request of both.
func TestMergedRuns(t *testing.T) {
	t.Parallel()
	all := samples()
	names := []string{"home", "login"}
	whole := run(all, names)
	a, b := run(all[:600], names), run(all[600:], names)
	var merged report.Summary
	for _, part := range []*report.Summary{a, b} {
		var buf bytes.Buffer
		if err := part.Save(&buf); err != nil {
			t.Fatal(err)
		}
		loaded, err := report.Load(&buf)
		if err != nil {
			t.Fatal(err)
		}
		loaded.Elapsed = 10 * time.Second
		if err := merged.Add(loaded); err != nil {
			t.Fatal(err)
		}
	}
	exprs := []string{"p50<10ms", "p99<10ms", "p99.9<=100.1ms", "mean<30ms", "max<101ms", "errors<1.1%",
		"status5xx<2%", "login:p95<90ms", "home:errors<=1%", "login:status503<=10"}
	ts, err := ParseAll(exprs)
	if err != nil {
		t.Fatal(err)
	}
	vw, vm := Evaluate(ts, whole), Evaluate(ts, &merged)
	for i := range ts {
		if vw[i].Pass != vm[i].Pass || vw[i].Measured != vm[i].Measured {
			t.Errorf("%s: one run %v %s, merged %v %s", exprs[i], vw[i].Pass, vw[i].Measured, vm[i].Pass, vm[i].Measured)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	names := []string{"home", "login"}
	for _, tc := range []struct {
		expr  string
		open  bool
		names []string
		want  string
	}{
		{"login:p99<1s", false, names, ""},
		{"p99<1s", false, nil, ""},
		{"achieved>=99%", true, nil, ""},
		{"achieved>=99%", false, nil, `threshold "achieved>=99%": achieved is a measure of the open model (-q); this run is closed`},
		{"late<1%", false, nil, "late is a measure of the open model"},
		{"logn:p99<1s", false, names, `threshold "logn:p99<1s": no target is named "logn" (the names are "home", "login")`},
		{"x:p99<1s", false, nil, `the run has no per-target rows to judge "x" by`},
		{"x:p99<1s", false, []string{"a", report.OtherTarget}, "among the first 100 names"},
	} {
		th, _ := Parse(tc.expr)
		err := Validate([]Threshold{th}, tc.open, tc.names)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.expr, err, tc.want)
		}
	}
}

func TestJUnit(t *testing.T) {
	t.Parallel()
	s := run(samples(), []string{"home", "login"})
	s.Target, s.Method = "http://127.0.0.1:1/ (2 targets)", "GET"
	ts, _ := ParseAll([]string{"p99<10ms", "errors<2%", "login:p50<1s"})
	vs := Evaluate(ts, s)
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, JUnit{Suite: "gather bench", Summary: s, Started: time.Unix(1700000000, 0)}, vs); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	suite := doc.Suites[0]
	if doc.Tests != 3 || doc.Failures != 1 || suite.Tests != 3 || suite.Failures != 1 || len(suite.Cases) != 3 {
		t.Fatalf("counts: %+v", doc)
	}
	c := suite.Cases[0]
	if c.Name != "p99<10ms" || c.Failure == nil || !strings.Contains(c.Failure.Message, "p99<10ms failed: measured") {
		t.Errorf("failed case: %+v", c)
	}
	if suite.Cases[1].Failure != nil || suite.Cases[2].Classname != "thresholds.login" {
		t.Errorf("passing cases: %+v", suite.Cases[1:])
	}
	if !strings.Contains(buf.String(), `name="p99&lt;10ms"`) || suite.Timestamp != "2023-11-14T22:13:20" {
		t.Errorf("escaping or timestamp:\n%s", buf.String())
	}
}

// TestDoomed: each rule, and that a threshold called doomed early, with the
// run's bound, fails at the end whatever the rest of the run does.
func TestDoomed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr      string
		c         report.WatchCount
		remaining int64
		doomed    bool
	}{
		{"errors<10", report.WatchCount{Matched: 10, Of: 20}, -1, true},
		{"errors<10", report.WatchCount{Matched: 9, Of: 20}, -1, false},
		{"errors<=10", report.WatchCount{Matched: 10, Of: 20}, -1, false},
		{"max<1s", report.WatchCount{Matched: 1, Of: 2}, -1, true},
		{"errors<1%", report.WatchCount{Matched: 10, Of: 20}, 980, true},  // 10 of at most 1000
		{"errors<1%", report.WatchCount{Matched: 9, Of: 20}, 980, false},  // could end at 0.9%
		{"errors<1%", report.WatchCount{Matched: 9, Of: 20}, -1, false},   // too few samples to tell
		{"errors<1%", report.WatchCount{Matched: 30, Of: 1000}, -1, true}, // 3% of 1000: beyond doubt
		{"errors<1%", report.WatchCount{Matched: 12, Of: 1000}, -1, false},
		{"status2xx>=99%", report.WatchCount{Matched: 960, Of: 1000}, -1, true},
		{"status2xx>=99%", report.WatchCount{Matched: 985, Of: 1000}, -1, false},
		{"status2xx>=99%", report.WatchCount{Matched: 0, Of: 11}, 989, true}, // 11 misses of at most 1000
		{"p99<100ms", report.WatchCount{Matched: 11, Of: 50}, 950, true},
		{"p99<100ms", report.WatchCount{Matched: 10, Of: 50}, 950, false},
		{"p99<100ms", report.WatchCount{Matched: 40, Of: 1000}, -1, true},
		{"p99<100ms", report.WatchCount{Matched: 12, Of: 1000}, -1, false},
		{"status2xx>900", report.WatchCount{Matched: 0, Of: 150}, 850, true},
	} {
		th, _ := Parse(tc.expr)
		w := NewWatcher([]Threshold{th}, func(string) int { return 0 })
		if len(w.Watches()) != 1 {
			t.Fatalf("%s: no watch", tc.expr)
		}
		_, why, doomed := w.Doomed([]report.WatchCount{tc.c}, tc.remaining)
		if doomed != tc.doomed {
			t.Errorf("%s with %+v, %d to come: doomed %v (%s), want %v", tc.expr, tc.c, tc.remaining, doomed, why, tc.doomed)
		}
	}
	for _, expr := range []string{"mean<1s", "rps>1", "achieved>=1%", "p99>1ms", "errors==3"} {
		th, _ := Parse(expr)
		if w := NewWatcher([]Threshold{th}, nil); w.Watches() != nil {
			t.Errorf("%s is judged early", expr)
		}
	}

	// Certainty: 120 runs of 400 requests, whose first k are judged with the
	// bound of 400; when a threshold is called doomed, the whole run fails
	// it, whatever came after.
	rng := rand.New(rand.NewPCG(1, 2))
	exprs := []string{"errors<5%", "errors<=20", "status5xx<=2%", "p90<50ms", "p99<=80ms", "max<100ms", "status2xx>=90%"}
	ts, _ := ParseAll(exprs)
	for trial := range 120 {
		failRate := rng.Float64() * 0.2
		all := make([]report.Sample, 400)
		for i := range all {
			d := time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
			all[i] = report.Sample{Response: d, Service: d, Status: 200}
			if rng.Float64() < failRate {
				all[i] = report.Sample{Err: report.ErrReset}
			} else if rng.Float64() < failRate/2 {
				all[i].Status = 500
			}
		}
		k := 1 + rng.IntN(399)
		w := NewWatcher(ts, nil)
		r := report.NewRecorder()
		r.SetWatches(w.Watches())
		for _, s := range all[:k] {
			r.Record(s)
		}
		counts := make([]report.WatchCount, len(w.Watches()))
		r.AddWatchCounts(counts)
		final := Evaluate(ts, run(all, nil))
		for i, th := range ts {
			if why, doomed := th.doomed(counts[w.index[i]], int64(400-k)); doomed && final[i].Pass {
				t.Fatalf("trial %d: %s doomed after %d of 400 (%s), yet passes: %s", trial, th.Expr, k, why, final[i].Measured)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"p99<250ms", "login:errors<1%", "status5xx<0.1%", "rps>=1e3", "a:b:p99.9<=1s", "achieved>=99%", "p0<1s", ":x<1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		th, err := Parse(expr)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "threshold ") || strings.Contains(err.Error(), "\n") && !strings.Contains(expr, "\n") {
				t.Fatalf("error %q", err)
			}
			return
		}
		// A parsed threshold judges any summary without panicking, and
		// says what it measured.
		v := th.Evaluate(run(samples(), []string{"home", "login"}))
		if v.Expr != expr || v.Measured == "" {
			t.Fatalf("%q: verdict %+v", expr, v)
		}
		w := NewWatcher([]Threshold{th}, func(string) int { return 0 })
		w.Doomed(make([]report.WatchCount, len(w.Watches())), 10)
	})
}
