package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/gather-dev/gather"
	"github.com/gather-dev/gather/gatherhttp"
)

// addDebugFlag adds --debug-addr to every command: while the command runs,
// its task tree (for 'gather ps') and pprof profiles are served there.
// start is called before the command runs; the returned stop, after.
func addDebugFlag(root *cobra.Command, stderr io.Writer, stop *func()) {
	var addr string
	root.PersistentFlags().StringVar(&addr, "debug-addr", "", "serve this command's task tree (see 'gather ps') and pprof profiles at `host:port` while it runs")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if addr == "" {
			return nil
		}
		s, err := serveDebug(addr, stderr)
		if err != nil {
			return usagef("--debug-addr: %v", err)
		}
		*stop = s
		return nil
	}
}

// serveDebug turns the task tree on and serves it, with the pprof
// profiles, on addr. The profiles group by task name: gather labels a
// named task's goroutine with it.
func serveDebug(addr string, stderr io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	restore := gather.SetTracking(true)
	mux := http.NewServeMux()
	mux.Handle(gatherhttp.Path, gatherhttp.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	fmt.Fprintf(stderr, "gather: task tree at http://%s%s (gather ps http://%[1]s), profiles at /debug/pprof/\n", ln.Addr(), gatherhttp.Path)
	return func() {
		srv.Close()
		<-done
		restore()
	}, nil
}
