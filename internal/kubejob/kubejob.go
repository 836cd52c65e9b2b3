// Package kubejob writes the Kubernetes manifest of a distributed gather
// bench run: an Indexed Job whose N pods each run one segment of the run
// (bench --segments N, the index from JOB_COMPLETION_INDEX), all starting
// at one --start-at, spread over the nodes, each saving its run to its log
// for 'kubectl logs | gather report -' to merge; and, when the run reads
// files (a body, targets, data, a CA), a ConfigMap that ships them.
//
// The manifest is written from this package's own types, which mirror the
// few fields of the Kubernetes API it uses (batch/v1 Job, v1 ConfigMap)
// with their JSON names, so that gather does not link the Kubernetes API
// (some tens of megabytes of dependencies) for one manifest; a test
// decodes what it writes strictly into k8s.io/api's types, which catches
// a misspelt or misplaced field.
package kubejob

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Labels the manifest puts on the Job and its pods; RunLabel selects the
// pods of one run (for the anti-affinity and for collecting).
const (
	RunLabel  = "gather.dev/run"
	nameLabel = "app.kubernetes.io/name"
	partLabel = "app.kubernetes.io/component"
)

// NodeEnv is the environment variable through which each pod learns its
// node's name (the downward API's spec.nodeName), for its saved run.
const NodeEnv = "GATHER_NODE"

// filesMount is where the shipped files are mounted, and the container's
// working directory, so that relative paths mean what they meant where
// the manifest was made.
const filesMount = "/gather"

// MaxFiles bounds the bytes shipped in the ConfigMap: Kubernetes refuses
// objects over about 1 MiB.
const MaxFiles = 1000 << 10

// A Job is what the manifest describes.
type Job struct {
	// Name names the Job (and, with "-files", its ConfigMap); Namespace
	// is where it goes ("" leaves it to kubectl).
	Name, Namespace string
	// Image is the container image holding gather.
	Image string
	// Segments is N: completions and parallelism.
	Segments int
	// RunID identifies the distributed run; StartAt is when its segments
	// start.
	RunID   string
	StartAt time.Time
	// Args are bench's arguments for every segment, the URL last, without
	// --segments, --start-at, --run-id or --save, which the manifest adds.
	Args []string
	// Files are shipped in a ConfigMap and mounted at their Path, relative
	// to the container's working directory.
	Files []File
	// CPU and Memory are each pod's resources, as Kubernetes quantities
	// ("2", "500m", "512Mi"): requested and limited alike, so that the
	// pods get the Guaranteed class and are not throttled below what was
	// asked.
	CPU, Memory string
	// Deadline bounds the Job's life (activeDeadlineSeconds), counted
	// from its creation.
	Deadline time.Duration
	// Command is the bench command line the manifest was made from, and
	// Collect the report command that merges its segments, for the
	// comments at the top.
	Command, Collect string
}

// A File is one file the run reads, as it will be in the pods.
type File struct {
	Path string // relative, clean, within the working directory
	Data []byte
}

