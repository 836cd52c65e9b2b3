package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The gather binary of the image recipe, built once for the tests that run
// it as its own process.
var recipe struct {
	once sync.Once
	path string
	err  error
}

// recipeBinary builds cmd/gather as deploy/kubernetes/Dockerfile does,
// with the environment and flags of its go build line.
func recipeBinary(t *testing.T) string {
	t.Helper()
	recipe.once.Do(func() {
		file, err := os.ReadFile("../../deploy/kubernetes/Dockerfile")
		if err != nil {
			recipe.err = err
			return
		}
		m := regexp.MustCompile(`(?m)^\s*CGO_ENABLED=0 go build (.*) -o /out/gather \./cmd/gather$`).FindSubmatch(file)
		if m == nil {
			recipe.err = errors.New("the Dockerfile has no line 'CGO_ENABLED=0 go build ... -o /out/gather ./cmd/gather'")
			return
		}
		dir, err := os.MkdirTemp("", "gather-recipe-")
		if err != nil {
			recipe.err = err
			return
		}
		recipe.path = filepath.Join(dir, "gather")
		// The flags as the shell would split them: -trimpath -ldflags="-s -w".
		var args []string
		for _, f := range regexp.MustCompile(`[^\s"=]+(=("[^"]*"|\S*))?`).FindAllString(string(m[1]), -1) {
			args = append(args, strings.ReplaceAll(f, `"`, ""))
		}
		cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", recipe.path, "./cmd/gather")...)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			recipe.err = fmt.Errorf("%v: %v\n%s", cmd.Args, err, out)
		}
	})
	if recipe.err != nil {
		t.Fatal(recipe.err)
	}
	return recipe.path
}

// The image recipe makes a static binary (no interpreter, no shared
// library: it runs on a base without libc) that does not link the
// Kubernetes API, which only the manifest's tests use.
func TestImageRecipe(t *testing.T) {
	bin := recipeBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v program header: it is not static", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range info.Deps {
		if strings.HasPrefix(d.Path, "k8s.io/") || strings.HasPrefix(d.Path, "sigs.k8s.io/") {
			t.Errorf("the binary links %s", d.Path)
		}
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" && s.Value != "0" || s.Key == "-trimpath" && s.Value != "true" {
			t.Errorf("built with %s=%s", s.Key, s.Value)
		}
	}
}

// A cluster on this machine: a target and the generators as processes
// apart, each in a network namespace of its own linked to the target's by
// a veth pair, as machines on a network are; or, where namespaces cannot
// be made, on the loopback with a source address each.
type cluster struct {
	t      *testing.T
	bin    string
	netns  bool
	prefix string   // of the namespaces' and links' names
	hosts  []string // a namespace, or a source address, per generator
	target string   // the server's URL
	mu     sync.Mutex
	procs  []*exec.Cmd
}

// newCluster makes a cluster of n generators around a gather serve.
func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{t: t, bin: recipeBinary(t), prefix: fmt.Sprintf("gt%d", os.Getpid()%100000)}
	t.Cleanup(c.close)
	why := c.makeNetns(n)
	if why != "" {
		if _, err := exec.LookPath("ip"); err != nil && os.Getenv("CI") == "true" {
			t.Fatal("ip (iproute2) is not installed: .ci/apt-packages lists it")
		}
		t.Logf("network namespaces cannot be made here (%s): the cluster runs on the loopback, each generator from its own source address (127.0.1.x)", why)
		for i := range n {
			c.hosts = append(c.hosts, fmt.Sprintf("127.0.1.%d", i+1))
		}
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--delay", "2ms", "--grace", "1s"}
	if c.netns {
		args[2] = "10.211.0.1:8080" // the namespace is ours: the port is free
	}
	srv := c.start("server", c.ns("srv"), args...)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stderr).ReadString('\n')
	m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("gather serve: %q, %v", line, err)
	}
	go func() { _, _ = bufio.NewReader(stderr).WriteTo(new(bytes.Buffer)) }()
	c.target = m[1] + "/"
	return c
}

