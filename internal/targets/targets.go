// Package targets reads the requests of a load test and picks one for each
// request sent: targets files in vegeta's HTTP format or in JSON Lines,
// request templates ({{.seq}}, {{randInt 1 100}}, {{uuid}}, the time,
// fields of a data file), and the order in which targets are taken
// (round-robin, random, weighted).
//
// Everything is read and checked before the run: a bad line is one
// [*Error] naming the file, the line and the problem, and nothing is
// skipped. What a run does per request is cheap and allocates nothing:
// [Request.Next] picks a target and a data row, and the target's
// templates render into the caller's buffer ([Template.Append]).
//
// The targets are kept compiled, not as text: about 300 bytes each plus
// their URLs, so 100,000 targets take a few tens of MB. Body files are
// read once however many targets send them, and equal header values and
// bodies are compiled once.
package targets

import (
	"bytes"
	"fmt"
	"io"
	"iter"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A Target is one request of a targets file, compiled. Its templates are
// rendered for each request with a [Request].
type Target struct {
	// Name is what the report groups the target's requests under: the
	// name the file gives, else its method and path without the query,
	// as written ("GET /users/{{.id}}").
	Name string
	// Method is the HTTP method, upper case.
	Method string
	// Path is the request-target: the path and query, starting with "/".
	Path *Template
	// Host is the Host header's value when the target sets one; nil means
	// the run's (the server's host, or --host).
	Host *Template
	// Header holds the other header fields, in order.
	Header []Field
	// Body is the request body; nil for none.
	Body *Template
	// Weight is the target's share in weighted picking; 0 if not given.
	Weight float64
	// File and Line say where the target was defined.
	File string
	Line int

	index  int // in the set
	nameID int // in Set.Names
}

// A Field is a header field whose value may be a template.
type Field struct {
	Name  string
	Value *Template
}

// Index returns the target's position in its set, from 0.
func (t *Target) Index() int { return t.index }

// NameID returns the index of the target's name in [Set.Names].
func (t *Target) NameID() int { return t.nameID }

// Static reports whether no template of the target has an action, so that
// every request it sends is the same.
func (t *Target) Static() bool {
	for _, tpl := range []*Template{t.Path, t.Host, t.Body} {
		if _, ok := tpl.Static(); !ok {
			return false
		}
	}
	for _, f := range t.Header {
		if _, ok := f.Value.Static(); !ok {
			return false
		}
	}
	return true
}

// An Error is a problem in a targets or data file, at a line.
type Error struct {
	File string
	Line int // 0: the file as a whole
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// MaxNames bounds the names a run reports separately. Each costs every
// recorder a histogram (about 190 KiB of address space), so a file of
// 100,000 unnamed URLs cannot make 100,000 of them: the targets of names
// past the first MaxNames are reported together, as [OtherName].
const MaxNames = 100

// OtherName is the name that gathers targets past the first [MaxNames].
const OtherName = "(other)"

// Options say how to read targets.
type Options struct {
	// Format is "http" (vegeta's), "jsonl", or "" to tell by the first
	// line that is not blank or a comment ('{' starts JSON Lines).
	Format string
	// Base, if set, is the server for targets whose URL is only a path
	// ("/login"); absolute URLs must go to the same server.
	Base *url.URL
	// Header is added to every target (bench -H); a target's own field of
	// the same name replaces it.
	Header [][2]string
	// Data is the data file the templates' fields come from; nil if none.
	Data *Data
	// Pick chooses the targets; RowPick the data rows.
	Pick    Pick
	RowPick RowPick
	// BodyTemplates makes body files templates too. Off, they are sent
	// byte for byte, as vegeta sends them: files are often binary, and
	// "{{" in a binary file is no template.
	BodyTemplates bool
	// ReadFile reads body files; nil means os.ReadFile. Relative paths
	// are relative to the current directory, as vegeta's are.
	ReadFile func(name string) ([]byte, error)
}

// Methods are the methods of RFC 9110 (but CONNECT, which opens a tunnel
// rather than asking for a response), PATCH and WebDAV's, kept as the
// package's own strings. Any other upper-case token is a method too
// (PURGE and BAN for caches, a service's own): servers define methods,
// and a load generator should send what it is given.
var methods = []string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH",
}

// isMethod reports whether s is an HTTP token (RFC 9110, section 5.6.2)
// with no lower-case letter: methods are case-sensitive, and "get" is
// nearly always a mistake for GET.
func isMethod(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// A Set is the compiled targets of a run, with how to pick among them.
// It is immutable and safe for concurrent use; each connection picks
// through a [Request] of its own.
type Set struct {
	server  *url.URL
	targets []*Target
	names   []string
	data    *Data
	pick    Pick
	rowPick RowPick
	alias   alias
	needs   Needs
	source  string // what the targets came from, for the report
	label   string // what the report calls them; see String
}

// Server returns the server every target goes to: its scheme and host
// (with the port if one was given), and path "/".
func (s *Set) Server() *url.URL { u := *s.server; return &u }

// Targets returns the targets in their file's order. The slice is the
// set's own: do not modify it.
func (s *Set) Targets() []*Target { return s.targets }

// Names returns the names the report groups targets under, in order of
// first appearance, ending with [OtherName] if there were more than
// [MaxNames].
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Pick returns how the set picks its targets (never PickDefault).
func (s *Set) Pick() Pick { return s.pick }

// Data returns the data file the templates take fields from, or nil.
func (s *Set) Data() *Data { return s.data }

// Needs returns what the set's templates and picks draw on.
func (s *Set) Needs() Needs { return s.needs }

// String names the targets for the report: a single URL as it was given,
// or the server, the number of targets and the file's base name:
// "http://127.0.0.1:8080/ (3 targets from api.txt)".
func (s *Set) String() string {
	if s.label != "" {
		return s.label
	}
	n := len(s.targets)
	what := "1 target"
	if n != 1 {
		what = strconv.Itoa(n) + " targets"
	}
	return fmt.Sprintf("%s (%s from %s)", s.server, what, filepath.Base(s.source))
}

// Methods returns the targets' methods, each once, in order of first use.
func (s *Set) Methods() []string {
	var m []string
	for _, t := range s.targets {
		if !slices.Contains(m, t.Method) {
			m = append(m, t.Method)
		}
	}
	return m
}

// Source returns what the targets came from, for the report: the file's
// name, or "" for a single URL.
func (s *Set) Source() string { return s.source }

// Load reads and compiles a targets file; name is how errors refer to it
// ("-" is shown as "stdin"). All of it is read before it returns, so every
// problem is found before the first request.
func Load(r io.Reader, name string, opt Options) (*Set, error) {
	if name == "-" {
		name = "stdin"
	}
	b := newBuilder(name, opt)
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, &Error{File: name, Msg: err.Error()}
	}
	format := opt.Format
	if format == "" {
		format = sniff(src)
	}
	switch format {
	case "http":
		err = parseHTTP(src, b)
	case "jsonl":
		err = parseJSONL(src, b)
	default:
		return nil, &Error{File: name, Msg: fmt.Sprintf("unknown format %q (want http or jsonl)", format)}
	}
	if err != nil {
		return nil, err
	}
	s, err := b.finish()
	if err != nil {
		return nil, err
	}
	s.source = name
	return s, nil
}

// sniff tells JSON Lines ('{' first) from the HTTP format.
func sniff(src []byte) string {
	for _, line := range lines(src) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if line[0] == '{' {
			return "jsonl"
		}
		break
	}
	return "http"
}

// lines yields the lines of src with their numbers from 1, without the
// "\n" (a "\r" before it stays, for the caller's TrimSpace).
func lines(src []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for n := 1; len(src) > 0; n++ {
			line := src
			if i := bytes.IndexByte(src, '\n'); i >= 0 {
				line, src = src[:i], src[i+1:]
			} else {
				src = nil
			}
			if !yield(n, line) {
				return
			}
		}
	}
}

// Single returns the set of one target: bench's URL, -m, -H and -d. Each
// may hold templates, but the URL's scheme and host may not; body is a
// template if bodyTemplate is set (-d), and sent as it is if not (-D,
// unless --body-templates).
func Single(method, rawURL string, body []byte, bodyTemplate bool, opt Options) (*Set, error) {
	b := newBuilder("", opt)
	if err := b.add(&spec{method: method, url: rawURL, body: body, bodyTemplate: bodyTemplate}); err != nil {
		return nil, err
	}
	s, err := b.finish()
	if err != nil {
		return nil, err
	}
	s.label = rawURL
	return s, nil
}

// maxLine bounds a line of a targets or data file.
const maxLine = 1 << 20
