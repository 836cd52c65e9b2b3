package slowserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Limits of the [http.Server] that [Start] runs. There is deliberately no
// limit on concurrent connections and no write timeout: holding many slow
// answers open is the server's purpose.
const (
	ReadHeaderTimeout = 10 * time.Second // a client has this long to send its request headers
	MaxHeaderBytes    = 64 << 10         // request line and headers, at most
	IdleTimeout       = 2 * time.Minute  // a keep-alive connection with no request is closed after this
)

// A Server serves a [Handler] on a TCP listener. Create one with [Start]
// and stop it with [Server.Shutdown] or [Server.Close].
type Server struct {
	handler *Handler
	srv     *http.Server
	ln      net.Listener
	base    context.Context // every request's context derives from it
	cut     context.CancelCauseFunc
	done    chan struct{} // closed when Serve has returned
	err     error         // what Serve returned, if not http.ErrServerClosed; set before done closes

	shutdownOnce sync.Once

	// fresh holds the connections that have not started a request yet.
	// net/http's Shutdown waits up to 5 s for them, in case a request
	// comes; a client that opened spare connections (Go's does, under
	// load) would make every shutdown last that long, so Shutdown closes
	// them at once instead.
	mu       sync.Mutex
	fresh    map[net.Conn]bool
	stopping bool
	// open counts net/http's connections not yet closed: after an error
	// answer net/http lingers 500 ms on a connection (closeWriteAndWait)
	// even once Close has closed it, and Shutdown waits for that, so that
	// no goroutine of the server outlives it. allClosed is closed once
	// stopping and none is open.
	open      int
	allClosed chan struct{}
	closedAll bool

	// In lean mode (Config.Lean) the server accepts on ln itself and
	// net/http serves handoff, the connections passed on (lean.go).
	lean    *leanConns
	handoff *handoff
}

// Start listens on addr, a host:port such as "127.0.0.1:5000", and serves
// New(cfg) there in a new goroutine until [Server.Shutdown] or
// [Server.Close]. An addr of "127.0.0.1:0" picks a free loopback port,
// which [Server.URL] tells. The error of a failed listen is the one
// [net.Listen] returned, so errors.Is(err, syscall.EADDRINUSE) tells a port
// already in use.
func Start(addr string, cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Serve(ln, cfg), nil
}

// Serve serves New(cfg) on ln in a new goroutine, like [Start] with a
// listener of the caller's. The server owns ln from then on and closes it
// when it shuts down.
func Serve(ln net.Listener, cfg Config) *Server {
	h := New(cfg)
	base, cut := context.WithCancelCause(context.Background())
	s := &Server{
		handler: h,
		ln:      ln,
		base:    base,
		cut:     cut,
		done:    make(chan struct{}),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: ReadHeaderTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			IdleTimeout:       IdleTimeout,
			// Every request's context derives from base, so that cutting
			// base stops every delay at once, with ErrCut as the cause.
			BaseContext: func(net.Listener) context.Context { return base },
		},
		fresh:     map[net.Conn]bool{},
		allClosed: make(chan struct{}),
	}
	s.srv.ConnState = s.track
	if !cfg.Lean {
		go func() {
			defer close(s.done)
			if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				s.err = err
			}
		}()
		return s
	}
	s.lean = &leanConns{conns: map[net.Conn]bool{}}
	s.handoff = newHandoff(ln.Addr())
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.handoff) }()
	go func() {
		defer close(s.done)
		err := s.acceptLean()
		if err != nil {
			s.err = err
			s.handoff.Close() // nothing more to pass on
		}
		<-served
	}()
	return s
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the server's base URL, such as "http://127.0.0.1:5000",
// with no trailing slash. A server listening on every interface (":5000",
// "0.0.0.0:5000") gives a loopback URL, one a client on this machine can
// use, rather than "http://[::]:5000".
func (s *Server) URL() string {
	ap := s.ln.Addr().(*net.TCPAddr).AddrPort()
	if ip := ap.Addr(); ip.IsUnspecified() {
		loopback := netip.IPv6Loopback()
		if ip.Unmap().Is4() {
			loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		ap = netip.AddrPortFrom(loopback, ap.Port())
	}
	return "http://" + ap.String()
}

// Everywhere reports whether the server listens on every interface.
func (s *Server) Everywhere() bool {
	return s.ln.Addr().(*net.TCPAddr).AddrPort().Addr().IsUnspecified()
}

// Handler returns the handler the server serves.
func (s *Server) Handler() *Handler { return s.handler }

// Done returns a channel that is closed when the server has stopped
// serving: after a shutdown, or on its own if accepting connections
// failed, in which case [Server.Shutdown] returns the error.
func (s *Server) Done() <-chan struct{} { return s.done }

// Shutdown stops the server gracefully: it stops accepting connections at
// once, lets the requests in flight finish for up to grace, then cuts
// those still running (their contexts end with cause [ErrCut] and their
// connections are closed). It returns when every request has returned,
// with the final stats, and the error that stopped the server if it was
// not the shutdown. Only the first call shuts down; later calls wait for
// it and return the same.
func (s *Server) Shutdown(grace time.Duration) (Stats, error) {
	s.shutdownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), max(grace, 0))
		s.closeFresh()
		if s.lean != nil {
			s.lean.stop()
			s.ln.Close()
		}
		err := s.srv.Shutdown(ctx)
		if err == nil && s.lean != nil {
			err = s.lean.wait(ctx)
		}
		cancel()
		if err != nil {
			s.cut(ErrCut)
			s.srv.Close()
		}
		if s.lean != nil {
			s.lean.closeAll()
		}
		<-s.done
		// Hijacked connections, and handlers cut while http.Server.Close
		// was closing their connections, are not waited for by net/http,
		// nor connections lingering after an error answer. Cut handlers
		// return as soon as they see their context, lingering connections
		// within 500 ms, but a bound keeps a stuck one from hanging the
		// process.
		bound := time.After(5 * time.Second)
		select {
		case <-s.handler.stats.idleCh():
		case <-bound:
		}
		select {
		case <-s.allClosed:
		case <-bound:
		}
		s.cut(nil)
	})
	<-s.done
	return s.handler.Stats(), s.err
}

// Close stops the server at once, cutting every request in flight; it is
// Shutdown(0).
func (s *Server) Close() error {
	_, err := s.Shutdown(0)
	return err
}

// track keeps the set of fresh connections up to date; net/http calls it
// from the connection's goroutine on every change of state.
func (s *Server) track(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case state == http.StateNew:
		s.open++
		if s.stopping {
			c.Close() // accepted just as the listener closed
			return
		}
		s.fresh[c] = true
	case state == http.StateClosed || state == http.StateHijacked:
		s.open--
		delete(s.fresh, c)
		s.noteClosed()
	default:
		delete(s.fresh, c)
	}
}

// noteClosed closes allClosed once stopping with no connection open;
// s.mu is held.
func (s *Server) noteClosed() {
	if s.stopping && s.open == 0 && !s.closedAll {
		s.closedAll = true
		close(s.allClosed)
	}
}

// closeFresh closes the connections that have not started a request, and
// those accepted from now on.
func (s *Server) closeFresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	for c := range s.fresh {
		c.Close()
		delete(s.fresh, c)
	}
	s.noteClosed()
}
