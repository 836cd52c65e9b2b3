//go:build !linux

package loadgen

import "context"

// loopsSupported: the event loops use epoll, which only Linux has.
const loopsSupported = false

func newLoopEngine(context.Context, *Plan, int) engine { return nil }
