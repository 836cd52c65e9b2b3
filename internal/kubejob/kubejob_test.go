package kubejob

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

func testJob() *Job {
	return &Job{
		Name: "gather-bench-5f2a9c0e", Namespace: "load", Image: "registry.example.com/gather:1.0",
		Segments: 4, RunID: "5f2a9c0e1b3d4a67", StartAt: time.Date(2026, 12, 1, 8, 32, 0, 0, time.UTC),
		Args: []string{"-z=30s", "-q=40000", "-c=200", "-H=X-Token: a b", "--targets=flags/0-targets.txt", "http://svc.load:8080/"},
		Files: []File{
			{Path: "flags/0-targets.txt", Data: []byte("GET http://svc.load:8080/a\n\nPOST http://svc.load:8080/b\n@bodies/b.bin\n")},
			{Path: "bodies/b.bin", Data: []byte{0xff, 0x00, 0xfe, '{', '{'}},
		},
		CPU: "2", Memory: "512Mi", Deadline: 5 * time.Minute,
		Command: "gather bench --emit kubernetes --segments 4 ...", Collect: "gather report -",
	}
}

// decode splits a manifest into its documents and decodes each strictly
// (an unknown or misplaced field is an error) into the Kubernetes API's
// own types.
func decode(t *testing.T, manifest []byte) (*corev1.ConfigMap, *batchv1.Job) {
	t.Helper()
	var cm *corev1.ConfigMap
	var job *batchv1.Job
	for _, doc := range strings.Split(string(manifest), "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		switch head.Kind {
		case "ConfigMap":
			cm = new(corev1.ConfigMap)
			if err := yaml.UnmarshalStrict([]byte(doc), cm); err != nil {
				t.Fatalf("ConfigMap: %v", err)
			}
		case "Job":
			job = new(batchv1.Job)
			if err := yaml.UnmarshalStrict([]byte(doc), job); err != nil {
				t.Fatalf("Job: %v", err)
			}
		default:
			t.Fatalf("a document of kind %q", head.Kind)
		}
	}
	if job == nil {
		t.Fatal("no Job in the manifest")
	}
	return cm, job
}

