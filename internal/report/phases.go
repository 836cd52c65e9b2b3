package report

import (
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// ConnSample is one connection a worker opened, and what opening it took.
type ConnSample struct {
	// Connect is the TCP handshake: from the connect call to connected.
	Connect time.Duration
	// Handshake is the TLS handshake; 0 without TLS.
	Handshake time.Duration
	// TLS reports a TLS connection; Resumed, that its handshake resumed
	// a session rather than doing a full one.
	TLS, Resumed bool
}

// phases holds what a recorder or a summary knows of connections and of
// the phases of a request: counters, and three histograms (the geometry of
// the latency ones) that stay nil until their first value, so that a run
// of plain keep-alive connections does not pay for a TLS histogram.
type phases struct {
	opened     int64 // connections opened
	tlsFull    int64 // of which TLS with a full handshake
	tlsResumed int64 // of which TLS with a resumed one

	connect   *hdrhistogram.Histogram
	handshake *hdrhistogram.Histogram
	firstByte *hdrhistogram.Histogram // send to the first response byte
}

// RecordConn adds one opened connection. Like Record it locks nothing and
// never fails; it allocates only the first time a histogram is needed.
func (r *Recorder) RecordConn(c ConnSample) {
	r.phases.addConn(c)
}

func (p *phases) addConn(c ConnSample) {
	p.opened++
	recordInto(&p.connect, c.Connect)
	if !c.TLS {
		return
	}
	if c.Resumed {
		p.tlsResumed++
	} else {
		p.tlsFull++
	}
	recordInto(&p.handshake, c.Handshake)
}

// recordInto records d in *h, making the histogram first if need be.
func recordInto(h **hdrhistogram.Histogram, d time.Duration) {
	if *h == nil {
		*h = newHistogram()
	}
	_ = (*h).RecordValue(micros(d)) // clamped: cannot fail
}

// add merges o into p.
func (p *phases) add(o *phases) {
	p.opened += o.opened
	p.tlsFull += o.tlsFull
	p.tlsResumed += o.tlsResumed
	mergeInto(&p.connect, o.connect)
	mergeInto(&p.handshake, o.handshake)
	mergeInto(&p.firstByte, o.firstByte)
}

// mergeInto merges o, if any, into *h, making *h first if need be. The
// histograms share one geometry, so nothing is dropped.
func mergeInto(h **hdrhistogram.Histogram, o *hdrhistogram.Histogram) {
	if o == nil || o.TotalCount() == 0 {
		return
	}
	if *h == nil {
		*h = newHistogram()
	}
	(*h).Merge(o)
}

// clone returns a deep copy of p.
func (p phases) clone() phases {
	c := p
	for _, h := range []**hdrhistogram.Histogram{&c.connect, &c.handshake, &c.firstByte} {
		if *h != nil {
			*h = (*h).Clone()
		}
	}
	return c
}

// ConnectionsOpened returns the number of connections the run opened:
// one per connection for keep-alive runs, more when servers closed them
// or the run asked for it (--no-keepalive, --requests-per-conn).
func (s *Summary) ConnectionsOpened() int64 { return s.phases.opened }

// TLSHandshakes returns how many TLS handshakes were full and how many
// resumed a session.
func (s *Summary) TLSHandshakes() (full, resumed int64) {
	return s.phases.tlsFull, s.phases.tlsResumed
}

// Connect returns the distribution of TCP connect times, one per
// connection opened.
func (s *Summary) Connect() Latency { return latencyOf(s.phases.connect) }

// TLSHandshake returns the distribution of TLS handshake times, full and
// resumed together.
func (s *Summary) TLSHandshake() Latency { return latencyOf(s.phases.handshake) }

// FirstByte returns the distribution of the time to first byte: from the
// moment a request was sent to the first byte of its response. It covers
// the answered requests of the clients that measure it (not net/http's).
func (s *Summary) FirstByte() Latency { return latencyOf(s.phases.firstByte) }

// writePhases writes the connection counts and the phase timings, if the
// run measured any.
func (s *Summary) writePhases(p func(string, ...any)) {
	ph := &s.phases
	if ph.opened == 0 && ph.firstByte == nil {
		return
	}
	p("")
	if ph.tlsFull+ph.tlsResumed > 0 {
		p("Connections    %d opened  (TLS handshakes: %d full, %d resumed)", ph.opened, ph.tlsFull, ph.tlsResumed)
	} else {
		p("Connections    %d opened", ph.opened)
	}
	p("%-17s %8s %9s %9s %9s %10s", "Phases (ms)", "p50", "p90", "p99", "max", "count")
	for _, row := range []struct {
		name string
		l    Latency
	}{
		{"connect", s.Connect()},
		{"TLS handshake", s.TLSHandshake()},
		{"first byte", s.FirstByte()},
	} {
		if row.l.Count == 0 {
			continue
		}
		p("  %-14s %9.3f %9.3f %9.3f %9.3f %10d", row.name,
			ms(row.l.P50), ms(row.l.P90), ms(row.l.P99), ms(row.l.Max), row.l.Count)
	}
}

// jsonPhases is the JSON report's "phases" object.
type jsonPhases struct {
	Opened       int64       `json:"connections_opened"`
	TLSFull      int64       `json:"tls_full_handshakes"`
	TLSResumed   int64       `json:"tls_resumed_handshakes"`
	Connect      jsonLatency `json:"connect"`
	TLSHandshake jsonLatency `json:"tls_handshake"`
	FirstByte    jsonLatency `json:"first_byte"`
}

func (s *Summary) phasesJSON() jsonPhases {
	return jsonPhases{
		Opened:       s.phases.opened,
		TLSFull:      s.phases.tlsFull,
		TLSResumed:   s.phases.tlsResumed,
		Connect:      latencyJSON(s.Connect()),
		TLSHandshake: latencyJSON(s.TLSHandshake()),
		FirstByte:    latencyJSON(s.FirstByte()),
	}
}

// savedPhases are the saved form's optional fields for phases; a file
// without them (version 1, or a run that measured none) loads as a run
// that measured none.
type savedPhases struct {
	Opened       int64  `json:"connections_opened,omitempty"`
	TLSFull      int64  `json:"tls_full_handshakes,omitempty"`
	TLSResumed   int64  `json:"tls_resumed_handshakes,omitempty"`
	Connect      string `json:"connect_histogram,omitempty"`
	TLSHandshake string `json:"tls_handshake_histogram,omitempty"`
	FirstByte    string `json:"first_byte_histogram,omitempty"`
}

func (p *phases) save() (savedPhases, error) {
	v := savedPhases{Opened: p.opened, TLSFull: p.tlsFull, TLSResumed: p.tlsResumed}
	for _, h := range []struct {
		h   *hdrhistogram.Histogram
		dst *string
	}{{p.connect, &v.Connect}, {p.handshake, &v.TLSHandshake}, {p.firstByte, &v.FirstByte}} {
		if h.h == nil || h.h.TotalCount() == 0 {
			continue
		}
		b, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return v, fmt.Errorf("report: encoding histogram: %w", err)
		}
		*h.dst = string(b)
	}
	return v, nil
}

