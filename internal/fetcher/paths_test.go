package fetcher

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// paths are the two ways a Fetcher makes requests, which every behaviour
// test runs against: "own", its HTTP/1.1 client, and "net/http", the
// RoundTripper it falls back on.
var paths = []string{"own", "net/http"}

// onPath returns opts, whose Transport is a fakeTransport, set to make
// requests on path: for "net/http" through the fake transport as it is;
// for "own" through the own client, over in-memory connections to a
// server that answers as the fake transport would. Both run in a synctest
// bubble (call onPath inside it).
func onPath(t *testing.T, path string, opts Options) Options {
	t.Helper()
	if path == "own" {
		srv := newMemServer(t, opts.Transport.(fakeTransport))
		opts.Transport, opts.Dial = nil, srv.dial
	}
	return opts
}

// memServer serves answer over net.Pipe connections with net/http's
// server: what answer returns is written as the response, and an error
// closes the connection without one.
type memServer struct {
	ln  *memListener
	srv *http.Server
	wg  sync.WaitGroup
}

func newMemServer(t *testing.T, answer fakeTransport) *memServer {
	s := &memServer{ln: &memListener{conns: make(chan net.Conn), done: make(chan struct{})}}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As the client's request says it, for the answers.
		r.URL.Scheme, r.URL.Host = "http", r.Host
		resp, err := answer(r)
		if err != nil {
			c, _, herr := w.(http.Hijacker).Hijack()
			if herr == nil {
				c.Close()
			}
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.Serve(s.ln)
	}()
	t.Cleanup(func() {
		s.srv.Close()
		s.wg.Wait()
	})
	return s
}

func (s *memServer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case s.ln.conns <- server:
		return client, nil
	case <-s.ln.done:
		return nil, errors.New("memServer closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// memListener hands the server the connections dial makes.
type memListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "memory" }
