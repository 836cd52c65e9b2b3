package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A real Prometheus server for the tests of bench --prometheus: Debian's
// prometheus package (.ci/apt-packages), started on a free loopback port
// with its remote-write receiver and a data folder of the test's own, and
// stopped by its PID when the test ends. Under CI=true a missing
// prometheus fails the test; elsewhere the test is skipped, saying so.

// promClient keeps no connection open, so that none outlives a test.
var promClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// prometheusServer is one running Prometheus.
type prometheusServer struct {
	base string // http://127.0.0.1:PORT
}

// startPrometheus starts Prometheus, with native histograms if native.
func startPrometheus(t *testing.T, native bool) *prometheusServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus is not installed (.ci/apt-packages lists it; .ci/run installs it)")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte("# no scrapes: bench writes to it\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The free port may be taken before Prometheus binds it: try again.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"--config.file=" + config, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=127.0.0.1:" + strconv.Itoa(port), "--web.enable-remote-write-receiver",
			"--log.level=warn"}
		if native {
			args = append(args, "--enable-feature=native-histograms")
		}
		var out syncBuffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		srv := &prometheusServer{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
		err = srv.waitReady(exited)
		if err == nil {
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM) // by PID: only the process this test started
				select {
				case <-exited:
				case <-time.After(20 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
			})
			return srv
		}
		cmd.Process.Kill()
		<-exited
		if attempt == 2 {
			t.Fatalf("prometheus did not start: %v\n%s", err, out.String())
		}
	}
}

// waitReady waits up to a minute for Prometheus to answer /-/ready.
func (p *prometheusServer) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := promClient.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("not ready after a minute")
}

// writeURL is the remote-write endpoint.
func (p *prometheusServer) writeURL() string { return p.base + "/api/v1/write" }

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// float returns the sample's value.
func (s promSample) float() float64 {
	str, _ := s.Value[1].(string)
	v, _ := strconv.ParseFloat(str, 64)
	return v
}

// query evaluates an instant PromQL query now and returns its series.
func (p *prometheusServer) query(t *testing.T, q string) []promSample {
	t.Helper()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	// Evaluated a little ahead: the run's last interval is stamped with
	// its end, which may still be to come when the run has just ended, and
	// an instant query at "now" does not see a sample stamped later.
	at := strconv.FormatFloat(float64(time.Now().Add(10*time.Second).UnixMilli())/1e3, 'f', 3, 64)
	p.get(t, "/api/v1/query?"+url.Values{"query": {q}, "time": {at}}.Encode(), &r)
	if r.Status != "success" {
		t.Fatalf("query %s: %s", q, r.Error)
	}
	return r.Data.Result
}

// value evaluates a query that must give exactly one series.
func (p *prometheusServer) value(t *testing.T, q string) float64 {
	t.Helper()
	res := p.query(t, q)
	if len(res) != 1 {
		t.Fatalf("query %s: %d series, want 1: %v", q, len(res), res)
	}
	return res[0].float()
}

// queryRange evaluates q over [start, end] and returns how many series
// answered, failing the test if Prometheus refuses the query.
func (p *prometheusServer) queryRange(t *testing.T, q string, start, end time.Time, step time.Duration) int {
	t.Helper()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	p.get(t, "/api/v1/query_range?"+url.Values{"query": {q},
		"start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix()+1, 10)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}.Encode(), &r)
	if r.Status != "success" {
		t.Fatalf("query_range %s: %s", q, r.Error)
	}
	return len(r.Data.Result)
}

func (p *prometheusServer) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := promClient.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// syncBuffer is a bytes.Buffer that a process's two streams may write to
// at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
