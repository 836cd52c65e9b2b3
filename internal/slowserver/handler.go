// Package slowserver is the slow HTTP server of the asyncio tutorial as a
// library: GET / answers "hello!" after a delay, like the tutorial's Flask
// app, and a few httpbin-style routes add other delays, status codes,
// sizes, dropped connections and chunked streams for experiments.
//
// [New] returns the [Handler], for use with any [http.Server] or
// [net/http/httptest]; [Start] serves it on a TCP address with the limits
// a server open to clients needs, and [Server.Shutdown] stops it
// gracefully. The gather CLI's serve and demo commands, and the tests of
// the other tools, use it in-process.
//
// A waiting request costs what net/http gives every connection, one
// goroutine and its buffers, plus one timer (see Config.PreciseTimer):
// about 18 KiB of resident memory each, measured with 10,000 at once. The
// handler has no pool and no ceiling of its own, so tens of thousands of
// concurrent slow requests fit on one machine; the limit is the process's
// file descriptors.
package slowserver

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults for the zero fields of [Config].
const (
	DefaultMaxDelay     = 30 * time.Second
	DefaultMaxBytes     = 10 << 20 // 10 MiB
	DefaultMaxBodyBytes = 1 << 20  // 1 MiB
)

// MaxStreamChunks caps n in /stream/{n}.
const MaxStreamChunks = 10_000

// Config says how slow and how faulty a [Handler] is. The zero Config
// answers GET / at once; negative durations and counts count as zero, and
// FailRate is clamped to [0, 1].
type Config struct {
	// Delay is how long GET / waits before it answers "hello!". It is also
	// the total time of a /stream/{n} answer.
	Delay time.Duration

	// MaxDelay caps the delay asked for with /delay/{duration}; zero means
	// DefaultMaxDelay.
	MaxDelay time.Duration

	// MaxBytes caps n in /bytes/{n}; zero means DefaultMaxBytes.
	MaxBytes int64

	// MaxBodyBytes limits the size of request bodies: a request that
	// declares a larger Content-Length is answered 413, and reading past
	// the limit fails. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// Jitter adds to the wait of every request a random extra time,
	// uniform in [0, Jitter].
	Jitter time.Duration

	// FailRate is the probability that a request is answered with an
	// injected "500 Internal Server Error" instead of its route's answer,
	// after its wait.
	FailRate float64

	// Seed seeds the random source of Jitter and FailRate, so that a run
	// can be replayed; zero picks a random seed.
	Seed uint64

	// PreciseTimer wakes waiting requests on a timer precise to tens of
	// microseconds (a timerfd on Linux; elsewhere it changes nothing),
	// where Go's runtime timers wake an idle server up to a millisecond
	// late. It serves a benchmark whose ceiling is concurrency / delay.
	// It does not work inside a testing/synctest bubble, whose clock is
	// not the kernel's: leave it off there.
	PreciseTimer bool

	// Lean makes a server started with [Start] or [Serve] answer GET /
	// over HTTP/1.1 with no body on a connection loop of its own, at about
	// 0.7 of net/http's CPU per request, and pass every other request, with
	// its connection, to net/http. A client that goes away during the
	// delay of such a request is noticed when its answer is written, not
	// at once. It serves benchmarks whose server must not be the limit;
	// a [Handler] alone ignores it.
	Lean bool
}

// A Handler is the slow server's [http.Handler]. Its routes, for any
// method:
//
//	/                 "hello!" after Config.Delay
//	/delay/{d}        "hello!" after d, a Go duration ("1.5s") or a number
//	                  of seconds ("2"), capped at Config.MaxDelay
//	/status/{code}    an answer with that status, 200 to 599
//	/bytes/{n}        n bytes of application/octet-stream, capped at
//	                  Config.MaxBytes
//	/drop             the connection is closed without an answer
//	/stream/{n}       n lines, chunked, spread evenly over Config.Delay;
//	                  n is capped at MaxStreamChunks
//
// Every request first waits for its route's delay plus the jitter; then,
// with probability Config.FailRate, it is answered 500 instead. A request
// whose client goes away, or that [Server.Shutdown] cuts, stops waiting at
// once. Other paths are answered 404; malformed parameters, 400.
//
// A Handler counts what it served; see [Handler.Stats]. Its methods may be
// called from any goroutine.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	stats stats

	rngMu sync.Mutex // rng is not safe for concurrent use
	rng   *rand.Rand

	alarm *alarm // nil: runtime timers
}