// The patterns are compiled on first use, not at start: every gather
// command would pay for them (see docs/fetch.md, where the memory goes).
var (
	dnsLabel = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`) })
	quantity = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)
	})
	// labelValue: at most 63 characters, alphanumeric at both ends.
	labelValue = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	})
)

// MaxName bounds the Job's name: the pods' host names are the name, the
// index and a dash, and must fit in 63 characters.
const MaxName = 52

// Check reports what is wrong with j, naming the field as bench's flags do.
func (j *Job) Check() error {
	switch {
	case len(j.Name) > MaxName || !dnsLabel().MatchString(j.Name):
		return fmt.Errorf("name %q: want lower-case letters, digits and '-', at most %d", j.Name, MaxName)
	case j.Namespace != "" && (len(j.Namespace) > 63 || !dnsLabel().MatchString(j.Namespace)):
		return fmt.Errorf("namespace %q: want lower-case letters, digits and '-', at most 63", j.Namespace)
	case j.Image == "" || strings.ContainsAny(j.Image, " \t\r\n"):
		return fmt.Errorf("image %q: want an image reference, e.g. registry.example.com/gather:1.0", j.Image)
	case j.Segments < 1:
		return fmt.Errorf("%d segments", j.Segments)
	case !labelValue().MatchString(j.RunID):
		return fmt.Errorf("run id %q cannot be a label value", j.RunID)
	case !quantity().MatchString(j.CPU):
		return fmt.Errorf("cpu %q: want a quantity, e.g. 2 or 500m", j.CPU)
	case !quantity().MatchString(j.Memory):
		return fmt.Errorf("memory %q: want a quantity, e.g. 512Mi or 2Gi", j.Memory)
	case j.Deadline < time.Second:
		return fmt.Errorf("deadline %v: want at least a second", j.Deadline)
	case len(j.Args) == 0:
		return errors.New("no bench arguments")
	}
	size := 0
	for _, f := range j.Files {
		size += len(f.Data)
		if f.Path == "" || strings.HasPrefix(f.Path, "/") || strings.Contains("/"+f.Path+"/", "/../") {
			return fmt.Errorf("file %q: want a path within the working directory", f.Path)
		}
	}
	if size > MaxFiles {
		return fmt.Errorf("the files to ship hold %d bytes, more than a ConfigMap holds (%d): put them in the image", size, MaxFiles)
	}
	return nil
}

// Write writes j's manifest: comments saying how to apply it and collect
// its results, then the ConfigMap of its files if it has any, then the
// Job, as YAML documents that 'kubectl apply -f -' takes.
func (j *Job) Write(w io.Writer) error {
	if err := j.Check(); err != nil {
		return fmt.Errorf("kubejob: %w", err)
	}
	var docs []any
	if len(j.Files) > 0 {
		docs = append(docs, j.configMap())
	}
	docs = append(docs, j.job())
	if _, err := io.WriteString(w, j.header()); err != nil {
		return err
	}
	for i, d := range docs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(d); err != nil {
			return fmt.Errorf("kubejob: %w", err)
		}
		if err := enc.Close(); err != nil {
			return err
		}
	}
	return nil
}

// header returns the comments that start the manifest.
func (j *Job) header() string {
	var b strings.Builder
	line := func(format string, args ...any) {
		b.WriteString(strings.TrimRight("# "+fmt.Sprintf(format, args...), " "))
		b.WriteByte('\n')
	}
	line("gather bench, distributed: run %s in %d segments, as a Kubernetes Indexed Job.", j.RunID, j.Segments)
	if j.Command != "" {
		line("Made by: %s", j.Command)
	}
	line("")
	line("Start:    every segment starts at %s (--start-at). Apply this before", j.StartAt.UTC().Format(time.RFC3339))
	line("          then, leaving time to pull the image; a pod that starts later")
	line("          runs late and says so (make the manifest again to move the start).")
	line("Apply:    kubectl apply -f job.yaml")
	line("Wait:     kubectl wait --for=condition=complete --timeout=%ds job/%s", int(j.Deadline.Seconds()), j.Name)
	line("Collect:  kubectl logs -l job-name=%s --tail=-1 --max-log-requests=%d \\", j.Name, max(j.Segments, 5))
	line("            | %s", j.Collect)
	line("          Each pod's log ends with its run on one line (--save -); the")
	line("          report merges them, thresholds included, and names a segment")
	line("          that is missing (a pod that failed is not retried: backoffLimit 0).")
	line("Clean up: kubectl delete job/%s (it deletes itself a day after it ends)", j.Name)
	return b.String()
}

// The mirrored types: the Kubernetes API's fields, by their JSON names.

type object struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
}

type metadata struct {
	Name      string            `yaml:"name,omitempty"`
	Namespace string            `yaml:"namespace,omitempty"`
	Labels    map[string]string `yaml:"labels,omitempty"`
}

type configMap struct {
	object     `yaml:",inline"`
	Data       map[string]string `yaml:"data,omitempty"`
	BinaryData map[string]string `yaml:"binaryData,omitempty"`
}

type job struct {
	object `yaml:",inline"`
	Spec   jobSpec `yaml:"spec"`
}

type jobSpec struct {
	CompletionMode          string      `yaml:"completionMode"`
	Completions             int         `yaml:"completions"`
	Parallelism             int         `yaml:"parallelism"`
	BackoffLimit            int         `yaml:"backoffLimit"`
	ActiveDeadlineSeconds   int64       `yaml:"activeDeadlineSeconds"`
	TTLSecondsAfterFinished int         `yaml:"ttlSecondsAfterFinished"`
	Template                podTemplate `yaml:"template"`
}

type podTemplate struct {
	Metadata metadata `yaml:"metadata"`
	Spec     podSpec  `yaml:"spec"`
}

type podSpec struct {
	RestartPolicy                 string             `yaml:"restartPolicy"`
	TerminationGracePeriodSeconds int                `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               podSecurityContext `yaml:"securityContext"`
	Affinity                      affinity           `yaml:"affinity"`
	Containers                    []container        `yaml:"containers"`
	Volumes                       []volume           `yaml:"volumes,omitempty"`
}