// makeNetns makes the namespaces, or says why it cannot.
func (c *cluster) makeNetns(n int) string {
	if os.Getenv("GATHER_TEST_NO_NETNS") != "" {
		return "GATHER_TEST_NO_NETNS is set" // to try the fallback
	}
	if os.Geteuid() != 0 {
		return "not root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "no ip command"
	}
	ip := func(args ...string) error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	srv := c.prefix + "-srv"
	if err := ip("netns", "add", srv); err != nil {
		return err.Error()
	}
	c.netns = true
	steps := [][]string{{"-n", srv, "link", "set", "lo", "up"}, {"-n", srv, "addr", "add", "10.211.0.1/32", "dev", "lo"}}
	for i := range n {
		ns := fmt.Sprintf("%s-g%d", c.prefix, i)
		gen, peer := fmt.Sprintf("%sg%d", c.prefix, i), fmt.Sprintf("%sp%d", c.prefix, i)
		net := fmt.Sprintf("10.211.%d", i+1)
		c.hosts = append(c.hosts, ns)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"link", "add", gen, "netns", ns, "type", "veth", "peer", "name", peer, "netns", srv},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"-n", ns, "addr", "add", net + ".2/24", "dev", gen},
			[]string{"-n", ns, "link", "set", gen, "up"},
			[]string{"-n", srv, "addr", "add", net + ".1/24", "dev", peer},
			[]string{"-n", srv, "link", "set", peer, "up"},
			[]string{"-n", ns, "route", "add", "default", "via", net + ".1"},
		)
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			c.t.Fatal(err) // namespaces can be made, so this one should have been
		}
	}
	return ""
}

func (c *cluster) ns(name string) string {
	if !c.netns {
		return ""
	}
	return c.prefix + "-" + name
}

// start returns the command running gather with args in namespace ns
// ("" for this one), or from source address src on the loopback. A
// generator's namespace has a host name of its own too (its name, in a
// UTS namespace), as a machine has, which its saved run records.
func (c *cluster) start(what, ns string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	switch {
	case ns != "" && what != "server":
		// ip netns exec, unshare and sh exec in turn: one process, ours.
		// /proc/sys/kernel/hostname, not hostname(1): one tool fewer.
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, "unshare", "--uts", "sh", "-c",
			`echo "$0" >/proc/sys/kernel/hostname && exec "$@"`, ns, c.bin}, args...)...)
	case ns != "":
		// ip netns exec execs gather in the namespace: one process, ours.
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, c.bin}, args...)...)
	default:
		cmd = exec.Command(c.bin, args...)
	}
	c.mu.Lock()
	c.procs = append(c.procs, cmd)
	c.mu.Unlock()
	return cmd
}

// generator runs bench on generator i with args, and returns its log
// (standard output and error, as a pod's); kill, if positive, kills it
// that long after its start (a machine lost mid-run).
func (c *cluster) generator(i int, kill time.Duration, args ...string) []byte {
	ns, extra := c.hosts[i], []string(nil)
	if !c.netns {
		ns, extra = "", []string{"--source-addr", c.hosts[i]}
	}
	var log bytes.Buffer
	cmd := c.start(fmt.Sprintf("generator %d", i), ns, append(append(append([]string{"bench"}, extra...), args...), c.target)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	if kill > 0 {
		time.AfterFunc(kill, func() { cmd.Process.Signal(syscall.SIGKILL) })
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	switch {
	case kill > 0 && errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
	case err != nil:
		c.t.Errorf("generator %d: %v\n%s", i, err, log.String())
	}
	return log.Bytes()
}

// split runs args as n segments on generators 0..n-1 at once, from one
// --start-at, and returns their logs, one stream; the segment numbered
// killed (if not -1) is killed after kill.
func (c *cluster) split(n int, run string, killed int, kill time.Duration, args ...string) []byte {
	// Time for the processes to start and connect on a busy machine.
	at := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano)
	logs := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k := time.Duration(0)
			if i == killed {
				k = kill
			}
			logs[i] = c.generator(i, k, append([]string{"--segment", fmt.Sprintf("%d/%d", i, n), "--start-at", at,
				"--run-id", run, "--save", "-"}, args...)...)
		})
	}
	wg.Wait()
	return bytes.Join(logs, nil)
}

