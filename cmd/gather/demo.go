package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/internal/demo"
)

// maxDemoRequests bounds --requests: served in-process, each request holds
// two file descriptors, client's and server's.
const maxDemoRequests = 10_000

func newDemoCmd() *cobra.Command {
	var (
		unit     time.Duration
		rawURL   string
		requests int
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Replay the asyncio tutorial on gather, with real timings",
		Long: `demo replays every cell of the asyncio tutorial on the gather library, in
order, and prints what each did and how long it took, then a table of each
scenario's time one after another and concurrently.

Time is counted in units, the tutorial's "second": three tasks of 1, 2 and
4 units take about 4 units, not 7. The HTTP cells ask a slow server whose
GET / answers after 5 units, as the tutorial's Flask app took 5 s; demo
starts one itself on a free loopback port, unless --url names another:
the HTTP cells GET that URL as given, path included, and the failing cell
asks /status/500 of the same server. With the default unit the whole demo
takes about 15 s.

Examples:
  gather demo                          # about 15 s
  gather demo --unit 1s                # the tutorial's own pace, about 50 s
  gather demo --unit 20ms --requests 5000
  gather demo --url http://127.0.0.1:5000   # against "gather serve" or the Flask app
  gather demo --url http://127.0.0.1:5000/delay/2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("demo takes no arguments, got %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if unit < time.Millisecond || unit > time.Minute {
				return usagef("demo: --unit must be from 1ms to 1m, got %v", unit)
			}
			if requests < 1 || requests > maxDemoRequests {
				return usagef("demo: --requests must be from 1 to %d, got %d", maxDemoRequests, requests)
			}
			if rawURL != "" {
				u, err := url.Parse(rawURL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
					return usagef("demo: bad --url %q: want http://host:port", rawURL)
				}
				if p := u.Port(); p != "" && !validPort(p) {
					return usagef("demo: bad --url %q: port %s is out of range (want 1 to 65535)", rawURL, p)
				}
			}
			out := &checkedWriter{w: cmd.OutOrStdout()}
			_, err := demo.Run(cmd.Context(), demo.Options{
				Unit:     unit,
				URL:      rawURL,
				Requests: requests,
				Out:      out,
			})
			var sig *gather.SignalError
			if errors.As(err, &sig) {
				// "stopped by Ctrl-C (SIGINT)", not Go's "stopped by
				// interrupt" or "stopped by terminated".
				by := "SIGTERM"
				if sig.Signal == os.Interrupt {
					by = "Ctrl-C (SIGINT)"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "gather demo: stopped by %s\n", by)
				return interruptStatus(cmd.Context())
			}
			if err == nil && out.Err() != nil {
				return fmt.Errorf("demo: writing the output: %w", out.Err())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.DurationVar(&unit, "unit", demo.DefaultUnit, "the time that stands for one of the tutorial's seconds")
	f.StringVar(&rawURL, "url", "", "`URL` the HTTP cells GET, as given (default: a server started in-process)")
	f.IntVar(&requests, "requests", demo.DefaultRequests, "number of concurrent requests in the last HTTP cell")
	return cmd
}
