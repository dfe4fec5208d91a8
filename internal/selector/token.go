package selector

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// A decision token names the portfolio and arm a draw served, when, which decision it was and
// which selector may count its reward (its home), signed with the portfolio's key. It travels as
// base64url (no padding) of
//
//	version (1 byte, 3) | issued-at (8 bytes, Unix milliseconds, big endian) |
//	issuer (8 bytes) | sequence (8 bytes) | len(home) (1 byte) | home |
//	len(portfolio) (1 byte) | portfolio | len(arm) (1 byte) | arm | tag (16 bytes)
//
// where tag is HMAC-SHA256 over everything before it, truncated to 128 bits. The issuer is drawn
// at random when a selector process starts and the sequence counts its decisions, so the pair
// names one decision, and a selector remembers the rewarded ones in one bit each (replay.go). The
// home is the issuing selector's advertised host:port, or empty when it advertises none: a
// selector that receives the reward of a decision with another home forwards it there, so that
// one record decides whether a decision was rewarded (home.go). Version 2 tokens, written before
// the home was added, have no home field and are read as tokens without a home. A typical token
// is about 110 characters long.
const (
	tokenVersion   = 3
	tokenVersionV2 = 2
	tagSize        = 16
	headerSize     = 1 + 8 + 8 + 8
	maxNameLen     = 253
	// maxHomeLen bounds an advertised host:port.
	maxHomeLen    = 255
	maxRawToken   = headerSize + 1 + maxHomeLen + 2 + 2*maxNameLen + tagSize
	maxTokenChars = (maxRawToken*8 + 5) / 6
	// MinKeyBytes is the shortest signing key accepted.
	MinKeyBytes = 32
)

// Decision is what a verified decision token says.
type Decision struct {
	Portfolio string
	Arm       string
	IssuedAt  time.Time
	// Issuer names the selector process that issued the decision, at random per process start.
	Issuer uint64
	// Seq numbers the issuer's decisions.
	Seq uint64
	// Home is the advertised host:port of the issuing selector, the one that counts the
	// decision's reward; empty when it advertises none.
	Home string
}

// Token errors; handlers map them to HTTP answers.
var (
	errMalformedToken = errors.New("malformed decision token")
	errBadSignature   = errors.New("decision token signature does not match")
)

// parsedToken is a decoded, not yet verified, token. Its slices point into the buffer it was
// decoded into, so that parsing allocates nothing.
type parsedToken struct {
	portfolio, arm []byte
	home           []byte // empty when the token names no home
	issuedAtMs     int64  // Unix milliseconds
	issuer, seq    uint64
	signed, tag    []byte // the bytes the tag covers, and the tag
}

// issuedAt returns when the token was issued.
func (p *parsedToken) issuedAt() time.Time {
	return time.UnixMilli(p.issuedAtMs)
}

// parseToken decodes the base64url token s into buf without verifying its tag; the result points
// into buf and is valid until buf is reused. It never panics on any input.
func parseToken(buf *[maxRawToken]byte, s []byte) (parsedToken, error) {
	var p parsedToken
	// maxTokenChars characters decode to at most maxRawToken bytes, so buf is large enough.
	if len(s) == 0 || len(s) > maxTokenChars {
		return p, errMalformedToken
	}
	n, err := base64.RawURLEncoding.Decode(buf[:], s)
	raw := buf[:n]
	if err != nil || len(raw) < headerSize+2+tagSize || (raw[0] != tokenVersion && raw[0] != tokenVersionV2) {
		return p, errMalformedToken
	}
	body := raw[:len(raw)-tagSize]
	rest := body[headerSize:]
	var home []byte
	if raw[0] == tokenVersion {
		n := int(rest[0])
		if n > len(rest)-1 {
			return p, errMalformedToken
		}
		home, rest = rest[1:1+n], rest[1+n:]
	}
	portfolio, rest, ok := cutName(rest)
	if !ok {
		return p, errMalformedToken
	}
	arm, rest, ok := cutName(rest)
	if !ok || len(rest) != 0 {
		return p, errMalformedToken
	}
	ms := binary.BigEndian.Uint64(raw[1:9])
	if ms > 1<<53 {
		return p, errMalformedToken
	}
	p.portfolio, p.arm, p.home = portfolio, arm, home
	p.issuedAtMs = int64(ms)
	p.issuer = binary.BigEndian.Uint64(raw[9:17])
	p.seq = binary.BigEndian.Uint64(raw[17:25])
	p.signed, p.tag = body, raw[len(body):]
	return p, nil
}

// cutName splits a length-prefixed, non-empty name off b.
func cutName(b []byte) (name, rest []byte, ok bool) {
	if len(b) < 1 {
		return nil, nil, false
	}
	n := int(b[0])
	if n == 0 || n > len(b)-1 {
		return nil, nil, false
	}
	return b[1 : 1+n], b[1+n:], true
}

