package fetcher

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRunLoopback fetches b.N URLs from a loopback server at -c 100,
// writing the records as JSON Lines: the whole path of one URL but the
// input parsing.
func BenchmarkRunLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	var in strings.Builder
	for i := range b.N {
		fmt.Fprintf(&in, "%s/delay/0s?i=%d\n", srv.URL, i)
	}
	f, err := New(Options{Concurrency: 100, Retries: 2, Timeout: 30e9})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(io.Discard, 100e6)
	defer w.Close()
	b.ReportAllocs()
	b.ResetTimer()
	err = f.Run(context.Background(), Lines(strings.NewReader(in.String())).All(), func(r *Record) error {
		if !r.OK() {
			return fmt.Errorf("%s: %s", r.Error, r.Message)
		}
		return w.Write(r)
	})
	if err != nil {
		b.Fatal(err)
	}
}
