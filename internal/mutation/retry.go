package mutation

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff computes waits between attempts of one call.
type backoff struct {
	// initial is the wait before the first retry, before jitter.
	initial time.Duration
	// max caps every wait. A Retry-After beyond it ends the retries instead
	// of being shortened, since an early retry would only be refused again.
	max time.Duration
}

// delay returns the wait before retry number attempt (0 for the first retry):
// initial·2^attempt capped at max, with "equal jitter" — half of it fixed and
// half drawn uniformly with u in [0, 1) — so that many clients retrying
// together spread out while each still waits at least half the nominal time.
func (b backoff) delay(attempt int, u float64) time.Duration {
	d := b.initial
	for i := 0; i < attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	return d/2 + time.Duration(u*float64(d/2))
}

// wait combines the jittered backoff with the provider's Retry-After: the
// longer of the two, so the provider's request is always honoured. ok is
// false when Retry-After exceeds the cap.
func (b backoff) wait(attempt int, retryAfter time.Duration, u float64) (d time.Duration, ok bool) {
	if retryAfter > b.max {
		return 0, false
	}
	return max(b.delay(attempt, u), retryAfter), true
}

// parseRetryAfter reads a Retry-After header value, which is either a number
// of seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past means no
// wait. ok is false for an absent or unreadable value.
func parseRetryAfter(value string, now time.Time) (d time.Duration, ok bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Cap absurd values before converting so the product cannot overflow.
		const maxSecs = int64(365 * 24 * time.Hour / time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	if at, err := http.ParseTime(value); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// retryAfterFrom returns the wait asked for by the Retry-After header in h,
// or 0.
func retryAfterFrom(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	d, _ := parseRetryAfter(h.Get("Retry-After"), now)
	return d
}

// sleepContext waits for d or until ctx ends, whichever is first.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jitter draws from the process-wide random source, which is safe for
// concurrent use.
func jitter() float64 { return rand.Float64() }
