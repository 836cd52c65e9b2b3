package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gather-dev/gather/internal/report"
	"github.com/gather-dev/gather/internal/targets"
)

// seen is a request as the server saw it.
type seen struct {
	method, path, host, seq, id, body string
}

// recordingServer answers 200 to everything and keeps every request.
func recordingServer(t *testing.T) (*httptest.Server, func() []seen) {
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Seq"), r.Header.Get("X-Id"), string(body)})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

func loadTargets(t *testing.T, text string, opt targets.Options) *targets.Set {
	t.Helper()
	set, err := targets.Load(strings.NewReader(text), "t.jsonl", opt)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestTargetsOnTheWire: three templated targets, round-robin, through
// each client; the server checks every field rendered, and that the
// sequence numbers are unique across connections and cover the run.
func TestTargetsOnTheWire(t *testing.T) {
	const n = 600
	for _, engine := range []struct {
		name string
		set  func(*Plan)
	}{
		{"loops", func(*Plan) {}},
		{"goroutines", func(p *Plan) { p.Goroutines = true }},
		{"net-http", func(p *Plan) { p.NetHTTP = true }},
		{"open", func(p *Plan) { p.Rate = 20000 }},
	} {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			srv, requests := recordingServer(t)
			data, err := targets.LoadData(strings.NewReader("user,n\nann lee,1\nbob,2\n"), "users.csv", targets.DataOptions{})
			if err != nil {
				t.Fatal(err)
			}
			set := loadTargets(t, strings.ReplaceAll(`{"name": "a", "url": "SRV/a/{{.seq}}?t={{.unix_ms}}", "header": {"X-Seq": "{{.seq}}", "X-Id": "{{uuid}}"}}
{"name": "b", "method": "POST", "url": "SRV/b?r={{randInt 10 20}}", "header": {"X-Seq": "{{.seq}}"}, "body": "{\"seq\": {{.seq}}, \"user\": \"{{.user}}\"}"}
{"name": "c", "method": "PUT", "url": "SRV/c/{{urlquery .user}}", "header": {"X-Seq": "{{.seq}}", "Host": "c.example"}, "body_base64": "AAEC"}
`, "SRV", srv.URL), targets.Options{Data: data})
			p := &Plan{URL: set.Server(), Targets: set, Connections: 7, Requests: n, Timeout: 10 * time.Second}
			engine.set(p)
			start := time.Now()
			s, err := Run(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			end := time.Now()
			got := requests()
			if len(got) != n || s.Requests != n || s.Errors != 0 {
				t.Fatalf("server saw %d requests, report %d with %d errors", len(got), s.Requests, s.Errors)
			}
			users := []string{"ann lee", "bob"}
			seqs := map[int]bool{}
			ids := map[string]bool{}
			per := map[string]int64{}
			for _, r := range got {
				seq, err := strconv.Atoi(r.seq)
				if err != nil || seq < 0 || seq >= n || seqs[seq] {
					t.Fatalf("X-Seq %q: not a fresh number below %d", r.seq, n)
				}
				seqs[seq] = true
				user := users[seq%2] // rows cycle with the sequence
				switch seq % 3 {     // and so do the targets
				case 0:
					per["a"]++
					var ms int64
					if _, err := fmt.Sscanf(r.path, "/a/"+r.seq+"?t=%d", &ms); err != nil || r.method != "GET" {
						t.Fatalf("a: %s %s", r.method, r.path)
					}
					if ms < start.UnixMilli() || ms > end.UnixMilli() {
						t.Errorf("a: {{.unix_ms}} %d is outside the run", ms)
					}
					if !uuidRE.MatchString(r.id) || ids[r.id] {
						t.Errorf("a: X-Id %q is not a fresh UUID", r.id)
					}
					ids[r.id] = true
				case 1:
					per["b"]++
					var body struct {
						Seq  int
						User string
					}
					if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Seq != seq || body.User != user || r.method != "POST" {
						t.Fatalf("b: %s body %q (%v), want seq %d user %q", r.method, r.body, err, seq, user)
					}
					rv, err := strconv.Atoi(strings.TrimPrefix(r.path, "/b?r="))
					if err != nil || rv < 10 || rv > 20 {
						t.Errorf("b: %s", r.path)
					}
				case 2:
					per["c"]++
					if want := "/c/" + strings.ReplaceAll(user, " ", "+"); r.path != want || r.host != "c.example" || r.body != "\x00\x01\x02" || r.method != "PUT" {
						t.Fatalf("c: %s %s host %q body %q, want path %s", r.method, r.path, r.host, r.body, want)
					}
				}
			}
			for _, row := range s.Targets {
				if row.Requests != per[row.Name] || row.Requests != n/3 || row.Response().Count != n/3 {
					t.Errorf("report row %s: %d requests, server saw %d", row.Name, row.Requests, per[row.Name])
				}
			}
			if s.Target != srv.URL+"/ (3 targets from t.jsonl)" || s.Method != "GET, POST, PUT" {
				t.Errorf("target %q method %q", s.Target, s.Method)
			}
		})
	}
}

// TestWeightsOnTheWire: the server's count of each target is within a
// binomial bound of its weight's share.
func TestWeightsOnTheWire(t *testing.T) {
	t.Parallel()
	srv, requests := recordingServer(t)
	weights := []float64{1, 3, 6}
	var text strings.Builder
	for i, w := range weights {
		fmt.Fprintf(&text, `{"url": "%s/%d", "weight": %v}`+"\n", srv.URL, i, w)
	}
	set := loadTargets(t, text.String(), targets.Options{})
	const n = 6000
	s, err := Run(t.Context(), &Plan{URL: set.Server(), Targets: set, Connections: 8, Requests: n})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range requests() {
		counts[r.path]++
	}
	for i, w := range weights {
		p := w / 10
		mean, sd := n*p, math.Sqrt(n*p*(1-p))
		c := counts["/"+strconv.Itoa(i)]
		if math.Abs(float64(c)-mean) > 5*sd {
			t.Errorf("target %d of weight %v: %d of %d requests, want %.0f ± %.0f", i, w, c, n, mean, 5*sd)
		}
		if row := s.Targets[i]; row.Requests != int64(c) {
			t.Errorf("target %d: the report says %d, the server %d", i, row.Requests, c)
		}
	}
}

// TestCheckStopsTheRun: a Check that fails stops a long run at once, the
// summary covers what was done and says why.
func TestCheckStopsTheRun(t *testing.T) {
	t.Parallel()
	srv, _ := recordingServer(t)
	calls := 0
	p := &Plan{
		URL: mustURL(t, srv.URL+"/"), Connections: 2, Duration: time.Minute,
		Watches:    []report.Watch{{Target: -1, Kind: report.WatchStatus, StatusLo: 200, StatusHi: 299}},
		CheckEvery: 10 * time.Millisecond,
		Check: func(c []report.WatchCount, remaining int64) error {
			calls++
			if remaining != -1 {
				return fmt.Errorf("remaining %d, want -1 for a closed run without -n", remaining)
			}
			if c[0].Matched >= 50 {
				return errors.New("enough")
			}
			return nil
		},
	}
	start := time.Now()
	s, err := Run(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the run took %v", took)
	}
	warnings := strings.Join(s.Generator.Warnings, "\n")
	if s.Requests < 50 || !s.Interrupted || !strings.Contains(warnings, "the run was stopped early: enough") {
		t.Errorf("%d requests, interrupted %v, warnings %q", s.Requests, s.Interrupted, warnings)
	}
	if calls == 0 {
		t.Error("Check was never called")
	}
}

// TestRecordersForNames: many target names mean fewer recorders, so
// that their histograms stay within the budget of maxRecorders of two.
func TestRecordersForNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ conns, names, want int }{
		{50, 1, 50}, {500, 1, maxRecorders}, {50, 3, 50}, {500, 3, 51}, {500, 101, 2}, {1, 101, 1},
	} {
		if got := recordersFor(tc.conns, tc.names); got != tc.want {
			t.Errorf("recordersFor(%d, %d) = %d, want %d", tc.conns, tc.names, got, tc.want)
		}
		if n := recordersFor(tc.conns, tc.names); tc.names > 1 && n*(2+tc.names) > 2*maxRecorders && n > 1 {
			t.Errorf("%d recorders of %d names exceed the budget", n, tc.names)
		}
	}
	if report.MaxTargetRows != targets.MaxNames+1 {
		t.Errorf("report keeps %d rows, targets makes %d names and the rest", report.MaxTargetRows, targets.MaxNames)
	}
}

