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
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"os"
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

// Pick is how a target is chosen for each request.
type Pick uint8

const (
	// PickDefault is RoundRobin, or Weighted when a target has a weight.
	PickDefault Pick = iota
	// RoundRobin takes the targets in the file's order: request n (of the
	// whole run, counted across connections) sends target n mod N.
	RoundRobin
	// Random takes a target uniformly at random for each request.
	Random
	// Weighted takes a target at random, in proportion to its weight (1
	// if not given).
	Weighted
)

var pickNames = []string{PickDefault: "default", RoundRobin: "round-robin", Random: "random", Weighted: "weighted"}

func (p Pick) String() string { return pickNames[p] }

// ParsePick returns the Pick named s: "round-robin", "random" or "weighted".
func ParsePick(s string) (Pick, error) {
	if i := slices.Index(pickNames, s); i > 0 {
		return Pick(i), nil
	}
	return 0, fmt.Errorf("unknown pick %q: want round-robin, random or weighted", s)
}

// RowPick is how a data row is chosen for each request.
type RowPick uint8

const (
	// Cycle takes the rows in order: request n takes row n mod rows.
	Cycle RowPick = iota
	// RandomRow takes a row uniformly at random.
	RandomRow
)

// ParseRowPick returns the RowPick named s: "cycle" or "random".
func ParseRowPick(s string) (RowPick, error) {
	switch s {
	case "cycle":
		return Cycle, nil
	case "random":
		return RandomRow, nil
	}
	return 0, fmt.Errorf("unknown data pick %q: want cycle or random", s)
}

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

// Methods a target may have: RFC 9110's (but CONNECT, which opens a
// tunnel rather than asking for a response), PATCH, and WebDAV's.
var methods = []string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH",
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
// may hold templates, but the URL's scheme and host may not.
func Single(method, rawURL string, body []byte, opt Options) (*Set, error) {
	b := newBuilder("", opt)
	if err := b.add(&spec{method: method, url: rawURL, body: body, bodyTemplate: true}); err != nil {
		return nil, err
	}
	return b.finish()
}

// spec is a target as read, before it is compiled.
type spec struct {
	line         int
	method, url  string
	header       [][2]string
	headerLines  []int // each header's line, 0 if unknown
	body         []byte
	bodyFile     string // where body came from, if a file
	bodyTemplate bool   // body is a template
	name         string
	weight       float64
}

// builder compiles specs into a Set, sharing what repeats.
type builder struct {
	file      string
	opt       Options
	set       *Set
	names     map[string]int
	interned  map[string]*Template // header values and bodies by their text
	bodies    map[string][]byte    // body files by path
	weighted  int                  // line of the first target with a weight
	hasWeight bool
	// The last origin parsed and checked, and its text.
	lastOrigin     *url.URL
	lastOriginText string
}

func newBuilder(file string, opt Options) *builder {
	if opt.ReadFile == nil {
		opt.ReadFile = os.ReadFile
	}
	b := &builder{
		file:     file,
		opt:      opt,
		set:      &Set{data: opt.Data, rowPick: opt.RowPick},
		names:    map[string]int{},
		interned: map[string]*Template{},
		bodies:   map[string][]byte{},
	}
	if opt.Base != nil {
		b.set.server = &url.URL{Scheme: opt.Base.Scheme, Host: opt.Base.Host, Path: "/"}
	}
	return b
}

