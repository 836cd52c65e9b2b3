package slowserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// start starts a server on a free loopback port and shuts it down when the
// test ends.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client returns an HTTP client able to keep n connections to one host,
// whose idle connections are closed when the test ends.
func client(t *testing.T, n int) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestThousandConcurrentSlowRequests is the acceptance test: a
// plain net/http client sends 1,000 concurrent requests to a server whose
// delay is 200 ms, and every one answers "hello!" in well under the
// 1,000 x 200 ms = 200 s they would take one after another.
func TestThousandConcurrentSlowRequests(t *testing.T) {
	for _, lean := range []bool{false, true} {
		t.Run(map[bool]string{false: "net/http", true: "lean"}[lean], func(t *testing.T) {
			thousandConcurrentSlowRequests(t, Config{Lean: lean})
		})
	}
}

func thousandConcurrentSlowRequests(t *testing.T, cfg Config) {
	const n, delay = 1000, 200 * time.Millisecond
	cfg.Delay = delay
	s := start(t, cfg)
	c := client(t, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	begin := time.Now()
	for range n {
		wg.Go(func() {
			code, body, err := get(c, s.URL())
			if err == nil && (code != 200 || body != "hello!") {
				err = errors.New("answer " + http.StatusText(code) + " " + body)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	took := time.Since(begin)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d concurrent requests with a %v delay took %v (one after another: %v)", n, delay, took.Round(time.Millisecond), n*delay)
	if took < delay || took > 20*time.Second {
		t.Errorf("took %v, want between %v and 20s", took, delay)
	}
	sdStart := time.Now()
	st, err := s.Shutdown(time.Second)
	t.Logf("shutdown took %v", time.Since(sdStart))
	if err != nil || st.Requests != n || st.ByStatus[200] != n {
		t.Errorf("Shutdown = %v, %v; want %d requests answered 200", st, err, n)
	}
}

func TestDropClosesTheConnection(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	_, _, err := get(client(t, 1), s.URL()+"/drop")
	if err == nil || !errors.Is(err, io.EOF) {
		t.Errorf("GET /drop: error %v, want EOF", err)
	}
	st, _ := s.Shutdown(time.Second)
	if st.Dropped != 1 || st.Requests != 1 {
		t.Errorf("stats = %v, want one dropped", st)
	}
}

func TestStreamIsChunked(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Delay: 30 * time.Millisecond})
	resp, err := client(t, 1).Get(s.URL() + "/stream/3")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Transfer-Encoding = %v, want chunked", resp.TransferEncoding)
	}
	var lines []string
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 3 || lines[2] != "chunk 3 of 3" {
		t.Errorf("lines = %q, want 3 chunks", lines)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	_, err := Start(s.Addr().String(), Config{})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Start on a used port: %v, want EADDRINUSE", err)
	}
	for _, addr := range []string{"nonsense", "127.0.0.1:99999", "256.0.0.1:80"} {
		if s, err := Start(addr, Config{}); err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded, want an error", addr)
		}
	}
}

// pipeNet is an in-memory network: a listener and a dialer joined by
// net.Pipe, whose blocking is visible to testing/synctest, so that a whole
// HTTP server and client run in fake time. Its listener is the lean path's
// handoff, which is exactly a listener fed by a channel.
type pipeNet struct{ *handoff }

func newPipeNet() *pipeNet { return &pipeNet{newHandoff(pipeAddr{})} }

func (p *pipeNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case p.ch <- server:
		return client, nil
	case <-p.done:
		return nil, syscall.ECONNREFUSED
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// answer is what a client got, and when.
type answer struct {
	code   int
	body   string
	err    error
	failed bool
	at     time.Duration
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		delay    time.Duration
		grace    time.Duration
		want     answer // what the in-flight request gets; at is from the start
		shutdown time.Duration
		stats    string
	}{
		{
			name:  "in flight finishes within grace",
			delay: 5 * time.Second, grace: 10 * time.Second,
			want:     answer{code: 200, body: "hello!", at: 5 * time.Second},
			shutdown: 4 * time.Second, // the request's end, plus net/http's idle poll
			stats:    "1 request (200: 1), 0 dropped, 0 client gone, 0 in flight cut",
		},
		{
			name:  "cut after grace",
			delay: time.Minute, grace: 2 * time.Second,
			want:     answer{failed: true, at: 3 * time.Second},
			shutdown: 2 * time.Second,
			stats:    "1 request, 0 dropped, 0 client gone, 1 in flight cut",
		},
		{
			name:  "no grace",
			delay: time.Minute, grace: 0,
			want:     answer{failed: true, at: time.Second},
			shutdown: 0,
			stats:    "1 request, 0 dropped, 0 client gone, 1 in flight cut",
		},
	}
	for _, tt := range tests {
		for _, lean := range []bool{false, true} {
			name := tt.name
			if lean {
				name += ", lean"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					pn := newPipeNet()
					s := Serve(pn, Config{Delay: tt.delay, Lean: lean})
					tr := &http.Transport{DialContext: pn.dial}
					defer tr.CloseIdleConnections()
					c := &http.Client{Transport: tr}
					begin := time.Now()
					got := make(chan answer, 1)
					go func() {
						code, body, err := get(c, "http://pipe/")
						got <- answer{code: code, body: body, err: err, failed: err != nil, at: time.Since(begin)}
					}()
					// The shutdown starts 1s into the request.
					time.Sleep(time.Second)
					synctest.Wait()
					if st := s.Handler().Stats(); st.InFlight != 1 {
						t.Fatalf("before shutdown: %v, want 1 in flight", st)
					}
					st, err := s.Shutdown(tt.grace)
					took := time.Since(begin) - time.Second
					if err != nil {
						t.Errorf("Shutdown: %v", err)
					}
					if st.String() != tt.stats {
						t.Errorf("stats = %q, want %q", st, tt.stats)
					}
					if took < tt.shutdown-time.Second || took > tt.shutdown+time.Second {
						t.Errorf("Shutdown took %v, want about %v", took, tt.shutdown)
					}
					a := <-got
					if a.code != tt.want.code || a.body != tt.want.body || a.failed != tt.want.failed || a.at != tt.want.at {
						t.Errorf("client got %+v, want %+v", a, tt.want)
					}
					if _, _, err := get(c, "http://pipe/"); err == nil {
						t.Error("a request after Shutdown succeeded")
					}
				})
			})
		}
	}
}

