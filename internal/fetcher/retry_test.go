package fetcher

import (
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRetries checks which outcomes are retried, how many times, and that
// the backoff waits stay within their jittered bounds (fake time).
func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses []int // one per attempt; 0 means a connection error
		retries  int
		attempts int
		kind     string
	}{
		{"success", []int{200}, 3, 1, ""},
		{"503 then success", []int{503, 502, 200}, 3, 3, ""},
		{"429 then success", []int{429, 200}, 3, 2, ""},
		{"network error then success", []int{0, 200}, 3, 2, ""},
		{"gives up", []int{500, 500, 500}, 2, 3, KindStatus},
		{"network error, gives up", []int{0, 0}, 1, 2, KindConnection},
		{"404 is not retried", []int{404, 200}, 3, 1, KindStatus},
		{"no retries", []int{503, 200}, 0, 1, KindStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forPaths(t, func(t *testing.T, path string) {
				const base = 100 * time.Millisecond
				var times []time.Time
				f := mustNew(t, onPath(t, path, Options{Retries: tt.retries, Backoff: base, MaxBackoff: time.Hour,
					Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
						times = append(times, time.Now())
						code := tt.statuses[len(times)-1]
						if code == 0 {
							return nil, io.ErrUnexpectedEOF
						}
						return respond(r, code, "body"), nil
					})}))
				rec := run(t, f, []string{"http://x/"})[0]
				if rec.Attempts != tt.attempts || len(times) != tt.attempts || rec.Error != tt.kind {
					t.Fatalf("attempts %d (%d requests), error %q %s; want %d attempts, error %q",
						rec.Attempts, len(times), rec.Error, rec.Message, tt.attempts, tt.kind)
				}
				for i := 1; i < len(times); i++ {
					wait := times[i].Sub(times[i-1])
					full := base << (i - 1)
					if wait < full/2 || wait > full {
						t.Errorf("wait before retry %d: %v, want within [%v, %v]", i, wait, full/2, full)
					}
				}
			})
		})
	}
}

// TestRetryAfter checks that a Retry-After in seconds or as a date sets
// the wait exactly, and that one over the cap is not retried.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		header   func(now time.Time) string
		wait     time.Duration
		attempts int
	}{
		{"seconds", func(time.Time) string { return "3" }, 3 * time.Second, 2},
		{"date", func(now time.Time) string { return now.Add(5 * time.Second).UTC().Format(http.TimeFormat) }, 5 * time.Second, 2},
		{"past date", func(now time.Time) string { return now.Add(-time.Hour).UTC().Format(http.TimeFormat) }, 0, 2},
		{"malformed uses backoff", func(time.Time) string { return "soon" }, -1, 2},
		{"over the cap", func(time.Time) string { return "120" }, 0, 1},
		{"too large for a Duration", func(time.Time) string { return "99999999999999999999" }, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forPaths(t, func(t *testing.T, path string) {
				var times []time.Time
				f := mustNew(t, onPath(t, path, Options{Retries: 1, Backoff: time.Second, MaxRetryAfter: time.Minute,
					Transport: fakeTransport(func(r *http.Request) (*http.Response, error) {
						now := time.Now()
						times = append(times, now)
						if len(times) == 1 {
							return respond(r, 503, "busy", "Retry-After", tt.header(now)), nil
						}
						return respond(r, 200, "ok"), nil
					})}))
				rec := run(t, f, []string{"http://x/"})[0]
				if rec.Attempts != tt.attempts {
					t.Fatalf("attempts %d, want %d (%s %s)", rec.Attempts, tt.attempts, rec.Error, rec.Message)
				}
				if tt.attempts == 1 {
					if rec.Status != 503 || !strings.Contains(rec.Message, "Retry-After") {
						t.Errorf("record %+v: want status 503 and a message about Retry-After", rec)
					}
					return
				}
				wait := times[1].Sub(times[0])
				if tt.wait >= 0 && wait != tt.wait || tt.wait < 0 && (wait < time.Second/2 || wait > time.Second) {
					t.Errorf("waited %v, want %v", wait, tt.wait)
				}
			})
		})
	}
}

func TestRetryAfterParse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{" 120 ", 2 * time.Minute, true},
		{"Fri, 02 Jan 2026 03:04:15 GMT", 10 * time.Second, true},
		{"Friday, 02-Jan-26 03:04:15 GMT", 10 * time.Second, true},
		{"Fri Jan  2 03:04:15 2026", 10 * time.Second, true},
		{"Thu, 01 Jan 2026 00:00:00 GMT", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"99999999999", math.MaxInt64, true},
		{"99999999999999999999999", math.MaxInt64, true},
		{"+5", 0, false},
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.v, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

// TestBackoff checks the bounds of each wait: doubled from the base, capped
// at the maximum, never more than the cap even after many retries, and
// still doubling when there is no cap.
func TestBackoff(t *testing.T) {
	t.Parallel()
	const s = time.Second
	tests := []struct {
		n         int
		base, max time.Duration
		want      time.Duration // the wait before jitter: it lies in [want/2, want]
	}{
		{1, s, 10 * s, s},
		{2, s, 10 * s, 2 * s},
		{4, s, 10 * s, 8 * s},
		{5, s, 10 * s, 10 * s},
		{1000, s, 10 * s, 10 * s},
		{1, 3 * s, s, s},
		{4, s, 0, 8 * s},
		{100, s, 0, math.MaxInt64},
		{3, 0, 10 * s, 0},
	}
	for _, tt := range tests {
		for range 20 {
			if got := backoff(tt.n, tt.base, tt.max); got < tt.want/2 || got > tt.want {
				t.Errorf("backoff(%d, %v, %v) = %v, want within [%v, %v]", tt.n, tt.base, tt.max, got, tt.want/2, tt.want)
				break
			}
		}
	}
}
