package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/gatherhttp"
)

func newPsCmd() *cobra.Command {
	var (
		asJSON  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ps [flags] URL",
		Short: "Print the task tree of a running program that serves it",
		Long: `ps asks a running program for its gather task tree and prints it, one line
a task indented under its parent, as Python's "python -m asyncio pstree PID"
does: each task's ID, kind and name, what it is doing (running, awaiting a
task or a group, waiting for a group slot, sleeping), the cause it was
cancelled with, its age and where it was started.

The program serves the tree with the handler of package gatherhttp
(usually at /debug/gather/tasks) and calls gather.SetTracking(true) before
the tasks start; every gather command does both with --debug-addr. A URL
without a path is asked at /debug/gather/tasks.

ps exits with status 1 if the URL does not answer or does not serve a task
tree, and 2 for a bad URL or flag.

Examples:
  gather fetch --debug-addr 127.0.0.1:6060 -i urls.txt > out.jsonl &
  gather ps http://127.0.0.1:6060
  gather ps --json http://127.0.0.1:6060/debug/gather/tasks | jq '.tasks[] | select(.state == "sleeping")'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("ps: want one URL, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usagef("ps: -t must be positive, got %v", timeout)
			}
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
				return usagef("ps: bad URL %q: want http://host:port, with the path of the task tree if it is not %s", args[0], gatherhttp.Path)
			}
			if p := u.Port(); p != "" && !validPort(p) {
				return usagef("ps: bad URL %q: port %s is out of range (want 1 to 65535)", args[0], p)
			}
			if u.Path == "" || u.Path == "/" {
				u.Path = gatherhttp.Path
			}
			tree, err := fetchTasks(cmd.Context(), u, timeout)
			if err != nil {
				if status := interruptStatus(cmd.Context()); status != 0 {
					return status
				}
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(tree)
			}
			return tree.WriteText(out)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the tree as JSON (a gather.TaskTree), as served")
	f.DurationVarP(&timeout, "timeout", "t", 5*time.Second, "how long to wait for the answer")
	return cmd
}

// fetchTasks asks u for the task tree in JSON.
func fetchTasks(ctx context.Context, u *url.URL, timeout time.Duration) (*gather.TaskTree, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ask := *u
	q := ask.Query()
	q.Set("format", "json")
	ask.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ask.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("ps: %s: %v", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, below
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v", timeout)
		}
		return nil, fmt.Errorf("ps: %s does not answer: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ps: %s does not serve the task tree: %s", u, resp.Status)
	}
	tree, err := gather.ReadTasks(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("ps: %s does not serve the task tree: %v", u, err)
	}
	return tree, nil
}
