package mutation

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC) // Sun, 01 Mar 2026 12:00:00 GMT
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"-3", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999", 365 * 24 * time.Hour, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Sunday, 01-Mar-26 12:00:05 GMT", 5 * time.Second, true}, // RFC 850, still accepted by HTTP
		{"Sun Mar  1 12:01:00 2026", time.Minute, true},           // asctime
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.value, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	b := backoff{initial: time.Second, max: 10 * time.Second}
	tests := []struct {
		attempt  int
		u        float64
		want     time.Duration
		wantNote string
	}{
		{0, 0, 500 * time.Millisecond, "half the nominal wait at the low end"},
		{0, 0.5, 750 * time.Millisecond, ""},
		{1, 0, time.Second, "doubles"},
		{2, 0.999999999, 4 * time.Second, "just below the nominal wait at the high end"},
		{3, 0, 4 * time.Second, ""},
		{4, 0, 5 * time.Second, "capped at max"},
		{60, 0.5, 7500 * time.Millisecond, "no overflow for large attempts"},
	}
	for _, tt := range tests {
		got := b.delay(tt.attempt, tt.u)
		if diff := got - tt.want; diff < -time.Millisecond || diff > time.Millisecond {
			t.Errorf("delay(%d, %v) = %v, want %v (%s)", tt.attempt, tt.u, got, tt.want, tt.wantNote)
		}
	}
}

func TestBackoffWait(t *testing.T) {
	b := backoff{initial: time.Second, max: time.Minute}
	tests := []struct {
		name       string
		attempt    int
		retryAfter time.Duration
		want       time.Duration
		wantOK     bool
	}{
		{"no Retry-After uses the backoff", 2, 0, 2 * time.Second, true},
		{"Retry-After longer than the backoff wins", 0, 20 * time.Second, 20 * time.Second, true},
		{"backoff longer than Retry-After wins", 5, time.Second, 16 * time.Second, true},
		{"Retry-After at the cap is honoured", 0, time.Minute, time.Minute, true},
		{"Retry-After beyond the cap gives up", 0, time.Minute + time.Second, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := b.wait(tt.attempt, tt.retryAfter, 0)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("wait = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	const key = "sk-proj-0123456789abcdefSECRET"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"configured key", "invalid key " + key + " given", "invalid key [REDACTED] given"},
		{"bearer header", "Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED]"},
		{"basic header", "authorization: Basic dXNlcjpwYXNz", "authorization: Basic [REDACTED]"},
		{"bearer alone", "got bearer xyz123", "got bearer [REDACTED]"},
		{"json api key", `{"api_key": "hunter22"}`, `{"api_key": "[REDACTED]"}`},
		{"openai-style key not configured", "key sk-abcdefghij was revoked", "key [REDACTED] was revoked"},
		{"whitespace collapsed", "a\n\n  b\tc", "a b c"},
		{"short secrets ignored", "the cat", "the cat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scrub(tt.in, key, "cat"); got != tt.want {
				t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	long := scrub(strings.Repeat("x", 5000) + key)
	if n := len([]rune(long)); n > maxDetail {
		t.Errorf("scrub kept %d characters, want at most %d", n, maxDetail)
	}
	// A key at the cut must be redacted before trimming, not half shown.
	cut := scrub(strings.Repeat("y ", maxDetail/2-5)+key, key)
	if strings.Contains(cut, "sk-proj") {
		t.Errorf("a trimmed message shows part of the key: %q", cut)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "5", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %v, %v", s, d, ok)
		}
	})
}
