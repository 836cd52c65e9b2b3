package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/gatherhttp"
)

// taskServer is the script command "taskserver", the test process of
// ps.txtar: it serves a task tree that does not change, a task "main"
// waiting for a slot of its group "crawl", whose two children sleep, on
// 127.0.0.1:$PORT, until it is interrupted. /other serves something that
// is not a task tree.
func taskServer() {
	os.Exit(func() int {
		err := gather.Run(func(ctx context.Context) error {
			defer gather.SetTracking(true)()
			main := gather.Go(ctx, func(ctx context.Context) (int, error) {
				g := gather.NewGroup(ctx, gather.Name("crawl"))
				g.SetLimit(2)
				for _, name := range []string{"fetch a", "fetch b", "fetch c"} {
					gather.Spawn(g, func(ctx context.Context) (int, error) { return 0, gather.Sleep(ctx, time.Hour) }, gather.Name(name))
				}
				return 0, g.Wait()
			}, gather.Name("main"))
			for !waitingForSlot() {
				time.Sleep(time.Millisecond)
			}
			mux := http.NewServeMux()
			mux.Handle(gatherhttp.Path, gatherhttp.Handler())
			mux.HandleFunc("/other", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello\n")) })
			ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: mux}
			go srv.Serve(ln)
			<-ctx.Done()
			srv.Close()
			main.Cancel(nil)
			main.Await(context.Background())
			return nil
		})
		if err != nil {
			os.Stderr.WriteString("taskserver: " + err.Error() + "\n")
			return 1
		}
		return 0
	}())
}

func waitingForSlot() bool {
	for _, t := range gather.Tasks().Tasks {
		if t.State == "waiting for a slot" {
			return true
		}
	}
	return false
}

// ps exits 2 for what is wrong before it asks, 1 for what the URL answers.
func TestPsExitStatus(t *testing.T) {
	t.Parallel()
	srv := http.Server{Handler: http.NotFoundHandler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	closed, _ := freePort()
	for _, tt := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"ps"}, 2, "gather: ps: want one URL, got 0 arguments\n"},
		{[]string{"ps", "a", "b"}, 2, "gather: ps: want one URL, got 2 arguments\n"},
		{[]string{"ps", "ftp://h/"}, 2, `gather: ps: bad URL "ftp://h/": want http://host:port`},
		{[]string{"ps", "http://127.0.0.1:99999/"}, 2, `gather: ps: bad URL "http://127.0.0.1:99999/": port 99999 is out of range (want 1 to 65535)` + "\n"},
		{[]string{"ps", "http://:6060/"}, 2, `gather: ps: bad URL "http://:6060/": want http://host:port`},
		{[]string{"ps", "-t", "0s", "http://127.0.0.1:1/"}, 2, "gather: ps: -t must be positive, got 0s\n"},
		{[]string{"ps", "--nope", "http://127.0.0.1:1/"}, 2, "gather: ps: unknown flag: --nope\n"},
		{[]string{"ps", "http://127.0.0.1:" + strconv.Itoa(closed)}, 1, "does not answer: dial tcp 127.0.0.1:" + strconv.Itoa(closed) + ": connect: connection refused\n"},
		{[]string{"ps", "http://" + ln.Addr().String()}, 1, "gather: ps: http://" + ln.Addr().String() + "/debug/gather/tasks does not serve the task tree: 404 Not Found\n"},
	} {
		var stdout, stderr strings.Builder
		status := run(tt.args, strings.NewReader(""), &stdout, &stderr)
		if status != tt.status || !strings.Contains(stderr.String(), tt.stderr) || strings.Count(stderr.String(), "\n") != 1 || stdout.Len() != 0 {
			t.Errorf("gather %s: status %d, stderr %q, stdout %q; want %d, one line with %q", strings.Join(tt.args, " "), status, stderr.String(), stdout.String(), tt.status, tt.stderr)
		}
	}
}
