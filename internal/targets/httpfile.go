package targets

import (
	"strconv"
	"strings"
)

// vegeta's HTTP format, as vegeta reads it, one target after another:
//
//	GET http://127.0.0.1:8080/users/1
//	X-Account: 8675309
//
//	POST http://127.0.0.1:8080/things
//	Content-Type: application/json
//	@things.json
//
// A target is a "METHOD URL" line, its header lines ("Name: value"), and
// an optional "@path" line naming the body file, which ends the target.
// Blank lines separate targets, though a new "METHOD URL" line also starts
// one; lines starting with "#" are comments; CRLF line ends are fine.
//
// gather reads two comments vegeta ignores, so that a file stays vegeta's:
// "# name: login" and "# weight: 3" just before a target name it and give
// its weight.

// parseHTTP reads src in vegeta's HTTP format.
func parseHTTP(src []byte, b *builder) error {
	var cur *spec
	var name string
	var weight float64
	directiveLine := 0 // of a pending name or weight
	afterBody := false
	flush := func() error {
		if cur == nil {
			return nil
		}
		sp := cur
		cur = nil
		return b.add(sp)
	}
	for n, raw := range lines(src) {
		line := strings.TrimSpace(string(raw))
		switch {
		case line == "":
			if err := flush(); err != nil {
				return err
			}
			afterBody = false
		case line[0] == '#':
			key, value, ok := directive(line)
			if !ok {
				continue
			}
			switch key {
			case "name":
				if name != "" {
					return b.errorf(n, "a second name for one target (the first is %q)", name)
				}
				if value == "" {
					return b.errorf(n, "# name: with no name")
				}
				name = value
			case "weight":
				w, err := strconv.ParseFloat(value, 64)
				if err != nil || !(w > 0) || w > 1e12 {
					return b.errorf(n, "weight %q: want a positive number up to 1e12", value)
				}
				weight = w
			}
			directiveLine = n
		case isRequestLine(line):
			if err := flush(); err != nil {
				return err
			}
			method, u, _ := strings.Cut(line, " ")
			cur = &spec{line: n, method: method, url: strings.TrimSpace(u), name: name, weight: weight}
			name, weight, directiveLine = "", 0, 0
			afterBody = false
		case cur == nil:
			return b.errorf(n, "want a target's first line, METHOD URL, got %q", clip(line))
		case afterBody:
			return b.errorf(n, "the body line @... ends a target: want a blank line or the next METHOD URL, got %q", clip(line))
		case line[0] == '@':
			body, err := b.readBody(n, strings.TrimSpace(line[1:]))
			if err != nil {
				return err
			}
			cur.body, cur.bodyFile, cur.bodyTemplate = body, strings.TrimSpace(line[1:]), b.opt.BodyTemplates
			afterBody = true
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return b.errorf(n, "header line without a colon: %q", clip(line))
			}
			cur.header = append(cur.header, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
			cur.headerLines = append(cur.headerLines, n)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if directiveLine > 0 {
		return b.errorf(directiveLine, "a name or weight with no target after it")
	}
	return nil
}

// directive returns the key and value of a "# name: x" or "# weight: x"
// comment.
func directive(line string) (key, value string, ok bool) {
	rest := strings.TrimSpace(strings.TrimLeft(line, "#"))
	k, v, ok := strings.Cut(rest, ":")
	k = strings.ToLower(strings.TrimSpace(k))
	if !ok || k != "name" && k != "weight" {
		return "", "", false
	}
	return k, strings.TrimSpace(v), true
}

// isRequestLine reports whether line is a "METHOD URL" line: a word of
// letters, a space and something that looks like a URL, so that
// "get http://..." is reported as a bad method rather than as a bad
// header; or, as vegeta tells them, an upper-case word and a space on a
// line without a colon, so that "FETCH x" is an unknown method.
func isRequestLine(line string) bool {
	word, rest, ok := strings.Cut(line, " ")
	if !ok || word == "" {
		return false
	}
	upper := true
	for i := 0; i < len(word); i++ {
		c := word[i]
		switch {
		case 'A' <= c && c <= 'Z':
		case 'a' <= c && c <= 'z':
			upper = false
		default:
			return false
		}
	}
	rest = strings.TrimSpace(rest)
	return strings.HasPrefix(rest, "/") || strings.Contains(rest, "://") || upper && !strings.Contains(rest, ":")
}

// clip shortens a line quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
