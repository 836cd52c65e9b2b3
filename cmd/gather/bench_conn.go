package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"

	"github.com/spf13/pflag"

	"github.com/gather-dev/gather/internal/loadgen"
)

// connFlags are bench's flags for TLS and for how connections are used.
type connFlags struct {
	cacert     string
	tlsVersion string
	perConn    int
	streams    int
}

func (c *connFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&c.cacert, "cacert", "", "verify the server's certificate against the authorities in this PEM `FILE` instead of the system's")
	fl.StringVar(&c.tlsVersion, "tls-version", "", "offer only this TLS `VERSION`: 1.2 or 1.3 (default: both)")
	fl.IntVar(&c.perConn, "requests-per-conn", 0, "close each connection from the client after `N` responses and open a new one (0: no limit)")
	fl.IntVar(&c.streams, "streams", 1, "with --http2: `N` concurrent streams per connection (h2load's -m), fewer if the server allows fewer")
}

// apply checks the flags against each other and the URL and sets them in
// plan; every error is a usage error.
func (c *connFlags) apply(plan *loadgen.Plan, f *benchFlags) error {
	https := plan.URL.Scheme == "https"
	streamsSet := c.streams != 1
	switch {
	case c.streams < 1:
		return usagef("bench: --streams must be at least 1, got %d", c.streams)
	case streamsSet && !f.http2:
		return usagef("bench: --streams %d needs --http2 (HTTP/1.1 has one request in flight per connection)", c.streams)
	case c.perConn < 0:
		return usagef("bench: --requests-per-conn must be at least 1, got %d", c.perConn)
	case c.perConn > 0 && f.noKeepAlive:
		return usagef("bench: --requests-per-conn and --no-keepalive contradict each other (--no-keepalive is one request per connection)")
	case c.tlsVersion != "" && !https:
		return usagef("bench: --tls-version needs an https:// URL")
	case c.cacert != "" && !https:
		return usagef("bench: --cacert needs an https:// URL")
	case f.insecure && !https:
		return usagef("bench: --insecure needs an https:// URL")
	case f.insecure && c.cacert != "":
		return usagef("bench: --insecure and --cacert contradict each other (--insecure verifies nothing)")
	}
	plan.RequestsPerConn = c.perConn
	plan.Streams = c.streams
	switch c.tlsVersion {
	case "":
	case "1.2":
		plan.TLSVersion = tls.VersionTLS12
	case "1.3":
		plan.TLSVersion = tls.VersionTLS13
	default:
		return usagef("bench: --tls-version must be 1.2 or 1.3, got %q", c.tlsVersion)
	}
	if c.cacert != "" {
		pem, err := os.ReadFile(c.cacert)
		if err != nil {
			return usagef("bench: --cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usagef("bench: --cacert: no PEM certificate in %s", c.cacert)
		}
		plan.RootCAs = pool
	}
	return nil
}
