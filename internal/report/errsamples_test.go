package report

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// A recorder keeps the first few distinct messages of each kind, looks at
// a bounded number of failures, and so stops allocating.
// (Not parallel: AllocsPerRun.)
func TestErrorSamples(t *testing.T) {
	r := NewRecorder()
	for i := range 10 {
		r.Record(Sample{Err: ErrRefused, Error: errors.New("connection refused")})
		r.Record(Sample{Err: ErrTimeout, Error: fmt.Errorf("timeout %d", i)})
	}
	r.Record(Sample{Err: ErrReset}) // no error value: nothing to show
	long := strings.Repeat("x", 1000)
	r.Record(Sample{Err: ErrProtocol, Error: errors.New(long)})
	s := Merge(r)
	if got, want := s.ErrorSamples(ErrRefused), []string{"connection refused"}; !slices.Equal(got, want) {
		t.Errorf("refused: %q, want %q", got, want)
	}
	if got, want := s.ErrorSamples(ErrTimeout), []string{"timeout 0", "timeout 1", "timeout 2"}; !slices.Equal(got, want) {
		t.Errorf("timeout: %q, want %q", got, want)
	}
	if got := s.ErrorSamples(ErrReset); len(got) != 0 {
		t.Errorf("reset: %q, want none", got)
	}
	if got := s.ErrorSamples(ErrProtocol); len(got) != 1 || len(got[0]) != maxErrorSampleLen+3 {
		t.Errorf("a long message is kept as %d bytes, want %d", len(got[0]), maxErrorSampleLen+3)
	}

	// Saved, loaded and merged, the samples stay bounded and distinct.
	other := NewRecorder()
	other.Record(Sample{Err: ErrRefused, Error: errors.New("connection refused")})
	other.Record(Sample{Err: ErrRefused, Error: errors.New("connect: connection refused (b)")})
	merged := roundTrip(t, s)
	if err := merged.Add(roundTrip(t, Merge(other))); err != nil {
		t.Fatal(err)
	}
	if got, want := merged.ErrorSamples(ErrRefused), []string{"connection refused", "connect: connection refused (b)"}; !slices.Equal(got, want) {
		t.Errorf("merged refused: %q, want %q", got, want)
	}
	if got := merged.ErrorSamples(ErrTimeout); len(got) != ErrorSamplesPerKind {
		t.Errorf("merged timeout: %q, want %d", got, ErrorSamplesPerKind)
	}

	// Past the first failures of a kind, recording one allocates nothing.
	err := errors.New("connection refused")
	r = NewRecorder()
	for range errorLooksPerKind {
		r.Record(Sample{Err: ErrRefused, Error: err})
	}
	if allocs := testing.AllocsPerRun(1000, func() { r.Record(Sample{Err: ErrRefused, Error: fmt.Errorf("x")}) }); allocs > 1 {
		// fmt.Errorf itself allocates once; Record must add nothing.
		t.Errorf("recording a failure allocates %v times, want only the error's own", allocs)
	}
}

func TestNon2xxAskedInterrupted(t *testing.T) {
	t.Parallel()
	ok := Sample{Response: time.Millisecond, Service: time.Millisecond, Status: 200}
	samples := append(repeat(8, ok), Sample{Response: time.Millisecond, Status: 500}, Sample{Response: time.Millisecond, Status: 302},
		Sample{Err: ErrTimeout})
	s := summaryOf(samples, time.Second)
	if got := s.Non2xx(); got != 2 {
		t.Errorf("Non2xx = %d, want 2 (a 500 and a 302; the timeout is an error)", got)
	}
	s.Asked = Asked{Requests: 11, Duration: 5 * time.Second}
	s.Interrupted = true
	got := roundTrip(t, s)
	if got.Asked != s.Asked || !got.Interrupted {
		t.Errorf("after a round trip: asked %+v, interrupted %v; want %+v, true", got.Asked, got.Interrupted, s.Asked)
	}
	other := summaryOf(repeat(4, ok), 2*time.Second)
	other.Asked = Asked{Requests: 4, Duration: 3 * time.Second}
	if err := other.Add(got); err != nil {
		t.Fatal(err)
	}
	if want := (Asked{Requests: 15, Duration: 5 * time.Second}); other.Asked != want || !other.Interrupted {
		t.Errorf("merged: asked %+v, interrupted %v; want %+v, true", other.Asked, other.Interrupted, want)
	}
	var text strings.Builder
	if err := other.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"\nInterrupted    before the end: the report covers the requests that ended\n",
		"\nErrors         1  (6.67%), non-2xx answers 2  (13.33%)\n",
	} {
		if !strings.Contains(text.String(), line) {
			t.Errorf("text lacks %q:\n%s", line, text.String())
		}
	}
}
