package fetcher

import (
	"errors"
	"fmt"
	"strings"
)

// ParseHeader parses a "Name: value" header as given to -H, checking that
// the name is an HTTP token and that the value has no control characters
// other than tab, so that no header can smuggle a line break into the
// request. White space around the value is removed.
func ParseHeader(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("header %q: want \"Name: value\"", s)
	}
	if name == "" {
		return "", "", fmt.Errorf("header %q: empty name", s)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return "", "", fmt.Errorf("header %q: name has a character not allowed in a header name", s)
		}
	}
	value = strings.Trim(value, " \t")
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return "", "", errors.New("header " + name + ": value has a control character")
		}
	}
	return name, value, nil
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110,
// section 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
