package fetcher

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// maxNameStem bounds the readable part of a file name, well under the 255
// bytes most file systems allow, leaving room for the hash and suffixes.
const maxNameStem = 150

// FileName returns the name under which the body of u is saved by --dir:
// the host and port, the path and query with every byte outside
// [A-Za-z0-9._-] replaced by '_', cut to a bounded length, then a short
// hash of the whole URL, so that distinct URLs get distinct names.
//
// The name is a single path element that never starts with a dot: no URL,
// however hostile ("/../../etc/passwd", "%2e%2e%2f", backslashes, NUL
// bytes), can make it name a parent directory, a hidden file or a
// subdirectory.
func FileName(u *url.URL) string {
	var b strings.Builder
	clean := func(s string) {
		last := byte(0)
		for i := 0; i < len(s) && b.Len() < maxNameStem; i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
				c = '_'
			}
			if c == '_' && last == '_' {
				continue
			}
			b.WriteByte(c)
			last = c
		}
	}
	clean(u.Host)
	if p := u.EscapedPath(); p != "" && p != "/" {
		clean(p)
	}
	if u.RawQuery != "" {
		clean("_" + u.RawQuery)
	}
	stem := strings.TrimLeft(b.String(), ".")
	sum := sha256.Sum256([]byte(u.String()))
	return stem + "-" + hex.EncodeToString(sum[:6])
}

// saver writes bodies into one directory. It goes through an [os.Root], so
// that even a symbolic link planted in the directory cannot make it write
// elsewhere.
type saver struct {
	root *os.Root
	dir  string
}

func newSaver(dir string) (*saver, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &saver{root: root, dir: dir}, nil
}

// create opens the file for the body of u. The file appears whole or not
// at all: it is written under a temporary name first, renamed by commit,
// so a crash or a cancelled download leaves no partial file under the
// final name, and two lines with the same URL do not interleave.
func (s *saver) create(u *url.URL) (*partFile, error) {
	name := FileName(u)
	var nonce [6]byte
	rand.Read(nonce[:])
	tmp := "." + name + "." + hex.EncodeToString(nonce[:]) + ".part"
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, &saveError{err}
	}
	return &partFile{s: s, f: f, tmp: tmp, name: name}, nil
}

// checkWritable reports whether files can be created in the directory: it
// creates one and removes it.
func (s *saver) checkWritable() error {
	f, err := s.create(&url.URL{Host: "gather-fetch-check"})
	if err != nil {
		return errors.Unwrap(err) // not "saving body"
	}
	f.abort()
	return nil
}

// A partFile is a body being saved under its temporary name.
type partFile struct {
	s         *saver
	f         *os.File
	tmp, name string
}

// Write writes to the file; its errors are errors of the file
// ([saveError]), told apart from errors in reading the body.
func (p *partFile) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	if err != nil {
		err = &saveError{err}
	}
	return n, err
}

// commit closes the file and gives it its name, and returns its path (the
// directory joined with its name).
func (p *partFile) commit() (string, error) {
	err := p.f.Close()
	if err == nil {
		err = p.s.root.Rename(p.tmp, p.name)
	}
	if err != nil {
		p.s.root.Remove(p.tmp)
		return "", &saveError{err}
	}
	return filepath.Join(p.s.dir, p.name), nil
}

// abort closes and removes the file.
func (p *partFile) abort() {
	p.f.Close()
	p.s.root.Remove(p.tmp)
}

func (s *saver) close() error {
	if s == nil {
		return nil
	}
	return s.root.Close()
}

// saveError is an error in writing a body to its file.
type saveError struct{ err error }

func (e *saveError) Error() string { return fmt.Sprintf("saving body: %v", e.err) }
func (e *saveError) Unwrap() error { return e.err }
