package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/push"
	"github.com/gather-dev/gather/internal/report"
)

// Every bad value of the streaming flags is a usage error naming it,
// found before any request, and so is a streaming flag without a stream.
func TestBenchPushFlags(t *testing.T) {
	t.Parallel()
	const url = "http://127.0.0.1:9/"
	const prom = "http://127.0.0.1:9090/api/v1/write"
	tests := []struct {
		args []string
		err  string
	}{
		{args: []string{"--prometheus", prom, "--tag", "env=ci", "--tag", "Region=eu-1", url}},
		{args: []string{"--prometheus", prom, "--prometheus-histograms", "classic", "--push-buffer", "10", "--push-timeout", "1s", url}},
		{args: []string{"--otlp", "http://127.0.0.1:4318/v1/metrics", "--tag", "env=ci", url}},
		{args: []string{"--tag", "env=ci", url}, err: "bench: --tag needs --prometheus or --otlp"},
		{args: []string{"--push-buffer", "5", url}, err: "bench: --push-buffer needs --prometheus or --otlp"},
		{args: []string{"--otlp", "http://h/v1/metrics", "--prometheus-histograms", "native", url}, err: "bench: --prometheus-histograms needs --prometheus"},
		{args: []string{"--prometheus", "ftp://h/", url}, err: `bench: --prometheus: bad URL "ftp://h/": want http:// or https://`},
		{args: []string{"--prometheus", "127.0.0.1:9090", url}, err: `bench: --prometheus: bad URL "127.0.0.1:9090": want http:// or https://`},
		{args: []string{"--otlp", "http:///v1/metrics", url}, err: `bench: --otlp: bad URL "http:///v1/metrics": no host`},
		{args: []string{"--prometheus", prom, "--prometheus-histograms", "sparse", url}, err: `bench: --prometheus-histograms: histogram mode "sparse": want auto, native or classic`},
		{args: []string{"--prometheus", prom, "--tag", "env", url}, err: `bench: bad --tag "env": want name=value`},
		{args: []string{"--prometheus", prom, "--tag", "env=", url}, err: `bench: bad --tag "env=": empty value`},
		{args: []string{"--prometheus", prom, "--tag", "a=1", "--tag", "a=2", url}, err: "bench: --tag a given twice"},
		{args: []string{"--prometheus", prom, "--tag", "run=x", url}, err: `bench: bad --tag: tag name "run": gather sets that label itself`},
		{args: []string{"--prometheus", prom, "--tag", "my-tag=x", url}, err: `bench: bad --tag: tag name "my-tag": want letters, digits and _, not starting with a digit`},
		{args: []string{"--prometheus", prom, "--tag", "__x=x", url}, err: `bench: bad --tag: tag name "__x": names starting with __ are Prometheus's own`},
		{args: []string{"--prometheus", prom, "--push-buffer", "0", url}, err: "bench: --push-buffer must be at least 1, got 0"},
		{args: []string{"--prometheus", prom, "--push-timeout", "0s", url}, err: "bench: --push-timeout must be positive, got 0s"},
	}
	for _, tt := range tests {
		cmd, f := newBenchCmdFlags()
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		_, err := f.plan(cmd.Flags().Args()[0], false, strings.NewReader(""))
		var usage *usageError
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err || !errors.As(err, &usage)):
			t.Errorf("%q:\n got %v\nwant usage error %s", tt.args, err, tt.err)
		}
	}
}

