package targets

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

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
