package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// phasedSummary returns the summary of n closed-model samples whose first
// byte came at 80% of their service time, over conns connections of which
// the first was a full TLS handshake and the others resumed.
func phasedSummary(seed uint64, n, conns int) *Summary {
	r := NewRecorder()
	for i, s := range closedSamples(seed, n) {
		if s.Err == ErrNone {
			s.FirstByte = s.Service * 8 / 10
		}
		r.Record(s)
		if i < conns {
			r.RecordConn(ConnSample{
				Connect:   time.Duration(50+i) * time.Microsecond,
				Handshake: time.Duration(900-10*i) * time.Microsecond,
				TLS:       true,
				Resumed:   i > 0,
			})
		}
	}
	s := Merge(r)
	s.Target, s.Method, s.Connections, s.Elapsed = "https://127.0.0.1:8443/", "GET", conns, 2*time.Second
	return s
}

func TestPhasesRecorded(t *testing.T) {
	t.Parallel()
	s := phasedSummary(7, 1000, 10)
	full, resumed := s.TLSHandshakes()
	if s.ConnectionsOpened() != 10 || full != 1 || resumed != 9 {
		t.Errorf("opened %d, handshakes %d full, %d resumed; want 10, 1, 9", s.ConnectionsOpened(), full, resumed)
	}
	if c := s.Connect(); c.Count != 10 || c.Min != 50*time.Microsecond || c.Max != 59*time.Microsecond {
		t.Errorf("connect %+v, want 10 from 50 to 59 µs", c)
	}
	if h := s.TLSHandshake(); h.Count != 10 || h.Max != 900*time.Microsecond {
		t.Errorf("handshake %+v, want 10 up to 900 µs", h)
	}
	fb, resp := s.FirstByte(), s.Response()
	if fb.Count != resp.Count || fb.P50 >= resp.P50 || fb.P50 < resp.P50*7/10 {
		t.Errorf("first byte %+v, want one per response at about 80%% of %+v", fb, resp)
	}
	// A plain-HTTP run has no TLS row; a run that measured nothing, no section.
	var plain, none bytes.Buffer
	r := NewRecorder()
	r.Record(Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 200, FirstByte: time.Millisecond})
	r.RecordConn(ConnSample{Connect: 100 * time.Microsecond})
	Merge(r).WriteText(&plain)
	if !strings.Contains(plain.String(), "Connections    1 opened\n") || strings.Contains(plain.String(), "TLS") ||
		!strings.Contains(plain.String(), "  first byte ") {
		t.Errorf("plain run:\n%s", plain.String())
	}
	summaryOf(closedSamples(1, 10), time.Second).WriteText(&none)
	if strings.Contains(none.String(), "Phases") || strings.Contains(none.String(), "Connections") {
		t.Errorf("a run without phases shows them:\n%s", none.String())
	}
}

// Saved and merged, the phases are what one recorder of both runs holds.
func TestPhasesSaveAndMerge(t *testing.T) {
	t.Parallel()
	a, b := phasedSummary(1, 500, 5), phasedSummary(2, 700, 8)
	got := roundTrip(t, a)
	if err := got.Add(roundTrip(t, b)); err != nil {
		t.Fatal(err)
	}
	want := phasedSummary(1, 500, 5)
	if err := want.Add(phasedSummary(2, 700, 8)); err != nil {
		t.Fatal(err)
	}
	if got.ConnectionsOpened() != 13 || got.Connect() != want.Connect() ||
		got.TLSHandshake() != want.TLSHandshake() || got.FirstByte() != want.FirstByte() {
		t.Errorf("merged after saving: %d opened, %+v %+v %+v\nwant %+v %+v %+v", got.ConnectionsOpened(),
			got.Connect(), got.TLSHandshake(), got.FirstByte(), want.Connect(), want.TLSHandshake(), want.FirstByte())
	}
	if f, r := got.TLSHandshakes(); f != 2 || r != 11 {
		t.Errorf("handshakes %d full, %d resumed; want 2, 11", f, r)
	}
}

// Load refuses phase counts that its histograms contradict.
func TestPhasesLoadChecks(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := phasedSummary(3, 100, 4).Save(&buf); err != nil {
		t.Fatal(err)
	}
	for _, edit := range [][2]string{
		{`"connections_opened": 4`, `"connections_opened": 5`},
		{`"tls_resumed_handshakes": 3`, `"tls_resumed_handshakes": 2`},
		{`"tls_full_handshakes": 1`, `"tls_full_handshakes": 9`},
		{`"connections_opened": 4`, `"connections_opened": -4`},
	} {
		text := strings.Replace(buf.String(), edit[0], edit[1], 1)
		if text == buf.String() {
			t.Fatalf("%q not in the saved file:\n%s", edit[0], buf.String())
		}
		if _, err := Load(strings.NewReader(text)); err == nil {
			t.Errorf("Load accepted %s", edit[1])
		}
	}
}

// BenchmarkRecordFirstByte is BenchmarkRecord with the time to first
// byte set, as gather's own clients record it: the difference is the
// phase timing's cost per request in the recorder.
func BenchmarkRecordFirstByte(b *testing.B) {
	r := NewRecorder()
	samples := randomSamples(1, 1024)
	for i := range samples {
		samples[i].FirstByte = samples[i].Service / 2
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Record(samples[i&1023])
		i++
	}
}