// appendToken appends the encoded, signed token for d to dst, using scratch for the raw bytes.
func appendToken(dst []byte, scratch *[]byte, k *signingKey, d Decision) []byte {
	raw := (*scratch)[:0]
	raw = append(raw, tokenVersion)
	raw = binary.BigEndian.AppendUint64(raw, uint64(d.IssuedAt.UnixMilli()))
	raw = binary.BigEndian.AppendUint64(raw, d.Issuer)
	raw = binary.BigEndian.AppendUint64(raw, d.Seq)
	raw = append(raw, byte(len(d.Home)))
	raw = append(raw, d.Home...)
	raw = append(raw, byte(len(d.Portfolio)))
	raw = append(raw, d.Portfolio...)
	raw = append(raw, byte(len(d.Arm)))
	raw = append(raw, d.Arm...)
	n := len(raw)
	raw = k.appendSum(raw, n)
	raw = raw[:n+tagSize]
	*scratch = raw
	return base64.RawURLEncoding.AppendEncode(dst, raw)
}

// signingKey is one HMAC key with a pool of hash states.
type signingKey struct {
	secret []byte
	pool   sync.Pool // of *macState
}

// macState is a pooled HMAC state with room for one sum. The sum lives with the state because a
// slice passed to a hash.Hash escapes: a sum on the stack would be moved to the heap.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// appendMAC appends the full HMAC of msg to dst.
func (s *macState) appendMAC(dst, msg []byte) []byte {
	s.h.Reset()
	s.h.Write(msg)
	return s.h.Sum(dst)
}

func newSigningKey(secret []byte) *signingKey {
	k := &signingKey{secret: bytes.Clone(secret)}
	k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, k.secret)} }
	return k
}

// appendSum appends the full HMAC of b[:n] to b.
func (k *signingKey) appendSum(b []byte, n int) []byte {
	s := k.pool.Get().(*macState)
	b = s.appendMAC(b, b[:n])
	k.pool.Put(s)
	return b
}

// verify reports whether tag is the tag of msg under k, in constant time. It allocates nothing.
func (k *signingKey) verify(msg, tag []byte) bool {
	s := k.pool.Get().(*macState)
	ok := hmac.Equal(s.appendMAC(s.sum[:0], msg)[:tagSize], tag)
	k.pool.Put(s)
	return ok
}

// Keyring holds the key that signs new decisions and the keys that still verify them. A key that
// is replaced keeps verifying for a grace period after the Keyring learned of the replacement. A
// Keyring is safe for concurrent use; reads take no lock.
type Keyring struct {
	grace time.Duration
	mu    sync.Mutex // serialises writers
	set   atomic.Pointer[keySet]
}

type keySet struct {
	current *signingKey
	retired []retiredKey
}

type retiredKey struct {
	key      *signingKey
	notAfter time.Time
}

// NewKeyring returns an empty Keyring whose replaced keys verify for grace.
func NewKeyring(grace time.Duration) *Keyring {
	return &Keyring{grace: grace}
}

// Ready reports whether the Keyring has a signing key.
func (r *Keyring) Ready() bool {
	s := r.set.Load()
	return s != nil && s.current != nil
}

// Set makes current the signing key. previous, when given, is a key that was replaced recently
// (a Secret's previous key): it verifies until grace after now unless it is already known. A
// replaced signing key verifies until grace after now. Set rejects keys shorter than MinKeyBytes.
func (r *Keyring) Set(current, previous []byte, now time.Time) error {
	if len(current) < MinKeyBytes || (previous != nil && len(previous) < MinKeyBytes) {
		return errors.New("decision keys must be at least 32 bytes long")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.set.Load()
	next := &keySet{}
	if old != nil && old.current != nil && bytes.Equal(old.current.secret, current) {
		next.current = old.current
	} else {
		next.current = newSigningKey(current)
	}
	known := func(secret []byte) bool {
		for _, k := range next.retired {
			if bytes.Equal(k.key.secret, secret) {
				return true
			}
		}
		return bytes.Equal(next.current.secret, secret)
	}
	if old != nil {
		for _, k := range old.retired {
			if now.Before(k.notAfter) && !known(k.key.secret) {
				next.retired = append(next.retired, k)
			}
		}
		if old.current != nil && !known(old.current.secret) {
			next.retired = append(next.retired, retiredKey{old.current, now.Add(r.grace)})
		}
	}
	if previous != nil && !known(previous) {
		next.retired = append(next.retired, retiredKey{newSigningKey(previous), now.Add(r.grace)})
	}
	r.set.Store(next)
	return nil
}

// signer returns the current signing key, or nil.
func (r *Keyring) signer() *signingKey {
	if s := r.set.Load(); s != nil {
		return s.current
	}
	return nil
}

// verify checks p's tag against the current key and the retired keys still in their grace period.
func (r *Keyring) verify(p *parsedToken, now time.Time) error {
	s := r.set.Load()
	if s == nil || s.current == nil {
		return errBadSignature
	}
	if s.current.verify(p.signed, p.tag) {
		return nil
	}
	for _, k := range s.retired {
		if now.Before(k.notAfter) && k.key.verify(p.signed, p.tag) {
			return nil
		}
	}
	return errBadSignature
}
