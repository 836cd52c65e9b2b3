package fetcher

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff returns how long to wait before retry number n (1 for the first
// retry): base doubled n-1 times, capped at max (no cap if max <= 0), with
// "equal jitter": half of it fixed and half random, so that clients that
// failed together do not retry together, yet none retries at once.
func backoff(n int, base, max time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	if max <= 0 {
		max = math.MaxInt64
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		if d > max/2 {
			d = max
			break
		}
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryStatus reports whether a response with this status is worth
// retrying: too many requests, request timeout, and server errors.
func retryStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500 && code <= 599
}

// retryAfter parses a Retry-After header value: a number of seconds or an
// HTTP date. It reports false if the value is absent or malformed; a date
// in the past means no wait, and a number too large for a Duration means
// the longest one.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if secs > math.MaxInt64/uint64(time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