func (c *cluster) close() {
	c.mu.Lock()
	for _, p := range c.procs {
		if p.Process != nil && p.ProcessState == nil {
			p.Process.Signal(syscall.SIGTERM)
		}
	}
	c.mu.Unlock()
	for _, p := range c.procs {
		if p.Process != nil && p.ProcessState == nil {
			done := make(chan struct{})
			go func() { p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				p.Process.Kill()
			}
		}
	}
	if c.netns {
		for _, ns := range append([]string{c.prefix + "-srv"}, c.hosts...) {
			exec.Command("ip", "netns", "del", ns).Run() // the veths go with them
		}
	}
}

// merged is what the JSON report of a merge says, as far as these tests
// read it.
type merged struct {
	Requests    int64    `json:"requests"`
	Errors      int64    `json:"errors"`
	Dropped     int64    `json:"dropped"`
	Connections int      `json:"connections"`
	Runs        int      `json:"runs"`
	StartSkewMS float64  `json:"start_skew_ms"`
	Warnings    []string `json:"merge_warnings"`
	Response    struct {
		Count int64   `json:"count"`
		P50MS float64 `json:"p50_ms"`
		P99MS float64 `json:"p99_ms"`
	} `json:"response"`
	Generator struct {
		Target   float64 `json:"target_rate_per_s"`
		Achieved float64 `json:"achieved_rate_per_s"`
	} `json:"generator"`
	Thresholds []struct {
		Expr  string   `json:"expr"`
		Value *float64 `json:"value"`
		Pass  bool     `json:"pass"`
	} `json:"thresholds"`
	Parts []struct {
		Host       string  `json:"host"`
		Segment    int     `json:"segment"`
		StartUnixS float64 `json:"start_unix_s"`
	} `json:"parts"`
}

// mergeLogs runs gather report -o json with args on the logs.
func mergeLogs(t *testing.T, logs []byte, args ...string) (code int, m merged, stderr string) {
	t.Helper()
	var out, errs bytes.Buffer
	code = run(append(append([]string{"report", "-o", "json"}, args...), "-"), bytes.NewReader(logs), &out, &errs)
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("report: %v\n%s", err, out.String())
		}
	}
	return code, m, errs.String()
}