// TestPerTargetLatency: each target's row has its own response times.
func TestPerTargetLatency(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(30 * time.Millisecond)
		}
	}))
	defer srv.Close()
	set := loadTargets(t, fmt.Sprintf(`{"name": "fast", "url": "%[1]s/fast"}
{"name": "slow", "url": "%[1]s/slow"}`, srv.URL), targets.Options{})
	s, err := Run(t.Context(), &Plan{URL: set.Server(), Targets: set, Connections: 4, Requests: 40})
	if err != nil {
		t.Fatal(err)
	}
	fast, slow := s.TargetNamed("fast").Response(), s.TargetNamed("slow").Response()
	if fast.Count != 20 || slow.Count != 20 || slow.P50 < 30*time.Millisecond || fast.P50 >= slow.P50 {
		t.Errorf("fast: %d responses, p50 %v; slow: %d, p50 %v", fast.Count, fast.P50, slow.Count, slow.P50)
	}
	if all := s.Response(); all.Max != slow.Max || all.Min != fast.Min {
		t.Errorf("the run's extremes %v-%v are not its targets' %v and %v", all.Min, all.Max, fast.Min, slow.Max)
	}
}

// BenchmarkTargets100k measures what 100,000 targets cost a run to keep:
// the targets compiled, and their HTTP/1.1 form, as B/target of heap.
func BenchmarkTargets100k(b *testing.B) {
	var text strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&text, "GET http://127.0.0.1:8080/items/%d?color=blue\nAccept: application/json\nX-Trace: {{uuid}}\n\n", i)
	}
	var held uint64
	for range b.N {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		set, err := targets.Load(strings.NewReader(text.String()), "t.txt", targets.Options{})
		if err != nil {
			b.Fatal(err)
		}
		h := (&Plan{URL: set.Server(), Targets: set}).h1Request()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		held = m1.HeapAlloc - m0.HeapAlloc
		runtime.KeepAlive(h)
	}
	b.ReportMetric(float64(held)/100_000, "B/target")
}
