package main

import "io"

// checkedWriter passes writes on to w and keeps the first error, for a
// command that prints its output line by line with fmt.Fprintf, which
// drops errors: it asks err once at the end, so that a full disk or a
// closed pipe is an operational failure (exit status 1) rather than a
// success with the output lost. After an error, writes are dropped.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.err = err
	return n, err
}
