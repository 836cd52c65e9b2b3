package main

import (
	"io"
	"net/url"
	"os"

	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/targets"
)

// targetFlags are bench's flags for what it requests: a targets file, how
// to pick from it, and the data file its templates take fields from.
type targetFlags struct {
	file          string
	format        string
	pick          string
	data          string
	dataPick      string
	bodyTemplates bool
	flags         *pflag.FlagSet // to tell a default from a value given
	// readFile, if set, reads the targets file's body files (see
	// targets.Options.ReadFile): --emit keeps them to ship.
	readFile func(name string) ([]byte, error)
}

func (t *targetFlags) register(fl *pflag.FlagSet) {
	t.flags = fl
	fl.StringVar(&t.file, "targets", "", "read the requests from `FILE` (- for stdin): vegeta's HTTP format or JSON Lines")
	fl.StringVar(&t.format, "targets-format", "", "the targets file's `FORMAT`: http or jsonl (default: told by its first line)")
	fl.StringVar(&t.pick, "pick", "", "how each request picks a target: round-robin, random or weighted (default: round-robin; weighted if the file gives weights)")
	fl.StringVar(&t.data, "data", "", "the data `FILE` (CSV with a header row, or JSON Lines) whose fields templates use: {{.user}}")
	fl.StringVar(&t.dataPick, "data-pick", "cycle", "how each request picks a data row: cycle or random")
	fl.BoolVar(&t.bodyTemplates, "body-templates", false, "treat body files (-D, @file, body_file) as templates too (default: sent as they are)")
}

// given reports whether the run reads a targets file.
func (t *targetFlags) given() bool { return t.file != "" }

// conflicts returns a usage error for flags a targets file replaces.
func (t *targetFlags) conflicts(f *benchFlags) error {
	if !t.given() {
		for _, name := range []string{"targets-format", "pick"} {
			if t.flags.Changed(name) {
				return usagef("bench: --%s needs --targets", name)
			}
		}
		return nil
	}
	for _, c := range []struct {
		flag, what string
	}{{"method", "-m"}, {"body", "-d"}, {"body-file", "-D"}} {
		if t.flags.Changed(c.flag) {
			return usagef("bench: %s cannot be used with --targets: each target has its own (give it in the file)", c.what)
		}
	}
	if t.file == "-" && t.data == "-" {
		return usagef("bench: --targets and --data cannot both read stdin")
	}
	return nil
}

// options returns how to read the targets, loading the data file.
func (t *targetFlags) options(base *url.URL, header [][2]string, stdin io.Reader) (targets.Options, error) {
	opt := targets.Options{Base: base, Header: header, BodyTemplates: t.bodyTemplates, ReadFile: t.readFile}
	var err error
	if t.pick != "" {
		if opt.Pick, err = targets.ParsePick(t.pick); err != nil {
			return opt, usagef("bench: --pick: %v", err)
		}
	}
	if opt.RowPick, err = targets.ParseRowPick(t.dataPick); err != nil {
		return opt, usagef("bench: --data-pick: %v", err)
	}
	switch t.format {
	case "", "http", "jsonl":
		opt.Format = t.format
	default:
		return opt, usagef("bench: --targets-format must be http or jsonl, got %q", t.format)
	}
	if t.data == "" {
		if t.flags.Changed("data-pick") {
			return opt, usagef("bench: --data-pick needs --data")
		}
		return opt, nil
	}
	r, name, closeFile, err := openFlagFile(t.data, "--data", stdin)
	if err != nil {
		return opt, err
	}
	defer closeFile()
	if opt.Data, err = targets.LoadData(r, name, targets.DataOptions{}); err != nil {
		return opt, usagef("bench: %v", err)
	}
	return opt, nil
}

// load reads the targets file.
func (t *targetFlags) load(opt targets.Options, stdin io.Reader) (*targets.Set, error) {
	r, name, closeFile, err := openFlagFile(t.file, "--targets", stdin)
	if err != nil {
		return nil, err
	}
	defer closeFile()
	set, err := targets.Load(r, name, opt)
	if err != nil {
		return nil, usagef("bench: %v", err)
	}
	return set, nil
}

// unused returns a usage error for a flag the requests would not use: a
// --data file that no template reads, or --body-templates with no body
// file (-D; a targets file's own body files are not told apart here).
func (t *targetFlags) unused(set *targets.Set, bodyFile bool) error {
	if t.data != "" && set.Needs()&targets.NeedsRow == 0 {
		example := "{{.field}}"
		if cols := set.Data().Columns(); len(cols) > 0 {
			example = "{{." + cols[0] + "}}"
		}
		return usagef("bench: --data %s: no template uses its fields (such as %s in the URL, a header or the body)", t.data, example)
	}
	if t.bodyTemplates && !t.given() && !bodyFile {
		return usagef("bench: --body-templates needs a body file to treat as a template (-D FILE)")
	}
	return nil
}

// openFlagFile opens a file a flag names, "-" being stdin; a missing or
// unreadable file, or a directory, is a usage error.
func openFlagFile(path, flag string, stdin io.Reader) (r io.Reader, name string, closeFile func(), err error) {
	if path == "-" {
		return stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, usagef("bench: %s: %v", flag, err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, "", nil, usagef("bench: %s %s: is a directory", flag, path)
	}
	return f, path, func() { f.Close() }, nil
}

// single returns the run's one target: the URL, -m, -H and -d, any of
// which may hold templates (a -D file only with --body-templates).
func (t *targetFlags) single(method, rawURL string, header [][2]string, body []byte, bodyTemplate bool, stdin io.Reader) (*targets.Set, error) {
	opt, err := t.options(nil, header, stdin)
	if err != nil {
		return nil, err
	}
	set, err := targets.Single(method, rawURL, body, bodyTemplate, opt)
	if err != nil {
		return nil, usagef("bench: %v", err)
	}
	return set, nil
}
