package targets

import (
	"fmt"
	"strconv"
	"strings"
	"text/template/parse"
)

// Templates look like Go's text/template and are parsed by its parser
// (text/template/parse), so their syntax and its error messages are the
// standard library's. They are not executed by text/template, though:
// Execute walks the tree through reflection and an io.Writer, and
// allocates for every action it runs, about a microsecond per request
// for a few fields. A template here is compiled once into a list of
// segments (literal bytes, and the values a request draws: its sequence
// number, a random integer, a UUID, the time, a data-file field) that
// [Template.Append] writes into the caller's buffer with no allocation.
//
// The actions a template may hold:
//
//	{{.seq}}              the request's sequence number: 0, 1, 2... across the whole run
//	{{randInt 1 100}}     a random integer from 1 to 100, both included
//	{{uuid}}              a random (version 4) UUID
//	{{.time}}             the time the request is sent, RFC 3339 in UTC with milliseconds
//	{{.unix}} {{.unix_ms}} the same time in seconds or milliseconds since 1970
//	{{.user}}             the field "user" of the request's row of the data file
//	{{urlquery .user}}    any of these, escaped for a URL query (also {{.user | urlquery}})
//	{{"{{"}}              a string constant: how to write a literal "{{"
//
// Every field of one request comes from the same data row. Anything else
// text/template knows (if, range, variables, other functions) is an error
// that names what is not supported.

// The built-in fields. A data file may not have columns of these names.
var builtinFields = map[string]segKind{
	"seq":     segSeq,
	"time":    segTime,
	"unix":    segUnix,
	"unix_ms": segUnixMilli,
}

// templateFuncs are the functions the parser accepts; the values only
// mark the names as defined (the parser wants them non-nil).
var templateFuncs = map[string]any{
	"randInt":  "randInt",
	"uuid":     "uuid",
	"urlquery": "urlquery",
}

type segKind uint8

const (
	segLiteral segKind = iota
	segSeq
	segTime
	segUnix
	segUnixMilli
	segRandInt
	segUUID
	segField
)

// segment is one piece of a compiled template.
type segment struct {
	kind   segKind
	escape bool   // urlquery on a value rendered per request
	lit    []byte // segLiteral
	col    int    // segField: the data column (its escaped twin if escaped)
	lo, n  int64  // segRandInt: values lo to lo+n-1
}

// A Template is a compiled request template. The zero value and nil are
// the empty template. It is immutable and safe for concurrent use.
type Template struct {
	segs []segment
	// lit is the whole text when the template has no action, so that a
	// static request is written as it is.
	lit    []byte
	static bool
	// needs records what the template draws on, so a caller can skip the
	// work no template needs.
	needs Needs
}

// Needs says what a template's values come from.
type Needs uint8

const (
	NeedsSeq  Needs = 1 << iota // {{.seq}}
	NeedsTime                   // {{.time}}, {{.unix}}, {{.unix_ms}}
	NeedsRand                   // {{randInt}}, {{uuid}}
	NeedsRow                    // a data-file field
)

// Literal returns a template that renders b as it is.
func Literal(b []byte) *Template {
	return &Template{lit: b, static: true}
}

// Static returns the template's bytes if it has no action.
func (t *Template) Static() ([]byte, bool) {
	if t == nil {
		return nil, true
	}
	return t.lit, t.static
}

// Needs returns what the template's values come from.
func (t *Template) Needs() Needs {
	if t == nil {
		return 0
	}
	return t.needs
}

