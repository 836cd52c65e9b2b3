package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
)

// gogc returns the garbage collector's GOGC now.
func gogc() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// While fetch runs, the collector runs at fetchGCPercent, and as before
// once it returns; a GOGC in the environment is left as it is.
func TestFetchGCPercent(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set in the environment, which fetch leaves alone")
	}
	var during atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		during.Store(gogc())
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	before := gogc()
	if code := run([]string{"fetch", "--quiet", srv.URL + "/"}, strings.NewReader(""), io.Discard, io.Discard); code != 0 {
		t.Fatalf("fetch exited %d", code)
	}
	if during.Load() != fetchGCPercent || gogc() != before {
		t.Errorf("GOGC %d during the fetch, %d after, want %d and %d", during.Load(), gogc(), fetchGCPercent, before)
	}
}
