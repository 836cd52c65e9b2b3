// Package gatherhttp serves the task tree of package gather over HTTP, the
// way net/http/pprof serves profiles, for `gather ps` or a browser:
//
//	gather.SetTracking(true) // before the tasks to be seen start
//	mux.Handle("/debug/gather/tasks", gatherhttp.Handler())
//
// It is a package of its own so that package gather does not bring
// net/http into programs that do not serve it.
package gatherhttp

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gather-dev/gather"
)

// Path is where the handler is usually mounted, and where `gather ps`
// looks when its URL has no path.
const Path = "/debug/gather/tasks"

// Handler returns a handler that answers GET and HEAD with a snapshot of
// the running tracked tasks (see [gather.Tasks]): the text tree by default,
// or the JSON [gather.TaskTree] with ?format=json, or with an Accept header
// that asks for application/json and not text/plain. Other methods get
// 405, other formats 400.
//
// Serving it does not turn tracking on: call [gather.SetTracking] when the
// program starts, and the tree shows the tasks started from then on. It
// says so when tracking is off.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "gatherhttp: the task tree answers GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "text"
		if accept := r.Header.Get("Accept"); strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/plain") {
			format = "json"
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch format {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		gather.WriteTasks(w, gather.FormatText)
	case "json":
		w.Header().Set("Content-Type", "application/json")
		gather.WriteTasks(w, gather.FormatJSON)
	default:
		http.Error(w, fmt.Sprintf("gatherhttp: unknown format %q: want text or json", format), http.StatusBadRequest)
	}
}