// Join returns the template that renders each of ts in turn; nil ones are
// empty. Adjacent literals are merged, so a request's fixed parts are one
// copy each.
func Join(ts ...*Template) *Template {
	// Two passes, so that the result holds exactly its segments and one
	// buffer of literal bytes: a run of 100,000 targets keeps as many.
	n, size := 0, 0
	lastLit := false
	each := func(f func(s *segment)) {
		for _, t := range ts {
			if t == nil {
				continue
			}
			if t.static {
				f(&segment{kind: segLiteral, lit: t.lit})
				continue
			}
			for i := range t.segs {
				f(&t.segs[i])
			}
		}
	}
	each(func(s *segment) {
		isLit := s.kind == segLiteral
		if !isLit || !lastLit {
			n++
		}
		if isLit {
			size += len(s.lit)
		}
		lastLit = isLit
	})
	j := &Template{segs: make([]segment, 0, n)}
	buf := make([]byte, 0, size)
	for _, t := range ts {
		if t != nil {
			j.needs |= t.needs
		}
	}
	each(func(s *segment) {
		last := len(j.segs) - 1
		if s.kind != segLiteral {
			j.segs = append(j.segs, *s)
			return
		}
		start := len(buf)
		buf = append(buf, s.lit...)
		if last >= 0 && j.segs[last].kind == segLiteral {
			// Adjacent in buf too: the last literal just grows.
			j.segs[last].lit = buf[start-len(j.segs[last].lit) : len(buf) : len(buf)]
			return
		}
		j.segs = append(j.segs, segment{kind: segLiteral, lit: buf[start:len(buf):len(buf)]})
	})
	switch {
	case len(j.segs) == 0:
		j.static, j.segs = true, nil
	case len(j.segs) == 1 && j.segs[0].kind == segLiteral:
		j.static, j.lit, j.segs = true, j.segs[0].lit, nil
	}
	return j
}

// Append appends the template rendered for r to dst and returns the
// extended buffer. It allocates only if dst lacks the capacity; a
// connection that reuses its buffer renders with no allocation.
func (t *Template) Append(dst []byte, r *Request) []byte {
	if t == nil {
		return dst
	}
	if t.static {
		return append(dst, t.lit...)
	}
	segs := t.segs // in a register, not reloaded after each append
	for i := range segs {
		s := &segs[i]
		switch {
		case s.kind == segLiteral:
			dst = append(dst, s.lit...)
		case s.kind == segField:
			dst = append(dst, r.set.data.value(r.row, s.col)...)
		case s.escape:
			var tmp [40]byte // the longest value: a UUID, or the time
			dst = appendQueryEscaped(dst, s.appendValue(tmp[:0], r))
		default:
			dst = s.appendValue(dst, r)
		}
	}
	return dst
}

// appendValue appends the value of a per-request segment.
func (s *segment) appendValue(dst []byte, r *Request) []byte {
	switch s.kind {
	case segSeq:
		return appendInt(dst, r.Seq)
	case segTime:
		return r.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	case segUnix:
		return appendInt(dst, r.Time.Unix())
	case segUnixMilli:
		return appendInt(dst, r.Time.UnixMilli())
	case segRandInt:
		return appendInt(dst, s.lo+r.rng.Int64N(s.n))
	case segUUID:
		return appendUUID(dst, r.rng.Uint64(), r.rng.Uint64())
	}
	return dst
}

// appendInt appends v in decimal, as strconv.AppendInt(dst, v, 10) does,
// two digits a step from a table: about 100 instructions for six digits,
// a fifth fewer than strconv's generic path, for the few numbers every
// request of a templated run writes.
func appendInt(dst []byte, v int64) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = -u
	}
	if u < 10 {
		return append(dst, byte('0'+u))
	}
	var b [20]byte
	i := len(b)
	for u >= 100 {
		q := u / 100
		d := 2 * (u - q*100)
		i -= 2
		b[i], b[i+1] = decPairs[d], decPairs[d+1]
		u = q
	}
	if u >= 10 {
		i -= 2
		b[i], b[i+1] = decPairs[2*u], decPairs[2*u+1]
	} else {
		i--
		b[i] = byte('0' + u)
	}
	return append(dst, b[i:]...)
}

// decPairs holds the two decimal digits of 0 to 99.
var decPairs = func() (t [200]byte) {
	for i := range 100 {
		t[2*i], t[2*i+1] = byte('0'+i/10), byte('0'+i%10)
	}
	return t
}()

