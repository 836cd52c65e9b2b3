package fetcher

import (
	"context"
	"sync"
	"time"
)

// idleTimeout is how long a pooled connection may sit unused before it is
// closed rather than reused: servers close idle connections after a while
// (nginx after 75 s), and a request on one they closed costs a retry.
const idleTimeout = 60 * time.Second

// A pool holds the own client's connections: those in use, and the idle
// ones kept for reuse, per host. It bounds the connections open at once,
// idle ones included, to max: a run of -c N needs at most N file
// descriptors for them however many hosts it visits, because opening one
// more closes the idle connection unused for longest. Each host keeps at
// most maxIdlePerHost idle connections (--per-host, or -c).
type pool struct {
	max            int
	maxIdlePerHost int

	mu   sync.Mutex
	idle map[string][]*h1Conn // by host, the most recently used last
	// spare is the emptied idle list of a host, kept for the next host
	// to need one: a crawl of one host, whose idle list empties and fills
	// again request after request, allocates none.
	spare []*h1Conn
	lru   connList // idle connections of every host, the least recently used first
	inUse connList
	open  int // connections open or being dialled, in use and idle
	runs  int // the Runs under way (see shed)
}

func newPool(max, maxIdlePerHost int) *pool {
	return &pool{max: max, maxIdlePerHost: maxIdlePerHost, idle: make(map[string][]*h1Conn)}
}

// get returns an idle connection to key, marked in use and owned by run,
// or nil if there is none: then it has counted the connection the caller
// is to dial, which the caller gives back with put or drop. Idle
// connections past idleTimeout are closed on the way.
func (p *pool) get(key string, run *runState) *h1Conn {
	var stale []*h1Conn
	defer func() {
		for _, c := range stale {
			c.nc.Close()
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for conns := p.idle[key]; len(conns) > 0; conns = p.idle[key] {
		c := conns[len(conns)-1]
		p.removeIdle(c)
		if now.Sub(c.idleSince) > idleTimeout {
			stale = append(stale, c)
			p.open--
			continue
		}
		c.run = run
		p.inUse.push(c)
		return c
	}
	if p.open >= p.max {
		// Make room: close the connection idle for longest, of any host.
		if c := p.lru.first(); c != nil {
			p.removeIdle(c)
			stale = append(stale, c)
			p.open--
		}
	}
	p.open++
	return nil
}

// dialled marks c, a new connection counted by get, in use by run. It
// reports false if ctx ended meanwhile, as an abort of run would have
// missed c.
func (p *pool) dialled(ctx context.Context, c *h1Conn, run *runState) bool {
	p.mu.Lock()
	c.run = run
	p.inUse.push(c)
	p.mu.Unlock()
	return ctx.Err() == nil
}

// put gives back c, in use and able to carry another request, as idle.
func (p *pool) put(c *h1Conn) {
	p.mu.Lock()
	p.inUse.remove(c)
	c.run = nil
	if len(p.idle[c.key]) >= p.maxIdlePerHost {
		p.open--
		p.mu.Unlock()
		c.nc.Close()
		return
	}
	c.idleSince = time.Now()
	conns, ok := p.idle[c.key]
	if !ok {
		conns, p.spare = p.spare, nil
	}
	p.idle[c.key] = append(conns, c)
	p.lru.push(c)
	p.mu.Unlock()
}

// drop closes c, in use (or counted by get and not dialled, if nil).
func (p *pool) drop(c *h1Conn) {
	p.mu.Lock()
	p.open--
	if c != nil && c.nc != nil {
		p.inUse.remove(c)
		c.run = nil
	}
	p.mu.Unlock()
	if c != nil && c.nc != nil {
		c.nc.Close()
	}
}

// removeIdle takes c out of the idle connections; p.mu must be held. c is
// the most recently used of its host (get) or the least recently used of
// all (and so of its host: get's eviction).
func (p *pool) removeIdle(c *h1Conn) {
	p.lru.remove(c)
	conns := p.idle[c.key]
	switch {
	case len(conns) == 1:
		delete(p.idle, c.key) // a crawl of many hosts keeps no empty entry
		conns[0] = nil
		p.spare = conns[:0]
	case conns[len(conns)-1] == c:
		conns[len(conns)-1] = nil
		p.idle[c.key] = conns[:len(conns)-1]
	default:
		copy(conns, conns[1:])
		conns[len(conns)-1] = nil
		p.idle[c.key] = conns[:len(conns)-1]
	}
}

// abort makes every request under way for run fail at once: its
// connection's deadline moves to the past.
func (p *pool) abort(run *runState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := p.inUse.first(); c != nil; c = c.next {
		if c.run == run {
			c.nc.SetDeadline(aLongTimeAgo)
		}
	}
}

// shed closes idle connections, the least recently used first, until at
// most keep are left. Run sheds as its input runs out: a goroutine with no
// line left keeps only as many idle connections as fetches still under
// way could use for a retry or a redirect. Closing a connection costs some
// 25 µs of CPU on loopback (the FIN both ways); done here, it overlaps the
// last round's wait for answers instead of adding some 6 ms to the exit at -c
// 200 (docs/fetch.md). While another Run is under way it sheds nothing:
// the idle connections are that Run's as much as this one's, and closed
// they would cost it a dial each.
func (p *pool) shed(keep int) {
	p.mu.Lock()
	if p.runs > 1 {
		p.mu.Unlock()
		return
	}
	n := 0
	for c := p.lru.first(); c != nil; c = c.next {
		n++
	}
	var conns []*h1Conn
	for ; n > keep; n-- {
		c := p.lru.first()
		p.removeIdle(c)
		p.open--
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
}

// begin and end count a Run under way, for shed.
func (p *pool) begin() { p.mu.Lock(); p.runs++; p.mu.Unlock() }
func (p *pool) end()   { p.mu.Lock(); p.runs--; p.mu.Unlock() }

// close closes the idle connections. Those in use are closed when they
// are given back.
func (p *pool) close() {
	p.mu.Lock()
	var conns []*h1Conn
	for c := p.lru.first(); c != nil; c = c.next {
		conns = append(conns, c)
	}
	for _, c := range conns {
		p.removeIdle(c)
		p.open--
	}
	p.maxIdlePerHost = 0 // what is given back from now on is closed
	p.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
}

// A runState identifies one [Fetcher.Run], whose end aborts the requests
// it has under way on the own client's connections.
type runState struct{ _ byte } // not zero-sized: each has its own address

var aLongTimeAgo = time.Unix(1, 0)

// connList is an intrusive doubly linked list of connections: a
// connection is in one list at a time (in use, or idle), and moving it
// costs no allocation.
type connList struct {
	head, tail *h1Conn
}

func (l *connList) first() *h1Conn { return l.head }

func (l *connList) push(c *h1Conn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
}

func (l *connList) remove(c *h1Conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else if l.head == c {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else if l.tail == c {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
}
