package main

import (
	"io"
	"sync"
)

// checkedWriter passes writes on to w and keeps the first error, for a
// command that prints its output line by line with fmt.Fprintf, which
// drops errors: run asks Err once at the end, so that a full disk or a
// closed pipe is an operational failure (exit status 1) rather than a
// success with the output lost. After an error, writes are dropped.
//
// It is safe for concurrent use: after Ctrl-C a command may return while
// its background writer (fetch --merge's) is still writing, and run then
// reads Err. The lock costs one uncontended mutex per write, and the
// commands write in buffered blocks, not byte by byte.
type checkedWriter struct {
	w   io.Writer
	mu  sync.Mutex
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.err = err
	return n, err
}

// Err returns the first error a write returned, or nil.
func (c *checkedWriter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