// appendUUID appends the version 4 UUID made of the random bits hi, lo.
// A library's UUID type would allocate its string; this writes the 36
// bytes in place.
func appendUUID(dst []byte, hi, lo uint64) []byte {
	hi = hi&^(0xf<<12) | 0x4<<12 // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // variant 10 (RFC 9562)
	var b [36]byte
	putHex(b[0:8], hi>>32)
	putHex(b[9:13], hi>>16)
	putHex(b[14:18], hi)
	putHex(b[19:23], lo>>48)
	putHex(b[24:36], lo)
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return append(dst, b[:]...)
}

// putHex writes the last len(b) hex digits of v into b, two at a time;
// len(b) is even. A UUID costs about 150 instructions this way.
func putHex(b []byte, v uint64) {
	for i := len(b) - 2; i >= 0; i -= 2 {
		x := v & 0xff
		b[i], b[i+1] = hexPairs[2*x], hexPairs[2*x+1]
		v >>= 8
	}
}

// hexPairs holds the two lower-case hex digits of every byte.
var hexPairs = func() (t [512]byte) {
	const digits = "0123456789abcdef"
	for i := range 256 {
		t[2*i], t[2*i+1] = digits[i>>4], digits[i&15]
	}
	return t
}()

// appendQueryEscaped appends v escaped as url.QueryEscape would, without
// allocating.
func appendQueryEscaped(dst, v []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range v {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// templateError is a template's problem at a line of its own text; the
// caller names the file and line it came from.
type templateError struct {
	line int
	msg  string
}

func (e *templateError) Error() string { return e.msg }

// compileTemplate compiles text. data resolves field names (nil: no data
// file). A text without "{{" is a literal at no cost.
func compileTemplate(text string, data *Data) (*Template, error) {
	if !strings.Contains(text, "{{") {
		return Literal([]byte(text)), nil
	}
	const name = "t"
	trees, err := parse.Parse(name, text, "{{", "}}", templateFuncs)
	if err != nil {
		return nil, parseError(err, name)
	}
	if len(trees) != 1 {
		return nil, &templateError{1, "template: {{define}} and {{block}} are not supported"}
	}
	tree := trees[name]
	c := compiler{tree: tree, data: data}
	t := &Template{}
	if tree.Root != nil {
		for _, n := range tree.Root.Nodes {
			s, err := c.node(n)
			if err != nil {
				return nil, err
			}
			if s.kind == segLiteral && len(s.lit) == 0 {
				continue
			}
			t.needs |= s.needs()
			t.segs = append(t.segs, s)
		}
	}
	return Join(t), nil
}

func (s *segment) needs() Needs {
	switch s.kind {
	case segSeq:
		return NeedsSeq
	case segTime, segUnix, segUnixMilli:
		return NeedsTime
	case segRandInt, segUUID:
		return NeedsRand
	case segField:
		return NeedsRow
	}
	return 0
}

// parseError turns text/template's "template: t:3: msg" into line 3, msg.
func parseError(err error, name string) error {
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, "template: "+name+":")
	if !ok {
		return &templateError{1, "template: " + msg}
	}
	lineText, m, ok := strings.Cut(rest, ": ")
	line, lerr := strconv.Atoi(lineText)
	if !ok || lerr != nil {
		return &templateError{1, "template: " + rest}
	}
	return &templateError{line, "template: " + m}
}

type compiler struct {
	tree *parse.Tree
	data *Data
}

func (c *compiler) errorf(n parse.Node, format string, args ...any) error {
	loc, _ := c.tree.ErrorContext(n) // "t:line:col"
	line := 1
	if parts := strings.Split(loc, ":"); len(parts) >= 2 {
		if l, err := strconv.Atoi(parts[1]); err == nil {
			line = l
		}
	}
	return &templateError{line, "template: " + fmt.Sprintf(format, args...)}
}

func (c *compiler) node(n parse.Node) (segment, error) {
	switch n := n.(type) {
	case *parse.TextNode:
		return segment{kind: segLiteral, lit: append([]byte(nil), n.Text...)}, nil
	case *parse.CommentNode:
		return segment{kind: segLiteral}, nil
	case *parse.ActionNode:
		return c.pipe(n, n.Pipe)
	}
	return segment{}, c.errorf(n, "%s is not supported (only fields, randInt, uuid, urlquery and string constants)", n)
}

// pipe compiles the pipeline of one action: a value, optionally through
// urlquery.
func (c *compiler) pipe(at parse.Node, p *parse.PipeNode) (segment, error) {
	if len(p.Decl) > 0 {
		return segment{}, c.errorf(at, "variables are not supported: %s", at)
	}
	var args []parse.Node // the value's command
	escape := false
	switch {
	case len(p.Cmds) == 1 && isIdent(p.Cmds[0].Args[0], "urlquery"):
		args, escape = p.Cmds[0].Args[1:], true
	case len(p.Cmds) == 1:
		args = p.Cmds[0].Args
	case len(p.Cmds) == 2 && len(p.Cmds[1].Args) == 1 && isIdent(p.Cmds[1].Args[0], "urlquery"):
		args, escape = p.Cmds[0].Args, true
	default:
		return segment{}, c.errorf(at, "%s: only a value, or a value through urlquery, is supported", at)
	}
	if len(args) == 0 {
		return segment{}, c.errorf(at, "%s: urlquery needs one value", at)
	}
	if escape && len(args) == 1 && isIdent(args[0], "urlquery") {
		return segment{}, c.errorf(at, "%s: urlquery needs one value", at)
	}
	s, err := c.value(at, args)
	if err != nil {
		return s, err
	}
	if !escape {
		return s, nil
	}
	switch s.kind {
	case segLiteral:
		s.lit = appendQueryEscaped(nil, s.lit)
	case segField:
		s.col = c.data.escaped(s.col)
	default:
		s.escape = true
	}
	return s, nil
}

func isIdent(n parse.Node, name string) bool {
	id, ok := n.(*parse.IdentifierNode)
	return ok && id.Ident == name
}

// value compiles one command: a field, a function call or a constant.
func (c *compiler) value(at parse.Node, args []parse.Node) (segment, error) {
	switch n := args[0].(type) {
	case *parse.FieldNode:
		if len(args) > 1 {
			return segment{}, c.errorf(at, "%s: a field takes no arguments", at)
		}
		if len(n.Ident) != 1 {
			return segment{}, c.errorf(at, "%s: nested fields are not supported", n)
		}
		name := n.Ident[0]
		if k, ok := builtinFields[name]; ok {
			return segment{kind: k}, nil
		}
		col, err := c.data.column(name)
		if err != nil {
			return segment{}, c.errorf(at, "unknown field .%s: %v", name, err)
		}
		return segment{kind: segField, col: col}, nil
	case *parse.StringNode:
		if len(args) > 1 {
			return segment{}, c.errorf(at, "%s: a constant takes no arguments", at)
		}
		return segment{kind: segLiteral, lit: []byte(n.Text)}, nil
	case *parse.IdentifierNode:
		switch n.Ident {
		case "uuid":
			if len(args) != 1 {
				return segment{}, c.errorf(at, "%s: uuid takes no arguments", at)
			}
			return segment{kind: segUUID}, nil
		case "randInt":
			lo, hi, ok := intArgs(args[1:])
			if !ok {
				return segment{}, c.errorf(at, "%s: want randInt MIN MAX, two integers", at)
			}
			span := uint64(hi) - uint64(lo) // exact for hi >= lo, whatever the signs
			if hi < lo || span >= 1<<63-1 {
				return segment{}, c.errorf(at, "%s: want MIN <= MAX, less than 2^63 apart", at)
			}
			return segment{kind: segRandInt, lo: lo, n: int64(span) + 1}, nil
		}
		return segment{}, c.errorf(at, "%s: %s needs a value (urlquery .field)", at, n.Ident)
	}
	return segment{}, c.errorf(at, "%s is not supported (only fields, randInt, uuid, urlquery and string constants)", at)
}

func intArgs(args []parse.Node) (lo, hi int64, ok bool) {
	if len(args) != 2 {
		return 0, 0, false
	}
	a, ok1 := args[0].(*parse.NumberNode)
	b, ok2 := args[1].(*parse.NumberNode)
	if !ok1 || !ok2 || !a.IsInt || !b.IsInt {
		return 0, 0, false
	}
	return a.Int64, b.Int64, true
}
