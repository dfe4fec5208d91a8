package mutation

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrorKind classifies a mutator failure. The values are CamelCase so that
// they can serve as condition reasons.
type ErrorKind string

// Kinds of mutator failure.
const (
	// KindTimeout: a call took longer than the per-call timeout, or the
	// provider answered 408. Retried.
	KindTimeout ErrorKind = "Timeout"
	// KindRateLimited: the provider answered 429. Retried, honouring
	// Retry-After.
	KindRateLimited ErrorKind = "RateLimited"
	// KindServer: the provider answered with a 5xx status. Retried,
	// honouring Retry-After.
	KindServer ErrorKind = "ServerError"
	// KindUnreachable: no HTTP response (connection refused, DNS, TLS).
	// Retried.
	KindUnreachable ErrorKind = "Unreachable"
	// KindUnauthorized: the provider answered 401 or 403. Not retried.
	KindUnauthorized ErrorKind = "Unauthorized"
	// KindBadRequest: the provider answered another 4xx status, such as 400
	// for a bad parameter or 404 for an unknown model. Not retried.
	KindBadRequest ErrorKind = "BadRequest"
	// KindBadResponse: the provider answered 2xx with a body that holds no
	// usable prompt (malformed JSON, no choices, empty or truncated text).
	// The mutator moves on to its next call.
	KindBadResponse ErrorKind = "BadResponse"
	// KindCanceled: the caller's context ended; the error wraps
	// context.Canceled or context.DeadlineExceeded. Not retried.
	KindCanceled ErrorKind = "Canceled"
)

// retryable reports whether a failure of this kind may succeed when the same
// call is repeated after a wait.
func (k ErrorKind) retryable() bool {
	switch k {
	case KindTimeout, KindRateLimited, KindServer, KindUnreachable:
		return true
	}
	return false
}

// Error is a mutator failure. Its text is scrubbed of credentials and holds at
// most a short excerpt of what the provider said.
type Error struct {
	// Kind classifies the failure.
	Kind ErrorKind
	// StatusCode is the HTTP status of the last response, or 0 without one.
	StatusCode int
	// Attempts is the number of calls made for the failed variant, retries
	// included.
	Attempts int
	// RetryAfter is the wait the provider asked for in its last response, or
	// 0.
	RetryAfter time.Duration
	// Detail is a scrubbed, trimmed excerpt of the provider's message.
	Detail string

	cause error // only context errors, which hold no secrets
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mutator: ")
	b.WriteString(string(e.Kind))
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Attempts > 0 {
		fmt.Fprintf(&b, " after %d attempt", e.Attempts)
		if e.Attempts > 1 {
			b.WriteString("s")
		}
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the context error behind a KindCanceled failure.
func (e *Error) Unwrap() error { return e.cause }

// KindOf returns the kind of the first *Error in err's chain, or "" when
// there is none.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// maxDetail is the most characters of provider text an error carries.
const maxDetail = 200

// redacted replaces every credential found in provider text.
const redacted = "[REDACTED]"

// credentialREs find things that look like credentials even when they are not
// the configured key: bearer and basic credentials, key-value pairs named like
// keys, and OpenAI-style secret keys.
var credentialREs = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\b(bearer\s+)[^\s"',;]+`),
	regexp.MustCompile(`(?i)\b(basic\s+)[A-Za-z0-9+/=]{8,}`),
	regexp.MustCompile(`(?i)((?:api[-_]?key|token|secret|password)["']?\s*[:=]\s*["']?)[^\s"',;]+`),
	regexp.MustCompile(`\bsk-[A-Za-z0-9_\-]{6,}`),
}

// scrub removes secrets from s, collapses whitespace and trims the result to
// maxDetail characters. Secrets shorter than four bytes are ignored; they
// would redact ordinary words.
func scrub(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	for _, re := range credentialREs {
		s = re.ReplaceAllString(s, "${1}"+redacted)
	}
	return clip(strings.Join(strings.Fields(s), " "), maxDetail)
}

// clip shortens s to at most n characters, marking a cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}
