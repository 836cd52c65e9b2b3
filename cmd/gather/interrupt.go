package main

import (
	"context"
	"errors"
)

// errInterrupted is what untilInterrupted returns when Ctrl-C (or
// SIGTERM) came before its input was read.
var errInterrupted = errors.New("interrupted")

// untilInterrupted returns read's result, or errInterrupted as soon as ctx
// ends (Ctrl-C) if that comes first. read may wait on a terminal or a pipe
// (stdin, a FIFO), which nothing in Go can cut short, and Ctrl-C must not
// wait for its writer: after an interruption read goes on in the
// background until its input gives way or gather exits, so it must not
// touch what the caller uses after errInterrupted. It costs a goroutine.
func untilInterrupted[T any](ctx context.Context, read func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := read()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // read as the signal came: the input is whole
			return r.v, r.err
		default:
		}
		var zero T
		return zero, errInterrupted
	}
}