// New returns a handler that serves the slow server's routes as cfg says.
func New(cfg Config) *Handler {
	cfg.Delay = max(cfg.Delay, 0)
	cfg.Jitter = max(cfg.Jitter, 0)
	cfg.FailRate = min(max(cfg.FailRate, 0), 1)
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	h := &Handler{
		cfg: cfg,
		mux: http.NewServeMux(),
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	if cfg.PreciseTimer {
		h.alarm = theAlarm()
	}
	h.stats.init()
	h.mux.Handle("/{$}", route(h.hello))
	h.mux.Handle("/delay/{d}", route(h.delay))
	h.mux.Handle("/status/{code}", route(h.status))
	h.mux.Handle("/bytes/{n}", route(h.bytes))
	h.mux.Handle("/drop", route(h.drop))
	h.mux.Handle("/stream/{n}", route(h.stream))
	h.mux.Handle("/", route(h.notFound))
	return h
}

// Config returns the handler's configuration, with defaults filled in.
func (h *Handler) Config() Config { return h.cfg }

// ServeHTTP answers r as the handler's routes say.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.stats.begin()
	rec := &recorder{ResponseWriter: w}
	defer func() { h.stats.end(rec, r.Context()) }()
	if r.ContentLength > h.cfg.MaxBodyBytes {
		rec.text(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes\n", h.cfg.MaxBodyBytes))
		return
	}
	r.Body = http.MaxBytesReader(rec, r.Body, h.cfg.MaxBodyBytes)
	h.mux.ServeHTTP(rec, r)
}

func (h *Handler) hello(w *recorder, r *http.Request) {
	if h.pause(w, r, h.cfg.Delay) {
		w.text(http.StatusOK, "hello!")
	}
}

func (h *Handler) delay(w *recorder, r *http.Request) {
	d, err := parseDelay(r.PathValue("d"))
	if err != nil {
		w.text(http.StatusBadRequest, err.Error()+"\n")
		return
	}
	if h.pause(w, r, min(d, h.cfg.MaxDelay)) {
		w.text(http.StatusOK, "hello!")
	}
}

// parseDelay reads a Go duration, or a plain number of seconds as httpbin
// takes it.
func parseDelay(s string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if !(secs >= 0 && secs <= 1e6) { // written so that NaN fails too
			return 0, fmt.Errorf("bad delay %q: want 0 to 1e6 seconds", s)
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad delay %q: want a duration such as 1.5s or a number of seconds", s)
	}
	return d, nil
}

func (h *Handler) status(w *recorder, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 200 || code > 599 {
		w.text(http.StatusBadRequest, fmt.Sprintf("bad status %q: want 200 to 599\n", r.PathValue("code")))
		return
	}
	if h.pause(w, r, 0) {
		w.text(code, http.StatusText(code)+"\n")
	}
}

// pattern is what /bytes/{n} repeats: printable, so that a curious user
// who prints it sees something. It is made on first use, not at start,
// where every gather command would pay for its 32 KiB.
var pattern = sync.OnceValue(func() []byte {
	b := make([]byte, 32<<10)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz012345"[i%32]
	}
	return b
})

func (h *Handler) bytes(w *recorder, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 0 {
		w.text(http.StatusBadRequest, fmt.Sprintf("bad size %q: want a number of bytes\n", r.PathValue("n")))
		return
	}
	n = min(n, h.cfg.MaxBytes)
	if !h.pause(w, r, 0) {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusOK)
	p := pattern()
	for n > 0 {
		chunk := p[:min(n, int64(len(p)))]
		if _, err := w.Write(chunk); err != nil {
			w.abort()
		}
		n -= int64(len(chunk))
	}
}

