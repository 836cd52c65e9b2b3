package targets

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
)

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
	strs      map[string]string    // field names, one copy each
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
		strs:     map[string]string{},
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
	case !isMethod(method):
		if up := strings.ToUpper(method); isMethod(up) {
			return b.errorf(line, "method %q: methods are case-sensitive and upper case by convention (%s)", method, up)
		}
		return b.errorf(line, "bad method %q: a method is a token of upper-case letters, digits and -_.!#$%%&'*+^`|~", method)
	}
	_, target, err := b.splitURL(sp.url)
	if err != nil {
		return b.errorf(line, "%v", err)
	}
	// The method and field names are the package's or the builder's own
	// strings, not pieces of the file's lines, which would keep each
	// line alive: 100,000 targets would hold their whole file.
	if i := slices.Index(methods, method); i >= 0 {
		method = methods[i]
	} else {
		method = b.intern1(method)
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
		t.Header = append(t.Header, Field{Name: b.intern1(f.name), Value: tpl})
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
		return b.errorf(line, "weight %v: want a positive number up to 1e12", sp.weight)
	}
	if sp.weight > 0 && !b.hasWeight {
		b.hasWeight, b.weighted = true, line
	}
	t.Name = strings.Clone(sp.name) // not a piece of its line
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
	if id < MaxNames {
		t.Name = b.set.names[id] // one copy of each name
	}
	for _, tpl := range []*Template{t.Path, t.Host, t.Body} {
		b.set.needs |= tpl.Needs()
	}
	for _, f := range t.Header {
		b.set.needs |= f.Value.Needs()
	}
	b.set.targets = append(b.set.targets, t)
	return nil
}

// intern1 returns one copy of s, shared by every target that has it.
func (b *builder) intern1(s string) string {
	if c, ok := b.strs[s]; ok {
		return c
	}
	c := strings.Clone(s)
	if len(b.strs) < 1<<12 {
		b.strs[c] = c
	}
	return c
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
	switch {
	case len(s.targets) == 1: // nothing to pick
	case s.pick == RoundRobin:
		s.needs |= NeedsSeq
	case s.pick == Random:
		s.needs |= NeedsRand
	case s.pick == Weighted:
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
