// Package scopehook lets package gathertest open a test scope in package
// gather, which records the tasks started from a context, without gather
// exporting what only a test kit needs.
package scopehook

import (
	"context"
	"time"
)

// A Task is a task of a scope, as the test kit reports it.
type Task struct {
	Kind     string // "task", "child" or "group"
	Name     string // "" if it has none
	Location string // file:line of the call that started it
	State    string // what it is doing: "running", "sleeping", "awaiting task #4"...
	Err      error  // for Unread: the error nobody read
}

// A Scope records the tasks, group children and groups started from its
// context, directly or not.
type Scope interface {
	// Running returns the tasks still running, in the order they started.
	Running() []Task
	// Unread returns the failed tasks whose errors nobody read, and marks
	// them as read: the caller reports them.
	Unread() []Task
	// Close stops counting the tasks started from now on and waits at
	// most d for those running to end; it reports whether they did.
	Close(d time.Duration) bool
}

// Open opens a scope on ctx; package gather sets it when it is loaded.
var Open func(ctx context.Context) (context.Context, Scope)