// load reads v into p and checks it against itself and the number of
// answered requests: every connection opened has its connect time, every
// TLS one its handshake time, and no more requests have a first byte than
// were answered.
func (p *phases) load(v savedPhases, answered int64) (string, bool) {
	if v.Opened < 0 || v.TLSFull < 0 || v.TLSResumed < 0 || v.TLSFull+v.TLSResumed > v.Opened {
		return "connection counts do not add up", false
	}
	p.opened, p.tlsFull, p.tlsResumed = v.Opened, v.TLSFull, v.TLSResumed
	for _, h := range []struct {
		name string
		text string
		dst  **hdrhistogram.Histogram
		want int64 // -1: at most answered
	}{
		{"connect", v.Connect, &p.connect, v.Opened},
		{"tls_handshake", v.TLSHandshake, &p.handshake, v.TLSFull + v.TLSResumed},
		{"first_byte", v.FirstByte, &p.firstByte, -1},
	} {
		var n int64
		if h.text != "" {
			d, err := decodeHistogram(h.text)
			if err != nil {
				return h.name + " histogram: " + err.Error(), false
			}
			*h.dst, n = d, d.TotalCount()
		}
		if h.want >= 0 && n != h.want || h.want < 0 && n > answered {
			return h.name + " histogram does not match the counts", false
		}
	}
	return "", true
}