func (b *builder) errorf(line int, format string, args ...any) error {
	if b.file == "" {
		return fmt.Errorf(format, args...)
	}
	return &Error{File: b.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// compile compiles text (from line) as a template, checking the data
// fields it uses with bad (nil: anything goes).
func (b *builder) compile(line int, what, text string, bad func(byte) bool, why string) (*Template, error) {
	t, err := compileTemplate(text, b.opt.Data)
	if err != nil {
		return nil, b.errorf(line, "%s: %v", what, err)
	}
	if bad != nil && t.needs&NeedsRow != 0 {
		for _, s := range t.segs {
			if s.kind == segField && s.col < len(b.opt.Data.names) {
				if err := b.opt.Data.check(s.col, bad, why); err != nil {
					return nil, b.errorf(line, "%s: %v", what, err)
				}
			}
		}
	}
	return t, nil
}

// intern compiles text once for all the targets that share it.
func (b *builder) intern(line int, what, text string, bad func(byte) bool, why string) (*Template, error) {
	key := text
	if bad != nil {
		key = "\x00" + why + "\x00" + text // checked for where it goes
	}
	if t, ok := b.interned[key]; ok {
		return t, nil
	}
	t, err := b.compile(line, what, text, bad, why)
	if err != nil {
		return nil, err
	}
	if len(b.interned) < 1<<16 { // a bound for files of all-different bodies
		b.interned[key] = t
	}
	return t, nil
}

// add compiles one target.
func (b *builder) add(sp *spec) error {
	line := sp.line
	method := sp.method
	if method == "" {
		method = "GET"
	}
	switch {
	case method == "CONNECT":
		return b.errorf(line, "method CONNECT is not supported: it opens a tunnel")
	case !slices.Contains(methods, method):
		if slices.Contains(methods, strings.ToUpper(method)) {
			return b.errorf(line, "unknown method %q: methods are upper case (%s)", method, strings.ToUpper(method))
		}
		return b.errorf(line, "unknown method %q (want one of %s)", method, strings.Join(methods, ", "))
	}
	_, target, err := b.splitURL(sp.url)
	if err != nil {
		return b.errorf(line, "%v", err)
	}
	t := &Target{Method: method, File: b.file, Line: line, Weight: sp.weight, index: len(b.set.targets)}
	if t.Path, err = b.compile(line, "URL", target, urlUnsafe, "a URL cannot carry it as it is: write {{urlquery .%s}}"); err != nil {
		return err
	}
	// The run's -H fields first, but those the target sets itself.
	type field struct {
		name, value string
		line        int
	}
	var fields []field
	for _, h := range b.opt.Header {
		if !slices.ContainsFunc(sp.header, func(o [2]string) bool { return strings.EqualFold(o[0], h[0]) }) {
			fields = append(fields, field{h[0], h[1], line})
		}
	}
	for i, h := range sp.header {
		hl := line
		if i < len(sp.headerLines) && sp.headerLines[i] > 0 {
			hl = sp.headerLines[i]
		}
		fields = append(fields, field{h[0], h[1], hl})
	}
	for _, f := range fields {
		if err := checkHeaderName(f.name); err != nil {
			return b.errorf(f.line, "%v", err)
		}
		if strings.ContainsAny(outsideActions(f.value), "\r\n\x00") {
			return b.errorf(f.line, "header %s: a value cannot hold a line break or NUL", f.name)
		}
		tpl, err := b.intern(f.line, "header "+f.name, f.value, headerUnsafe, "a header value cannot carry it")
		if err != nil {
			return err
		}
		if strings.EqualFold(f.name, "Host") {
			if t.Host != nil {
				return b.errorf(f.line, "two Host fields")
			}
			t.Host = tpl
			continue
		}
		t.Header = append(t.Header, Field{Name: f.name, Value: tpl})
	}
	if sp.body != nil {
		if sp.bodyTemplate {
			what := "body"
			if sp.bodyFile != "" {
				what = "body file " + sp.bodyFile
			}
			if t.Body, err = b.intern(line, what, string(sp.body), nil, ""); err != nil {
				return err
			}
		} else {
			t.Body = Literal(sp.body)
		}
	}
	if sp.weight < 0 || sp.weight != sp.weight || sp.weight > 1e12 {
		return b.errorf(line, "weight %v: want a positive number", sp.weight)
	}
	if sp.weight > 0 && !b.hasWeight {
		b.hasWeight, b.weighted = true, line
	}
	t.Name = sp.name
	if t.Name == "" {
		p := target
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		t.Name = method + " " + p
	}
	id, ok := b.names[t.Name]
	if !ok {
		id = len(b.set.names)
		switch {
		case id < MaxNames:
			b.set.names = append(b.set.names, t.Name)
			b.names[t.Name] = id
		case id == MaxNames:
			b.set.names = append(b.set.names, OtherName)
			b.names[OtherName] = id
		default:
			id = MaxNames
		}
	}
	t.nameID = id
	for _, tpl := range []*Template{t.Path, t.Host, t.Body} {
		b.set.needs |= tpl.Needs()
	}
	for _, f := range t.Header {
		b.set.needs |= f.Value.Needs()
	}
	b.set.targets = append(b.set.targets, t)
	return nil
}

// readBody returns a body file's bytes, read once per path.
func (b *builder) readBody(line int, path string) ([]byte, error) {
	if body, ok := b.bodies[path]; ok {
		return body, nil
	}
	if path == "" {
		return nil, b.errorf(line, "body line @ names no file")
	}
	body, err := b.opt.ReadFile(path)
	if err != nil {
		return nil, b.errorf(line, "body file: %v", unwrapPathError(err))
	}
	if body == nil {
		body = []byte{}
	}
	b.bodies[path] = body
	return body, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// finish checks the set as a whole and returns it.
func (b *builder) finish() (*Set, error) {
	s := b.set
	if len(s.targets) == 0 {
		return nil, b.errorf(0, "no targets")
	}
	switch {
	case b.hasWeight && s.pick == PickDefault && b.opt.Pick == PickDefault:
		s.pick = Weighted
	case b.hasWeight && b.opt.Pick != Weighted:
		return nil, b.errorf(b.weighted, "a weight has no effect with --pick %s: use --pick weighted, or leave --pick out", b.opt.Pick)
	case b.opt.Pick == PickDefault:
		s.pick = RoundRobin
	default:
		s.pick = b.opt.Pick
	}
	switch s.pick {
	case RoundRobin:
		s.needs |= NeedsSeq
	case Random:
		s.needs |= NeedsRand
	case Weighted:
		s.needs |= NeedsRand
		w := make([]float64, len(s.targets))
		for i, t := range s.targets {
			w[i] = t.Weight
			if w[i] == 0 {
				w[i] = 1
			}
		}
		s.alias = newAlias(w)
	}
	if s.needs&NeedsRow != 0 {
		if s.rowPick == Cycle {
			s.needs |= NeedsSeq
		} else {
			s.needs |= NeedsRand
		}
	}
	return s, nil
}

// splitURL splits a target's URL into its origin and its request-target,
// which may hold templates; the origin may not.
func (b *builder) splitURL(raw string) (origin *url.URL, target string, err error) {
	switch {
	case raw == "":
		return nil, "", fmt.Errorf("no URL")
	case strings.ContainsAny(outsideActions(raw), " \t\r\n"):
		return nil, "", fmt.Errorf("bad URL %q: a URL cannot hold white space", raw)
	case strings.HasPrefix(raw, "/"):
		if b.opt.Base == nil {
			return nil, "", fmt.Errorf("URL %q is a path: give an absolute URL, or the server as bench's URL argument", raw)
		}
		target, err := requestURI(raw)
		if err != nil {
			return nil, "", fmt.Errorf("bad URL %q: %v", raw, err)
		}
		return b.opt.Base, target, nil
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, "", fmt.Errorf("bad URL %q: want http://host[:port]/path or https://host[:port]/path", raw)
	}
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	host := rest[:hostEnd]
	target = rest[hostEnd:]
	if strings.Contains(scheme+host, "{{") {
		return nil, "", fmt.Errorf("bad URL %q: templates are not allowed in the scheme or host", raw)
	}
	if i := strings.IndexByte(target, '#'); i >= 0 && !strings.Contains(target[i:], "}}") {
		target = target[:i] // a fragment is not sent
	}
	if target == "" || target[0] == '?' {
		target = "/" + target
	}
	u := b.lastOrigin
	if origin := raw[:len(scheme)+3+len(host)]; u == nil || origin != b.lastOriginText {
		// Most files name one server again and again: parse it once.
		var err error
		if u, err = url.Parse(origin); err != nil {
			return nil, "", fmt.Errorf("bad URL %q: %v", raw, err)
		}
		if err := CheckServer(u); err != nil {
			return nil, "", fmt.Errorf("bad URL %q: %v", raw, err)
		}
		if err := b.sameServer(u); err != nil {
			return nil, "", err
		}
		b.lastOrigin, b.lastOriginText = u, origin
	}
	if target, err = requestURI(target); err != nil {
		return nil, "", fmt.Errorf("bad URL %q: %v", raw, err)
	}
	return u, target, nil
}

// requestURI returns a request-target without templates as net/http would
// send it, escaped where it must be; one with templates as written.
func requestURI(target string) (string, error) {
	if strings.Contains(target, "{{") {
		return target, nil
	}
	p, err := url.Parse(target)
	if err != nil {
		return "", errors.Unwrap(err) // url.Error repeats the URL
	}
	return p.RequestURI(), nil
}

// outsideActions returns s without its {{...}} actions, whose spaces
// separate arguments rather than go into the URL.
func outsideActions(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return b.String() // the template's parser says what is wrong
		}
		s = s[i+j+2:]
	}
	b.WriteString(s)
	return b.String()
}

// CheckServer reports what is wrong with u as the server of a run, if
// anything: the scheme, host, port and credentials.
func CheckServer(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("no host")
	case u.User != nil:
		return fmt.Errorf("credentials in URLs are not sent; use -H 'Authorization: ...'")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("bad port %q", p)
		}
	}
	return nil
}

// sameServer fixes the run's server from the first target and checks the
// others against it: a run's connections all go to one server.
func (b *builder) sameServer(u *url.URL) error {
	key := func(u *url.URL) string {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		return u.Scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
	}
	if b.set.server == nil {
		b.set.server = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}
		return nil
	}
	if key(u) != key(b.set.server) {
		return fmt.Errorf("%s://%s is not the run's server %s://%s: every target of a run goes to one server",
			u.Scheme, u.Host, b.set.server.Scheme, b.set.server.Host)
	}
	return nil
}

// checkHeaderName reports a field name that is not a token, or one the
// client sets itself.
func checkHeaderName(name string) error {
	if name == "" {
		return fmt.Errorf("header with no name")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return fmt.Errorf("bad header name %q", name)
		}
	}
	switch {
	case strings.EqualFold(name, "Content-Length"), strings.EqualFold(name, "Transfer-Encoding"):
		return fmt.Errorf("header %s is set by gather from the body", name)
	case strings.EqualFold(name, "Connection"):
		return fmt.Errorf("header Connection is set by gather (see --no-keepalive)")
	}
	return nil
}

// maxLine bounds a line of a targets or data file.
const maxLine = 1 << 20
