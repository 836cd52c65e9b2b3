package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gather-dev/gather/internal/slowserver"
)

func newServeCmd() *cobra.Command {
	var (
		addr  string
		grace time.Duration
		timer string
		cfg   slowserver.Config
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the tutorial's slow server: GET / answers hello! after a delay",
		Long: `serve runs the slow server of the asyncio tutorial: the Flask app whose
GET / answers "hello!" after 5 seconds. Unlike Flask's development server
it holds tens of thousands of slow requests at once, so it is a fair
target for concurrent clients in any language.

Routes, for any method:

  /                 "hello!" after --delay
  /delay/{d}        "hello!" after d ("1.5s", or "2" for seconds), at most --max-delay
  /status/{code}    an answer with that status, 200 to 599
  /bytes/{n}        n bytes, at most --max-bytes
  /drop             the connection is closed without an answer
  /stream/{n}       n lines, chunked, spread over --delay

Every request also waits a random extra time up to --jitter, and is
answered 500 instead with probability --fail-rate. Delays wake on a
timerfd (--timer precise, Linux), to within tens of microseconds, not on
Go's runtime timers, which wake an idle server up to a millisecond late:
a client's ceiling at a delay is its concurrency / the delay, and a
client at -c 200 against --delay 20ms lost 2.5% of it that way. Request
headers must arrive within 10s and fit in 64 KiB; bodies are limited to
1 MiB.

--lean answers GET / (HTTP/1.1, no body) on a connection loop of its own
rather than net/http's, at about 0.7 of the CPU per request, and passes
every other request to net/http: for benchmarks at a delay, where a server
on one core must not be what limits the client. A client that goes away
during such a request's delay is then noticed when its answer is written,
not at once.

Ctrl-C or SIGTERM stops accepting connections, lets the requests in flight
finish for up to --grace, cuts the rest, prints what was served, and exits
with status 130 (143 after SIGTERM), as every gather command does. Send
signals to the gather process itself: "go run" ignores SIGINT, and on
SIGTERM exits without passing it on, leaving the server running.

Examples:
  gather serve                                # the tutorial's server on 127.0.0.1:5000
  gather serve --delay 200ms --addr 127.0.0.1:8080
  gather serve --jitter 100ms --fail-rate 0.05 --seed 1
  curl http://127.0.0.1:5000/delay/2s`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("serve takes no arguments, got %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkServeFlags(addr, grace, cfg); err != nil {
				return err
			}
			switch timer {
			case "precise":
				cfg.PreciseTimer = true
			case "runtime":
			default:
				return usagef("serve: --timer must be precise or runtime, got %q", timer)
			}
			s, err := slowserver.Start(addr, cfg)
			if err != nil {
				return usagef("serve: cannot listen on %s: %v", addr, listenCause(err))
			}
			stderr := cmd.ErrOrStderr()
			where := s.URL()
			if s.Everywhere() {
				where += " and every other interface"
			}
			fmt.Fprintf(stderr, "gather serve: listening on %s (GET / answers \"hello!\" after %v; Ctrl-C to stop)\n", where, cfg.Delay)
			select {
			case <-cmd.Context().Done():
				fmt.Fprintf(stderr, "gather serve: shutting down, letting requests in flight finish for up to %v\n", grace)
			case <-s.Done():
			}
			st, err := s.Shutdown(grace)
			fmt.Fprintf(stderr, "gather serve: served %v\n", st)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			if status := interruptStatus(cmd.Context()); status != 0 {
				return status // the rule for every command, though serve only ends so
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:5000", "`host:port` to listen on (port 0 picks a free one)")
	f.DurationVar(&cfg.Delay, "delay", 5*time.Second, "how long GET / waits before it answers")
	f.DurationVar(&cfg.MaxDelay, "max-delay", slowserver.DefaultMaxDelay, "the longest wait /delay/{d} grants")
	f.Int64Var(&cfg.MaxBytes, "max-bytes", slowserver.DefaultMaxBytes, "the largest answer /bytes/{n} sends")
	f.DurationVar(&cfg.Jitter, "jitter", 0, "add a random wait, up to this long, to every request")
	f.Float64Var(&cfg.FailRate, "fail-rate", 0, "answer this fraction of requests (0 to 1) with 500")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of --jitter and --fail-rate, to replay a run (0: random)")
	f.StringVar(&timer, "timer", "precise", "what delays wake on: precise (a timerfd on Linux) or runtime (Go's timers, for comparisons)")
	f.BoolVar(&cfg.Lean, "lean", false, "answer GET / on a lean HTTP/1.1 loop, not net/http (0.7 of the CPU per request; other requests still go to net/http)")
	f.DurationVar(&grace, "grace", 10*time.Second, "on Ctrl-C, how long requests in flight may finish before they are cut")
	return cmd
}

func checkServeFlags(addr string, grace time.Duration, cfg slowserver.Config) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("serve: bad --addr %q: want host:port, such as 127.0.0.1:5000", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return usagef("serve: bad --addr %q: port must be a number from 0 to 65535", addr)
	}
	switch {
	case cfg.Delay < 0:
		return usagef("serve: --delay must not be negative, got %v", cfg.Delay)
	case cfg.MaxDelay <= 0:
		return usagef("serve: --max-delay must be positive, got %v", cfg.MaxDelay)
	case cfg.MaxBytes <= 0:
		return usagef("serve: --max-bytes must be positive, got %d", cfg.MaxBytes)
	case cfg.Jitter < 0:
		return usagef("serve: --jitter must not be negative, got %v", cfg.Jitter)
	case !(cfg.FailRate >= 0 && cfg.FailRate <= 1):
		return usagef("serve: --fail-rate must be from 0 to 1, got %v", cfg.FailRate)
	case grace < 0:
		return usagef("serve: --grace must not be negative, got %v", grace)
	case cfg.Seed != 0 && cfg.Jitter == 0 && cfg.FailRate == 0:
		return usagef("serve: --seed has nothing to do without --jitter or --fail-rate (it seeds them)")
	}
	return nil
}

// listenCause trims a listen error to what the user can act on: "address
// already in use" rather than "listen tcp 127.0.0.1:5000: bind: address
// already in use".
func listenCause(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err
	}
	return err
}