func TestShutdownDoesNotWaitForIdleConnections(t *testing.T) {
	t.Parallel()
	for _, lean := range []bool{false, true} {
		t.Run(map[bool]string{false: "net/http", true: "lean"}[lean], func(t *testing.T) {
			t.Parallel()
			shutdownDoesNotWaitForIdleConnections(t, Config{Lean: lean})
		})
	}
}

func shutdownDoesNotWaitForIdleConnections(t *testing.T, cfg Config) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet()
		s := Serve(pn, cfg)
		// One connection that never sends a request, one that is idle
		// after its request: neither has anything in flight.
		fresh, err := pn.dial(t.Context(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		tr := &http.Transport{DialContext: pn.dial}
		defer tr.CloseIdleConnections()
		if _, body, err := get(&http.Client{Transport: tr}, "http://pipe/"); err != nil || body != "hello!" {
			t.Fatalf("GET / = %q, %v", body, err)
		}
		synctest.Wait()
		// net/http's Shutdown would wait about 5s for the fresh connection.
		// Closed at once, it still needs one of Shutdown's polls, from 1ms
		// on, if its goroutine has not noted the close before the first.
		begin := time.Now()
		st, err := s.Shutdown(time.Minute)
		if took := time.Since(begin); took > 100*time.Millisecond || err != nil {
			t.Errorf("Shutdown took %v and returned %v, want at once and nil", took, err)
		}
		if st.Requests != 1 || st.ByStatus[200] != 1 {
			t.Errorf("stats = %v, want one request answered 200", st)
		}
	})
}

// A server on every interface gives a URL that works from this machine.
func TestURLOfEveryInterface(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "127.0.0.1:0"} {
		t.Run(addr, func(t *testing.T) {
			s, err := Start(addr, Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(time.Second)
			u := s.URL()
			if strings.Contains(u, "[::]") || strings.Contains(u, "0.0.0.0") {
				t.Fatalf("URL %s: not one a client can dial", u)
			}
			if want := addr != "127.0.0.1:0"; s.Everywhere() != want {
				t.Errorf("Everywhere() = %v, want %v", s.Everywhere(), want)
			}
			resp, err := http.Get(u + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "hello!" {
				t.Errorf("GET %s/: %q, want hello!", u, body)
			}
		})
	}
}