func (h *Handler) drop(w *recorder, r *http.Request) {
	if !h.pause(w, r, 0) {
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 and test recorders cannot hijack: the nearest thing is
		// an answer the client cannot mistake for a success.
		w.text(http.StatusInternalServerError, "cannot drop this connection: "+err.Error()+"\n")
		return
	}
	w.hijacked = true
	conn.Close()
}

func (h *Handler) stream(w *recorder, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		w.text(http.StatusBadRequest, fmt.Sprintf("bad count %q: want a number of chunks\n", r.PathValue("n")))
		return
	}
	n = min(n, MaxStreamChunks)
	if !h.pause(w, r, 0) {
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	start := time.Now()
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	// Chunk i is due at start + i·delay/n, not one interval after the
	// previous write: writing takes time too, and relative sleeps would add
	// it up (10,000 chunks over 5 s took 11.7 s that way).
	delay, count := h.cfg.Delay, time.Duration(max(n, 1))
	for i := 1; i <= n; i++ {
		k := time.Duration(i)
		due := start.Add(delay/count*k + delay%count*k/count) // no overflow: delay%count·k < 10⁸
		if !h.sleep(r.Context(), time.Until(due)) {
			w.abort()
		}
		if _, err := fmt.Fprintf(w, "chunk %d of %d\n", i, n); err != nil {
			w.abort()
		}
		if err := rc.Flush(); err != nil {
			w.abort()
		}
	}
}

func (h *Handler) notFound(w *recorder, r *http.Request) {
	w.text(http.StatusNotFound, "404 page not found: try /, /delay/{d}, /status/{code}, /bytes/{n}, /drop or /stream/{n}\n")
}

// pause waits for d plus the jitter, then injects a failure if the dice say
// so. It reports whether the route should go on and answer: false if it
// failed (500 written). A request cancelled while it waits (the client
// gone, or cut by [Server.Shutdown]) is aborted with nothing written:
// returning would let net/http answer 200 with an empty body if the
// connection was still open (Shutdown(0) cuts the handlers a moment before
// it closes their connections), a cut request passed off as an answer.
func (h *Handler) pause(w *recorder, r *http.Request, d time.Duration) bool {
	jitter, fail := h.roll()
	if !h.sleep(r.Context(), addSat(d, jitter)) {
		w.abort()
	}
	if fail {
		w.text(http.StatusInternalServerError, "injected failure\n")
		return false
	}
	return true
}

// roll draws the jitter and the failure of one request. Without jitter or
// failures it takes no lock, so the common case does not serialize.
func (h *Handler) roll() (jitter time.Duration, fail bool) {
	if h.cfg.Jitter == 0 && h.cfg.FailRate == 0 {
		return 0, false
	}
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	if h.cfg.Jitter > 0 {
		// In uint64, Jitter+1 cannot overflow even for the largest Duration.
		jitter = time.Duration(h.rng.Uint64N(uint64(h.cfg.Jitter) + 1))
	}
	if h.cfg.FailRate > 0 {
		fail = h.rng.Float64() < h.cfg.FailRate
	}
	return jitter, fail
}

// addSat returns a+b for non-negative a and b, or the largest Duration if
// the sum overflows: a huge --delay plus a huge --jitter must not wrap
// around to a negative wait, which would answer at once.
func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// A route is one of the handler's routes; ServeHTTP hands every route its
// recorder.
type route func(w *recorder, r *http.Request)

func (f route) ServeHTTP(w http.ResponseWriter, r *http.Request) { f(w.(*recorder), r) }

// recorder notes the status a route answered with, for the stats. Unwrap
// lets [http.ResponseController] reach the connection's Flush and Hijack.
type recorder struct {
	http.ResponseWriter
	status   int
	hijacked bool // by /drop
	broken   bool // the answer was started but not finished
}

// abort ends an answer that was started but cannot be finished. It panics
// with http.ErrAbortHandler, which net/http takes as "close the connection
// without ending the body", so that the client sees a cut answer as cut:
// returning normally would let net/http end a chunked body cleanly.
func (w *recorder) abort() {
	w.broken = true
	panic(http.ErrAbortHandler)
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// text answers code with a plain-text body.
func (w *recorder) text(code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write([]byte(body))
}
