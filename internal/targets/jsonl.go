package targets

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// JSON Lines: one target per line, as an object.
//
//	{"name": "login", "method": "POST", "url": "http://127.0.0.1:8080/login",
//	 "header": {"Content-Type": "application/json", "Accept": ["a", "b"]},
//	 "body": "{\"user\": \"{{.user}}\"}", "weight": 3}
//
// "url" is required; "method" defaults to GET. A header value is a string
// or a list of strings (one field each, as vegeta's JSON has them). The
// body is one of "body" (a template), "body_base64" (bytes, sent as they
// are) and "body_file" (a file, as @path in the HTTP format). Blank lines
// and lines starting with "#" are skipped; any other field is an error.

type jsonTarget struct {
	Name       string          `json:"name"`
	Method     *string         `json:"method"`
	URL        *string         `json:"url"`
	Header     json.RawMessage `json:"header"`
	Body       *string         `json:"body"`
	BodyBase64 *string         `json:"body_base64"`
	BodyFile   *string         `json:"body_file"`
	Weight     *float64        `json:"weight"`
}

// parseJSONL reads src as JSON Lines.
func parseJSONL(src []byte, b *builder) error {
	for n, raw := range lines(src) {
		line := bytes.TrimSpace(raw)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		sp, err := jsonSpec(line, n, b)
		if err != nil {
			return err
		}
		if err := b.add(sp); err != nil {
			return err
		}
	}
	return nil
}

func jsonSpec(line []byte, n int, b *builder) (*spec, error) {
	var jt jsonTarget
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jt); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if strings.HasPrefix(msg, "unknown field") {
			msg += " (want name, method, url, header, body, body_base64, body_file, weight)"
		}
		return nil, b.errorf(n, "not a target object: %s", msg)
	}
	if dec.More() {
		return nil, b.errorf(n, "more than one JSON value on the line")
	}
	if jt.URL == nil {
		return nil, b.errorf(n, "no url")
	}
	sp := &spec{line: n, url: *jt.URL, name: jt.Name}
	if jt.Method != nil {
		if *jt.Method == "" {
			return nil, b.errorf(n, "empty method")
		}
		sp.method = *jt.Method
	}
	if jt.Weight != nil {
		if !(*jt.Weight > 0) || *jt.Weight > 1e12 {
			return nil, b.errorf(n, "weight %v: want a positive number up to 1e12", *jt.Weight)
		}
		sp.weight = *jt.Weight
	}
	var err error
	if sp.header, err = jsonHeader(jt.Header); err != nil {
		return nil, b.errorf(n, "header: %v", err)
	}
	bodies := 0
	for _, p := range []*string{jt.Body, jt.BodyBase64, jt.BodyFile} {
		if p != nil {
			bodies++
		}
	}
	switch {
	case bodies > 1:
		return nil, b.errorf(n, "more than one of body, body_base64 and body_file")
	case jt.Body != nil:
		sp.body, sp.bodyTemplate = []byte(*jt.Body), true
	case jt.BodyBase64 != nil:
		if sp.body, err = base64.StdEncoding.DecodeString(*jt.BodyBase64); err != nil {
			return nil, b.errorf(n, "body_base64: %v", err)
		}
	case jt.BodyFile != nil:
		if sp.body, err = b.readBody(n, *jt.BodyFile); err != nil {
			return nil, err
		}
		sp.bodyFile, sp.bodyTemplate = *jt.BodyFile, b.opt.BodyTemplates
	}
	return sp, nil
}

// jsonHeader reads a header object in its order: name to a string or a
// list of strings.
func jsonHeader(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("want an object of names to values")
	}
	var h [][2]string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name := t.(string) // object keys are strings
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		switch v := v.(type) {
		case string:
			h = append(h, [2]string{name, v})
		case []any:
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: an empty list", name)
			}
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("%s: want strings, got %v", name, e)
				}
				h = append(h, [2]string{name, s})
			}
		default:
			return nil, fmt.Errorf("%s: want a string or a list of strings, got %v", name, v)
		}
	}
	return h, nil
}