type podSecurityContext struct {
	RunAsNonRoot bool `yaml:"runAsNonRoot"`
	RunAsUser    int  `yaml:"runAsUser"`
	RunAsGroup   int  `yaml:"runAsGroup"`
}

type affinity struct {
	PodAntiAffinity podAntiAffinity `yaml:"podAntiAffinity"`
}

type podAntiAffinity struct {
	Preferred []weightedTerm `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
}

type weightedTerm struct {
	Weight int          `yaml:"weight"`
	Term   affinityTerm `yaml:"podAffinityTerm"`
}

type affinityTerm struct {
	LabelSelector labelSelector `yaml:"labelSelector"`
	TopologyKey   string        `yaml:"topologyKey"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type container struct {
	Name            string          `yaml:"name"`
	Image           string          `yaml:"image"`
	ImagePullPolicy string          `yaml:"imagePullPolicy"`
	Args            []string        `yaml:"args"`
	WorkingDir      string          `yaml:"workingDir,omitempty"`
	Env             []envVar        `yaml:"env"`
	Resources       resources       `yaml:"resources"`
	SecurityContext securityContext `yaml:"securityContext"`
	VolumeMounts    []volumeMount   `yaml:"volumeMounts,omitempty"`
}

type envVar struct {
	Name      string       `yaml:"name"`
	ValueFrom envVarSource `yaml:"valueFrom"`
}

type envVarSource struct {
	FieldRef fieldRef `yaml:"fieldRef"`
}

type fieldRef struct {
	FieldPath string `yaml:"fieldPath"`
}

type resources struct {
	Requests map[string]string `yaml:"requests"`
	Limits   map[string]string `yaml:"limits"`
}

type securityContext struct {
	AllowPrivilegeEscalation bool         `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   bool         `yaml:"readOnlyRootFilesystem"`
	Capabilities             capabilities `yaml:"capabilities"`
}

type capabilities struct {
	Drop []string `yaml:"drop"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type volume struct {
	Name      string          `yaml:"name"`
	ConfigMap configMapVolume `yaml:"configMap"`
}

type configMapVolume struct {
	Name  string    `yaml:"name"`
	Items []keyPath `yaml:"items"`
}

type keyPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

func (j *Job) labels() map[string]string {
	return map[string]string{nameLabel: "gather", partLabel: "bench", RunLabel: j.RunID}
}

func (j *Job) meta(name string) metadata {
	return metadata{Name: name, Namespace: j.Namespace, Labels: j.labels()}
}

// fileKey is the ConfigMap key of file i: keys may not hold '/'.
func fileKey(i int) string { return fmt.Sprintf("file-%d", i) }

func (j *Job) configMap() *configMap {
	cm := &configMap{object: object{APIVersion: "v1", Kind: "ConfigMap", Metadata: j.meta(j.Name + "-files")}}
	for i, f := range j.Files {
		if utf8.Valid(f.Data) {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[fileKey(i)] = string(f.Data)
		} else {
			if cm.BinaryData == nil {
				cm.BinaryData = map[string]string{}
			}
			cm.BinaryData[fileKey(i)] = base64.StdEncoding.EncodeToString(f.Data)
		}
	}
	return cm
}

// Pod security: gather needs no privilege, no writable file and no
// particular user; 65532 is the distroless images' "nonroot".
const nonRoot = 65532

func (j *Job) job() *job {
	args := append([]string{"bench",
		fmt.Sprintf("--segments=%d", j.Segments),
		"--run-id=" + j.RunID,
		"--start-at=" + j.StartAt.UTC().Format(time.RFC3339Nano),
		"--save=-",
	}, j.Args...)
	res := map[string]string{"cpu": j.CPU, "memory": j.Memory}
	c := container{
		Name:            "gather",
		Image:           j.Image,
		ImagePullPolicy: "IfNotPresent",
		Args:            args,
		Env:             []envVar{{Name: NodeEnv, ValueFrom: envVarSource{FieldRef: fieldRef{FieldPath: "spec.nodeName"}}}},
		Resources:       resources{Requests: res, Limits: res},
		SecurityContext: securityContext{Capabilities: capabilities{Drop: []string{"ALL"}}, ReadOnlyRootFilesystem: true},
	}
	spec := podSpec{
		RestartPolicy:                 "Never",
		TerminationGracePeriodSeconds: 30,
		SecurityContext:               podSecurityContext{RunAsNonRoot: true, RunAsUser: nonRoot, RunAsGroup: nonRoot},
		// Preferred, not required: with fewer nodes than segments the
		// pods still all run (they must run at once), some sharing a node.
		Affinity: affinity{PodAntiAffinity: podAntiAffinity{Preferred: []weightedTerm{{
			Weight: 100,
			Term: affinityTerm{
				LabelSelector: labelSelector{MatchLabels: map[string]string{RunLabel: j.RunID}},
				TopologyKey:   "kubernetes.io/hostname",
			},
		}}}},
	}
	if len(j.Files) > 0 {
		c.WorkingDir = filesMount
		c.VolumeMounts = []volumeMount{{Name: "files", MountPath: filesMount, ReadOnly: true}}
		v := volume{Name: "files", ConfigMap: configMapVolume{Name: j.Name + "-files"}}
		for i, f := range j.Files {
			v.ConfigMap.Items = append(v.ConfigMap.Items, keyPath{Key: fileKey(i), Path: f.Path})
		}
		sort.SliceStable(v.ConfigMap.Items, func(a, b int) bool { return v.ConfigMap.Items[a].Path < v.ConfigMap.Items[b].Path })
		spec.Volumes = []volume{v}
	}
	spec.Containers = []container{c}
	return &job{
		object: object{APIVersion: "batch/v1", Kind: "Job", Metadata: j.meta(j.Name)},
		Spec: jobSpec{
			CompletionMode: "Indexed",
			Completions:    j.Segments,
			Parallelism:    j.Segments,
			// A segment run again would not be on the shared schedule,
			// and would count twice if both attempts logged a run: a
			// failed one shows as missing in the report instead.
			BackoffLimit:            0,
			ActiveDeadlineSeconds:   int64(j.Deadline.Seconds()),
			TTLSecondsAfterFinished: 86400,
			Template:                podTemplate{Metadata: metadata{Labels: j.labels()}, Spec: spec},
		},
	}
}