// Four segments, each a process on a machine of its own, against one
// server: their merged report holds exactly the requests a single run
// makes (closed model: -n; open model: the schedule), the open model's
// rate as asked, the start skew; thresholds judge the merge; and a
// segment killed mid-run shows as missing.
func TestClusterOfSegments(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of processes: not with -short")
	}
	const n = 4
	c := newCluster(t, n+1) // the last generator runs the single runs
	id := strconv.Itoa(os.Getpid())

	t.Run("closed model", func(t *testing.T) {
		single := c.generator(n, 0, "-n", "2000", "-c", "8", "--save", "-")
		_, one, _ := mergeLogs(t, single)
		code, m, errs := mergeLogs(t, c.split(n, "closed-"+id, -1, 0, "-n", "2000", "-c", "8"))
		if code != 0 {
			t.Fatalf("report: exit status %d: %s", code, errs)
		}
		if m.Requests != 2000 || one.Requests != 2000 || m.Errors != 0 || m.Connections != 8 || m.Runs != n {
			t.Errorf("merged %d requests (%d errors) on %d connections in %d runs; single %d; want 2000 on 8 in %d",
				m.Requests, m.Errors, m.Connections, m.Runs, one.Requests, n)
		}
	})

	t.Run("open model", func(t *testing.T) {
		// -n, not -z: every request of the schedule is sent, late if the
		// shared machine holds a generator up, so the counts are exact.
		args := []string{"-q", "500", "-n", "1500", "-c", "40"}
		_, one, _ := mergeLogs(t, c.generator(n, 0, append(args, "--save", "-")...))
		logs := c.split(n, "open-"+id, -1, 0, args...)
		code, m, errs := mergeLogs(t, logs, "--threshold", "p99<10s", "--threshold", "achieved>=99.5%", "--threshold", "p50<1us")
		if code != 3 {
			t.Fatalf("report with a threshold that fails: exit status %d, want 3: %s", code, errs)
		}
		if m.Requests != 1500 || one.Requests != 1500 || m.Dropped != 0 || m.Errors != 0 || m.Response.Count != 1500 {
			t.Errorf("merged %d requests (%d answered, %d dropped, %d errors), single %d; want 1500",
				m.Requests, m.Response.Count, m.Dropped, m.Errors, one.Requests)
		}
		// The target adds up exactly; the achieved rate is near it, but a
		// shared machine that holds a generator up stretches the run (98.6%
		// seen under a full test suite's load).
		if math.Abs(m.Generator.Target-500) > 1e-6 || math.Abs(m.Generator.Achieved/500-1) > 0.05 {
			t.Errorf("merged rate %.1f req/s of %.1f asked: want within 5%% of 500", m.Generator.Achieved, m.Generator.Target)
		}
		if m.StartSkewMS <= 0 || m.StartSkewMS > 1000 || len(m.Parts) != n {
			t.Errorf("start skew %.3f ms over %d parts: want one measured, of %d", m.StartSkewMS, len(m.Parts), n)
		}
		t.Logf("start skew of %d segments: %.3f ms (namespaces: %v)", n, m.StartSkewMS, c.netns)
		// The verdicts are the merge's: its p50 and its achieved rate.
		want := map[string]struct {
			value float64
			pass  bool
		}{"p99<10s": {m.Response.P99MS, true}, "achieved>=99.5%": {100 * m.Generator.Achieved / 500, 100*m.Generator.Achieved/500 >= 99.5}, "p50<1us": {m.Response.P50MS, false}}
		for _, v := range m.Thresholds {
			w, ok := want[v.Expr]
			if !ok || v.Value == nil || math.Abs(*v.Value-w.value) > 1e-6*math.Max(1, w.value) || v.Pass != w.pass {
				t.Errorf("threshold %s: value %v, pass %v; want the merge's %v, %v", v.Expr, deref(v.Value), v.Pass, w.value, w.pass)
			}
			delete(want, v.Expr)
		}
		if len(want) > 0 {
			t.Errorf("thresholds not judged: %v", want)
		}
		// Each part records its segment, and in namespaces its host.
		for i, p := range m.Parts {
			if p.Segment != i || c.netns && p.Host != c.hosts[i] {
				t.Errorf("part %d: segment %d on host %q; want segment %d on %q", i, p.Segment, p.Host, i, c.hosts[i])
			}
		}
	})

	t.Run("a segment killed", func(t *testing.T) {
		logs := c.split(n, "killed-"+id, 2, 4*time.Second, "-q", "500", "-z", "3s", "-c", "40")
		code, _, errs := mergeLogs(t, logs)
		if want := "gather: report: run killed-" + id + ": segment 2/4 is missing (3 of 4 given); --force merges what there is\n"; code != 2 || !strings.HasSuffix(errs, want) {
			t.Errorf("exit status %d, stderr %q; want 2 and %q", code, errs, want)
		}
		code, m, errs := mergeLogs(t, logs, "--force")
		if code != 0 || m.Runs != 3 || len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "segment 2/4 is missing") {
			t.Errorf("--force: exit status %d, %d runs, warnings %q (%s); want 0, 3 and the missing segment", code, m.Runs, m.Warnings, errs)
		}
	})
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}