// A short run streamed to a real Prometheus: PromQL over its HTTP API
// gives the request and error counts of gather's report, and a p99 from
// the streamed histogram within the documented error of gather's own;
// with native histograms where Prometheus takes them, classic buckets
// where it refuses them. Every query of the Grafana dashboard is valid
// PromQL and its panels have data.
func TestBenchPrometheus(t *testing.T) {
	t.Parallel()
	dashboard := dashboardQueries(t)
	for _, tc := range []struct {
		histograms string
		native     bool // the Prometheus takes native histograms
		maxErr     float64
	}{
		{"native", true, push.NativeError},
		{"classic", false, push.ClassicError},
	} {
		t.Run(tc.histograms, func(t *testing.T) {
			t.Parallel()
			prom := startPrometheus(t, tc.native)
			var n atomic.Int64
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := n.Add(1)
				if i%25 == 0 {
					http.Error(w, "busy", http.StatusServiceUnavailable)
					return
				}
				time.Sleep(time.Duration(i%20) * 100 * time.Microsecond) // 0 to 2 ms
				w.Write([]byte("hello"))
			}))
			defer target.Close()
			dir := t.TempDir()
			saved := filepath.Join(dir, "run.json")
			args := []string{"-z", "2s", "-q", "500", "-c", "8", "--interval", "250ms",
				"--prometheus", prom.writeURL(), "--tag", "test=" + tc.histograms, "--save", saved, "-o", "json"}
			if tc.native {
				// A run of two targets, whose counters go by target name.
				file := filepath.Join(dir, "targets.txt")
				if err := os.WriteFile(file, []byte("# name: a\nGET "+target.URL+"/a\n\n# name: b\nGET "+target.URL+"/b\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--targets", file)
			} else {
				// One segment of a distributed run (of one): its series carry
				// the distributed run's id and the segment.
				args = append(args, "--segment", "0/1", "--run-id", "dist-1", target.URL+"/")
			}
			start := time.Now()
			var stdout, stderr bytes.Buffer
			cmd := newBenchCmd()
			cmd.SetArgs(args)
			cmd.SetOut(&stdout)
			cmd.SetErr(&stderr)
			if err := cmd.ExecuteContext(t.Context()); err != nil {
				t.Fatalf("bench: %v\n%s", err, stderr.String())
			}
			var out struct {
				RunIDs  []string `json:"run_ids"`
				Exports []struct {
					Run        string `json:"run"`
					Segment    string `json:"segment"`
					Histograms string `json:"histograms"`
					Note       string `json:"note"`
					Samples    int64  `json:"samples"`
					Dropped    int64  `json:"dropped_samples"`
				} `json:"exports"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			file, err := os.Open(saved)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := report.Load(file)
			file.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Exports) != 1 || out.Exports[0].Histograms != tc.histograms || out.Exports[0].Dropped != 0 ||
				out.Exports[0].Samples == 0 || len(out.RunIDs) != 1 || sum.RunIDs[0] != out.RunIDs[0] {
				t.Fatalf("report: run ids %v (saved %v), exports %+v", out.RunIDs, sum.RunIDs, out.Exports)
			}
			if !tc.native && !strings.Contains(out.Exports[0].Note, "native histograms are disabled") {
				t.Errorf("note %q: want why classic buckets were sent", out.Exports[0].Note)
			}
			label := sum.RunIDs[0]
			if !tc.native {
				label = "dist-1"
				if out.Exports[0].Segment != "0/1" || sum.RunIDs[0] == label {
					t.Errorf("a segment's stream is labelled run=%q segment=%q; its report's run id is %s",
						out.Exports[0].Run, out.Exports[0].Segment, sum.RunIDs[0])
				}
			}
			if out.Exports[0].Run != label {
				t.Errorf("the stream's run label is %q, want %q", out.Exports[0].Run, label)
			}
			run := fmt.Sprintf(`run=%q`, label)
			if !tc.native {
				if got := prom.value(t, `count(gather_requests_total{`+run+`,segment="0/1"})`); got != 1 {
					t.Errorf("%v series carry the segment label, want 1", got)
				}
			}
			if got := prom.value(t, `sum(gather_requests_total{`+run+`})`); int64(got) != sum.Requests {
				t.Errorf("Prometheus counts %v requests, gather %d", got, sum.Requests)
			}
			if got := prom.value(t, `sum(gather_responses_total{`+run+`,status="5xx"})`); int64(got) != sum.Status[503] || got == 0 {
				t.Errorf("Prometheus counts %v 5xx answers, gather %d", got, sum.Status[503])
			}
			rows := sum.Targets
			if !tc.native {
				rows = []*report.TargetSummary{{Name: target.URL + "/", Requests: sum.Requests, Errors: sum.Errors, Status: sum.Status}}
			}
			if len(rows) != map[bool]int{true: 2, false: 1}[tc.native] {
				t.Fatalf("%d per-target rows in the report", len(rows))
			}
			for _, row := range rows {
				sel := run + `,target="` + row.Name + `"`
				if got := prom.value(t, `gather_requests_by_target_total{`+sel+`}`); int64(got) != row.Requests || got == 0 {
					t.Errorf("target %s: Prometheus counts %v requests, gather %d", row.Name, got, row.Requests)
				}
				if got := prom.value(t, `gather_non2xx_by_target_total{`+sel+`}`); int64(got) != row.Status[503] {
					t.Errorf("target %s: Prometheus counts %v non-2xx, gather %d", row.Name, got, row.Status[503])
				}
			}
			if got := prom.value(t, `count(gather_requests_total{`+run+`,test="`+tc.histograms+`"})`); got != 1 {
				t.Errorf("%v series carry the --tag label, want 1", got)
			}
			q := `histogram_quantile(0.99, sum(gather_response_seconds{` + run + `}))`
			if !tc.native {
				q = `histogram_quantile(0.99, sum by (le) (gather_response_seconds_bucket{` + run + `}))`
			}
			checkP99(t, q, prom.value(t, q), sum, tc.maxErr)

			// The dashboard's panels, over the run.
			for _, dq := range dashboard {
				expr := strings.NewReplacer("$run", label, "$__rate_interval", "2s", "$__interval", "1s").Replace(dq.expr)
				got := prom.queryRange(t, expr, start, time.Now(), time.Second)
				if got == 0 && dq.needsData(tc.histograms) {
					t.Errorf("dashboard panel %q: %s has no data", dq.panel, expr)
				}
			}
		})
	}
}

// checkP99 checks a p99 from Prometheus against gather's own: within
// maxErr of the values at the ranks on either side, since two ways of
// counting ranks may pick either neighbour where the samples are sparse.
func checkP99(t *testing.T, what string, got float64, sum *report.Summary, maxErr float64) {
	t.Helper()
	step := 100 / float64(sum.Response().Count)
	lo := sum.ResponseAt(99-step).Seconds() * (1 - maxErr)
	hi := sum.ResponseAt(99+step).Seconds() * (1 + maxErr)
	t.Logf("%s = %.6f s; gather's p99 %.6f s", what, got, sum.ResponseAt(99).Seconds())
	if got < lo || got > hi {
		t.Errorf("%s = %g s; gather's p99 is %g s: want %g to %g", what, got, sum.ResponseAt(99).Seconds(), lo, hi)
	}
}

// dashboardQuery is one PromQL expression of the Grafana dashboard.
type dashboardQuery struct {
	panel, expr string
}

// needsData reports whether the query must answer for a run streamed
// with the given histograms: a query of the other kind has nothing to
// read, and late or target-rate panels nothing to show in a run that
// had none.
func (q dashboardQuery) needsData(histograms string) bool {
	switch {
	case strings.Contains(q.expr, "_bucket"):
		return histograms == "classic"
	case strings.Contains(q.expr, "histogram_quantile"):
		return histograms == "native"
	}
	return true
}

// dashboardQueries returns every target expression of the dashboard.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/grafana/gather-bench.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	var out []dashboardQuery
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, dashboardQuery{p.Title, tg.Expr})
		}
	}
	if len(out) < 5 {
		t.Fatalf("the dashboard has %d queries", len(out))
	}
	for _, q := range out {
		if regexp.MustCompile(`\$\{?[a-z_]`).MatchString(strings.NewReplacer("$run", "", "$__rate_interval", "", "$__interval", "").Replace(q.expr)) {
			t.Errorf("panel %q uses a variable the test does not know: %s", q.panel, q.expr)
		}
	}
	return out
}