func TestManifestDecodesIntoTheKubernetesTypes(t *testing.T) {
	t.Parallel()
	j := testJob()
	var buf bytes.Buffer
	if err := j.Write(&buf); err != nil {
		t.Fatal(err)
	}
	cm, job := decode(t, buf.Bytes())
	if job.APIVersion != "batch/v1" || job.Name != j.Name || job.Namespace != "load" {
		t.Errorf("job %s %s/%s", job.APIVersion, job.Namespace, job.Name)
	}
	s := job.Spec
	switch {
	case s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion:
		t.Errorf("completion mode %v, want Indexed", s.CompletionMode)
	case s.Completions == nil || *s.Completions != 4 || s.Parallelism == nil || *s.Parallelism != 4:
		t.Errorf("completions %v, parallelism %v; want 4 and 4", s.Completions, s.Parallelism)
	case s.BackoffLimit == nil || *s.BackoffLimit != 0:
		t.Errorf("backoff limit %v, want 0", s.BackoffLimit)
	case s.ActiveDeadlineSeconds == nil || *s.ActiveDeadlineSeconds != 300:
		t.Errorf("deadline %v, want 300 s", s.ActiveDeadlineSeconds)
	}
	pod := s.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || len(pod.Containers) != 1 {
		t.Fatalf("restart policy %q, %d containers", pod.RestartPolicy, len(pod.Containers))
	}
	c := pod.Containers[0]
	wantArgs := []string{"bench", "--segments=4", "--run-id=5f2a9c0e1b3d4a67", "--start-at=2026-12-01T08:32:00Z", "--save=-",
		"-z=30s", "-q=40000", "-c=200", "-H=X-Token: a b", "--targets=flags/0-targets.txt", "http://svc.load:8080/"}
	if c.Image != j.Image || !slices.Equal(c.Args, wantArgs) {
		t.Errorf("image %q, args %q; want %q", c.Image, c.Args, wantArgs)
	}
	for _, r := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		if cpu, mem := r[corev1.ResourceCPU], r[corev1.ResourceMemory]; cpu.Cmp(resource.MustParse("2")) != 0 || mem.Cmp(resource.MustParse("512Mi")) != 0 {
			t.Errorf("resources %v, want cpu 2 and memory 512Mi", r)
		}
	}
	if len(c.Env) != 1 || c.Env[0].Name != NodeEnv || c.Env[0].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("env %+v, want %s from spec.nodeName", c.Env, NodeEnv)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container security context %+v", sc)
	}
	// The anti-affinity selects the run's own pods, by node.
	aa := pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	if len(aa) != 1 || aa[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" ||
		aa[0].PodAffinityTerm.LabelSelector.MatchLabels[RunLabel] != s.Template.Labels[RunLabel] || s.Template.Labels[RunLabel] != j.RunID {
		t.Errorf("anti-affinity %+v for pods labelled %v", aa, s.Template.Labels)
	}
	// The files: every item of the volume is a key of the ConfigMap,
	// mounted where the arguments look for it, bytes intact.
	if cm == nil || cm.Name != j.Name+"-files" || cm.Namespace != "load" {
		t.Fatalf("config map %+v", cm)
	}
	if c.WorkingDir != "/gather" || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/gather" || len(pod.Volumes) != 1 {
		t.Fatalf("working dir %q, mounts %+v, volumes %+v", c.WorkingDir, c.VolumeMounts, pod.Volumes)
	}
	items := pod.Volumes[0].ConfigMap.Items
	got := map[string][]byte{}
	for _, it := range items {
		if v, ok := cm.Data[it.Key]; ok {
			got[it.Path] = []byte(v)
		} else if b, ok := cm.BinaryData[it.Key]; ok {
			got[it.Path] = b
		} else {
			t.Errorf("item %s: no key %s in the config map", it.Path, it.Key)
		}
	}
	for _, f := range j.Files {
		if !bytes.Equal(got[f.Path], f.Data) {
			t.Errorf("%s: %q in the pods, want %q", f.Path, got[f.Path], f.Data)
		}
	}
	if !strings.HasPrefix(buf.String(), "# gather bench, distributed: run 5f2a9c0e1b3d4a67 in 4 segments") ||
		!strings.Contains(buf.String(), "kubectl logs -l job-name=gather-bench-5f2a9c0e --tail=-1 --max-log-requests=5") {
		t.Errorf("the comments do not say how to collect:\n%s", buf.String())
	}
}

// Without files there is no ConfigMap, and nothing mounted.
func TestManifestWithoutFiles(t *testing.T) {
	t.Parallel()
	j := testJob()
	j.Files, j.Namespace = nil, ""
	var buf bytes.Buffer
	if err := j.Write(&buf); err != nil {
		t.Fatal(err)
	}
	cm, job := decode(t, buf.Bytes())
	if cm != nil || job.Namespace != "" || len(job.Spec.Template.Spec.Volumes) != 0 || job.Spec.Template.Spec.Containers[0].WorkingDir != "" {
		t.Errorf("config map %v, namespace %q, volumes %v", cm, job.Namespace, job.Spec.Template.Spec.Volumes)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		edit func(*Job)
		want string
	}{
		{func(j *Job) { j.Name = "Gather" }, `name "Gather"`},
		{func(j *Job) { j.Name = strings.Repeat("a", 53) }, "at most 52"},
		{func(j *Job) { j.Namespace = "a_b" }, `namespace "a_b"`},
		{func(j *Job) { j.Image = "" }, `image ""`},
		{func(j *Job) { j.CPU = "two" }, `cpu "two"`},
		{func(j *Job) { j.Memory = "1 GB" }, `memory "1 GB"`},
		{func(j *Job) { j.Files[0].Path = "../x" }, `file "../x"`},
		{func(j *Job) { j.Files[0].Path = "/etc/x" }, `file "/etc/x"`},
		{func(j *Job) { j.Files[0].Data = make([]byte, MaxFiles) }, "more than a ConfigMap holds"},
		{func(j *Job) { j.RunID = "-x" }, "cannot be a label value"},
	} {
		j := testJob()
		tt.edit(j)
		if err := j.Check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want one saying %q", err, tt.want)
		}
	}
	if err := testJob().Check(); err != nil {
		t.Errorf("a good job: %v", err)
	}
}
