package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// emitted runs bench --emit with args and decodes its manifest strictly
// into the Kubernetes API's types.
func emitted(t *testing.T, dir string, args ...string) (*corev1.ConfigMap, *batchv1.Job, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newBenchCmd()
	cmd.SetArgs(append([]string{"--emit", "kubernetes", "--image", "registry.example.com/gather:test"}, args...))
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	t.Chdir(dir) // relative file names, as a user gives them
	if err := cmd.Execute(); err != nil {
		t.Fatalf("bench --emit: %v\n%s", err, stderr.String())
	}
	var cm *corev1.ConfigMap
	var job *batchv1.Job
	for _, doc := range strings.Split(stdout.String(), "\n---\n") {
		switch {
		case strings.Contains(doc, "\nkind: ConfigMap\n"):
			cm = new(corev1.ConfigMap)
			if err := yaml.UnmarshalStrict([]byte(doc), cm); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(doc, "\nkind: Job\n"):
			job = new(batchv1.Job)
			if err := yaml.UnmarshalStrict([]byte(doc), job); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("an unknown document:\n%s", doc)
		}
	}
	if job == nil {
		t.Fatalf("no Job:\n%s", stdout.String())
	}
	return cm, job, stdout.String()
}

// The manifest is what a cluster would run: this test plays the Job
// controller, running each pod's arguments as its own process, with its
// JOB_COMPLETION_INDEX, in a folder laid out as the ConfigMap volume
// would be; then the collect command the manifest gives merges the pods'
// logs into the report of the whole run, judged by the thresholds.
func TestEmitKubernetesRunsAsItSays(t *testing.T) {
	gather, err := exec.LookPath("gather") // the test binary as gather: see TestMain
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.Method == "POST" {
			b := make([]byte, 64)
			n, _ := r.Body.Read(b)
			if string(b[:n]) != `{"user": 1}` {
				w.WriteHeader(400)
			}
		}
		w.Write([]byte("hello!"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("api.txt", "GET "+srv.URL+"/a\n\nPOST "+srv.URL+"/b\n@bodies/user.json\n")
	write("bodies/user.json", `{"user": 1}`)

	const segments, requests = 3, 600
	cm, job, manifest := emitted(t, dir, "--segments", strconv.Itoa(segments), "--start-in", "2s",
		"-n", strconv.Itoa(requests), "-c", "6", "--targets", "api.txt", "--threshold", "errors<1%", "--threshold", "p99<10s",
		"--cpu", "500m", "--memory", "256Mi", "--name", "bench-test")
	if *job.Spec.Completions != segments || *job.Spec.Parallelism != segments || job.Name != "bench-test" {
		t.Fatalf("completions %d, parallelism %d, name %q", *job.Spec.Completions, *job.Spec.Parallelism, job.Name)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if c.Args[0] != "bench" || !strings.HasPrefix(c.Args[3], "--start-at=") {
		t.Fatalf("args %q", c.Args)
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--threshold") || strings.HasPrefix(a, "--emit") || strings.HasPrefix(a, "--image") || strings.HasPrefix(a, "--cpu") {
			t.Errorf("the pods are given %q", a)
		}
	}

	// The pods' folder, as the volume lays it out.
	pod := t.TempDir()
	for _, it := range job.Spec.Template.Spec.Volumes[0].ConfigMap.Items {
		p := filepath.Join(pod, it.Path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := []byte(cm.Data[it.Key])
		if b, ok := cm.BinaryData[it.Key]; ok {
			data = b
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logs := make([]bytes.Buffer, segments)
	var wg sync.WaitGroup
	for i := range segments {
		wg.Go(func() {
			cmd := exec.Command(gather, c.Args...)
			cmd.Dir = pod
			cmd.Env = append(os.Environ(), "JOB_COMPLETION_INDEX="+strconv.Itoa(i), c.Env[0].Name+"=node-"+strconv.Itoa(i))
			cmd.Stdout, cmd.Stderr = &logs[i], &logs[i] // a pod's log holds both
			if err := cmd.Run(); err != nil {
				t.Errorf("pod %d: %v\n%s", i, err, logs[i].String())
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// The collect command, from the manifest's comments, on the logs.
	i := strings.Index(manifest, "| gather report ")
	if i < 0 {
		t.Fatalf("no collect command in:\n%s", manifest)
	}
	line := manifest[i+len("| gather "):]
	line = line[:strings.IndexByte(line, '\n')]
	if line != "report --threshold 'errors<1%' --threshold 'p99<10s' -" {
		t.Fatalf("collect command %q", line)
	}
	var all bytes.Buffer
	for i := range logs {
		all.Write(logs[i].Bytes())
	}
	var out, errs bytes.Buffer
	code := run([]string{"report", "--threshold", "errors<1%", "--threshold", "p99<10s", "-"}, bytes.NewReader(all.Bytes()), &out, &errs)
	if code != 0 {
		t.Fatalf("collect: exit status %d\n%s\n%s", code, errs.String(), out.String())
	}
	for _, want := range []string{
		"Requests       600  (", "Runs           3 merged", "Start skew ", "3 segments of run ",
		"Errors         0  (0.00%), non-2xx answers 0", "pass  errors<1%", "pass  p99<10s",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the merged report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"report", "-o", "json", "-"}, bytes.NewReader(all.Bytes()), &out, &errs); code != 0 {
		t.Fatalf("collect -o json: exit status %d: %s", code, errs.String())
	}
	for i := range segments {
		if want := `"node": "node-` + strconv.Itoa(i) + `"`; !strings.Contains(out.String(), want) {
			t.Errorf("the merged JSON report lacks %s", want)
		}
	}
	if served.Load() != requests {
		t.Errorf("the server saw %d requests, want %d", served.Load(), requests)
	}
}

// What --emit cannot do is a usage error, before anything is printed.
func TestEmitUsageErrors(t *testing.T) {
	t.Parallel()
	const url = "http://127.0.0.1:9/"
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"--emit", "helm", "--segments", "2", "--image", "i", url}, `bench: --emit "helm": the one manifest is kubernetes`},
		{[]string{"--emit", "kubernetes", "--image", "i", url}, "bench: --emit kubernetes needs --segments N, the number of pods"},
		{[]string{"--emit", "kubernetes", "--segments", "2", url}, "bench: --emit kubernetes needs --image, an image holding gather (build one with deploy/kubernetes/Containerfile)"},
		{[]string{"--emit", "kubernetes", "--segments", "2", "--segment", "0/2", "--image", "i", url}, "bench: --segment i/N is each pod's, from --segments N and its index: not with --emit"},
		{[]string{"--image", "i", url}, "bench: --image needs --emit kubernetes"},
		{[]string{"--emit", "kubernetes", "--segments", "2", "--image", "i", "--save", "x.json", url}, "bench: --save is set by --emit: each pod saves its run to its log (--save -) for the report to merge"},
		{[]string{"--emit", "kubernetes", "--segments", "2", "--image", "i", "--hlog", "x.hlog", url}, "bench: --hlog: a pod would write an interval log and lose it: not with --emit"},
		{[]string{"--emit", "kubernetes", "--segments", "2", "--image", "i", "--threshold", "p99<1s", "--abort-on-fail", url}, "bench: --abort-on-fail judges one segment alone: not with --emit (thresholds judge the merge)"},
		{[]string{"--emit", "kubernetes", "--segments", "4", "--image", "i", "-c", "3", url}, "bench: --segments 4: 3 connections over 4 segments leave segment 3/4 without one"},
		{[]string{"--emit", "kubernetes", "--segments", "2", "--image", "i", "--name", "Big", url}, `bench: --emit: name "Big": want lower-case letters, digits and '-', at most 52`},
		{[]string{"--emit", "kubernetes", "--segments", "2", "--image", "i", "--cpu", "lots", url}, `bench: --emit: cpu "lots": want a quantity, e.g. 2 or 500m`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"bench"}, tt.args...), strings.NewReader(""), &stdout, &stderr); code != 2 ||
			stdout.Len() != 0 || stderr.String() != "gather: "+tt.err+"\n" {
			t.Errorf("%q: exit status %d, stdout %d bytes, stderr %q; want 2 and %q", tt.args, code, stdout.Len(), stderr.String(), tt.err)
		}
	}
}
