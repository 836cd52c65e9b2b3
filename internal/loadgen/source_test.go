package loadgen

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"testing"
)

// With SourceAddr every connection comes from that address, on every
// engine (on Linux all of 127.0.0.0/8 is the loopback's).
func TestSourceAddr(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	from := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		from[host]++
		mu.Unlock()
		w.Write([]byte("hello"))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	for _, tt := range []struct {
		name string
		plan Plan
	}{
		{"event loops", Plan{}},
		{"goroutines", Plan{Goroutines: true}},
		{"net/http", Plan{NetHTTP: true}},
		{"open model", Plan{Rate: 2000}},
	} {
		p := tt.plan
		p.URL, p.Connections, p.Requests = u, 3, 30
		p.SourceAddr = netip.MustParseAddr("127.0.0.2")
		mu.Lock()
		clear(from)
		mu.Unlock()
		s, err := Run(t.Context(), &p)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if s.Requests != 30 || s.Errors != 0 || from["127.0.0.2"] != 30 || len(from) != 1 {
			t.Errorf("%s: %d requests, %d errors, from %v; want 30 from 127.0.0.2", tt.name, s.Requests, s.Errors, from)
		}
		mu.Unlock()
	}
}
