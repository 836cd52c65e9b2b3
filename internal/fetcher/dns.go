package fetcher

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// DefaultDNSCache is how long a resolved host name is used before it is
// looked up again. Go's resolver does not tell an answer's TTL, so the
// cache keeps every answer for this bound instead, as curl does by
// default (60 s): a crawl of many URLs on a few hosts asks the resolver
// about each host about once a minute, not once per URL.
const DefaultDNSCache = 60 * time.Second

// A dnsCache resolves host names once for many connections. Lookups of
// the same name at the same time wait for one answer. An answer is kept
// for ttl, a "no such host" too; a failure that may pass (a timeout, a
// server failure) is not kept. Entries that have expired are swept when
// the map has doubled, so a crawl over millions of hosts holds about as
// many entries as it resolved in the last ttl.
type dnsCache struct {
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	ttl    time.Duration // <= 0: no caching

	mu      sync.Mutex
	m       map[string]*dnsEntry
	sweepAt int
}

type dnsEntry struct {
	ready   chan struct{} // closed once addrs, err and expires are set
	addrs   []netip.Addr  // in the order to try; the one that last worked first
	err     error
	expires time.Time
}

func newDNSCache(lookup func(ctx context.Context, host string) ([]netip.Addr, error), ttl time.Duration) *dnsCache {
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	return &dnsCache{lookup: lookup, ttl: ttl, m: make(map[string]*dnsEntry)}
}

// resolve returns the addresses of host, an IP literal or a name.
func (c *dnsCache) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	if c.ttl <= 0 {
		return c.lookup(ctx, host)
	}
	for {
		c.mu.Lock()
		e := c.m[host]
		if e != nil {
			select {
			case <-e.ready:
				if time.Now().Before(e.expires) {
					c.mu.Unlock()
					return e.addrs, e.err
				}
				e = nil // expired: look it up again
			default:
			}
		}
		if e == nil {
			e = &dnsEntry{ready: make(chan struct{})}
			if len(c.m) >= c.sweepAt {
				c.sweep()
			}
			c.m[host] = e
			c.mu.Unlock()
			return c.fill(ctx, host, e)
		}
		c.mu.Unlock()
		// Another lookup of host is under way: wait for it.
		select {
		case <-e.ready:
			if e.expires.IsZero() {
				continue // it failed in a way not worth keeping: try again
			}
			return e.addrs, e.err
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// fill looks host up for e, which it has just put in the map.
func (c *dnsCache) fill(ctx context.Context, host string, e *dnsEntry) ([]netip.Addr, error) {
	addrs, err := c.lookup(ctx, host)
	var dnsErr *net.DNSError
	keep := err == nil && len(addrs) > 0 || errors.As(err, &dnsErr) && dnsErr.IsNotFound
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	c.mu.Lock()
	e.addrs, e.err = addrs, err
	if keep {
		e.expires = time.Now().Add(c.ttl)
	} else if c.m[host] == e {
		delete(c.m, host)
	}
	c.mu.Unlock()
	close(e.ready)
	return addrs, err
}

// worked notes that addr of host answered, so that the next connection
// tries it first.
func (c *dnsCache) worked(host string, addr netip.Addr) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[host]
	if e == nil || len(e.addrs) < 2 || e.addrs[0] == addr {
		return
	}
	select {
	case <-e.ready:
	default:
		return
	}
	// A new slice: callers may be reading the old one.
	addrs := make([]netip.Addr, 0, len(e.addrs))
	addrs = append(addrs, addr)
	for _, a := range e.addrs {
		if a != addr {
			addrs = append(addrs, a)
		}
	}
	e.addrs = addrs
}

// sweep deletes expired entries; c.mu must be held. It runs when the map
// has doubled since the last sweep, so its cost is amortized.
func (c *dnsCache) sweep() {
	now := time.Now()
	for k, e := range c.m {
		select {
		case <-e.ready:
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		default:
		}
	}
	c.sweepAt = 2*len(c.m) + 1024
}

// size reports how many names have an entry; for tests.
func (c *dnsCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// A dialer makes TCP connections to host:port addresses, with host names
// resolved through its cache. Where a name has several addresses it tries
// them in turn, each with a share of the time left (at least 2 s, as
// net.Dialer gives each), rather than racing IPv6 and IPv4 as net.Dialer
// does: the cache puts the address that answered first for the next
// connection.
type dialer struct {
	dns  *dnsCache
	net  net.Dialer
	dial func(ctx context.Context, network, addr string) (net.Conn, error) // replaces it all, for tests
}

// dialContext connects to addr ("host:port"); it is also net/http's
// DialContext.
func (d *dialer) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.dial != nil {
		return d.dial(ctx, network, addr)
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, &net.AddrError{Err: "invalid port", Addr: addr}
	}
	addrs, err := d.dns.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var first error
	for i, a := range addrs {
		dctx := ctx
		if deadline, ok := ctx.Deadline(); ok && i < len(addrs)-1 {
			share := time.Until(deadline) / time.Duration(len(addrs)-i)
			var cancel context.CancelFunc
			dctx, cancel = context.WithTimeout(ctx, max(share, 2*time.Second))
			defer cancel()
		}
		c, err := d.net.DialContext(dctx, network, netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			if i > 0 {
				d.dns.worked(host, a)
			}
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}
