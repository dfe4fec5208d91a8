package selector

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// parseFresh parses s into a buffer of its own.
func parseFresh(s string) (parsedToken, error) {
	return parseToken(new([maxRawToken]byte), []byte(s))
}

// decisionOf returns what p says.
func decisionOf(p *parsedToken) Decision {
	return Decision{Portfolio: string(p.portfolio), Arm: string(p.arm), IssuedAt: p.issuedAt(), Nonce: p.nonce}
}

func TestTokenRoundTrip(t *testing.T) {
	k := newSigningKey(testKey)
	at := time.UnixMilli(1900000000123)
	longest := strings.Repeat("n", maxNameLen)
	tests := []struct {
		name     string
		d        Decision
		maxChars int
	}{
		{"typical", Decision{Portfolio: "support", Arm: "support-friendly", IssuedAt: at, Nonce: 0xdeadbeef12345678}, 100},
		{"longest names", Decision{Portfolio: longest, Arm: longest, IssuedAt: at, Nonce: 1}, maxTokenChars},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := string(appendToken(nil, new([]byte), k, tt.d))
			if len(s) > tt.maxChars {
				t.Errorf("token is %d characters long", len(s))
			}
			p, err := parseFresh(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := decisionOf(&p); got != tt.d {
				t.Errorf("parsed %+v, want %+v", got, tt.d)
			}
			if !k.verify(p.signed, p.tag) {
				t.Error("tag does not verify")
			}
			p.tag[0] ^= 1
			if k.verify(p.signed, p.tag) {
				t.Error("a changed tag verifies")
			}
		})
	}
}

// TestTokenBufferFits checks that the longest token parseToken accepts decodes into its buffer.
func TestTokenBufferFits(t *testing.T) {
	if n := base64.RawURLEncoding.DecodedLen(maxTokenChars); n > maxRawToken {
		t.Errorf("%d characters decode to up to %d bytes, more than maxRawToken = %d", maxTokenChars, n, maxRawToken)
	}
}

func TestParseTokenRejects(t *testing.T) {
	k := newSigningKey(testKey)
	good := string(appendToken(nil, new([]byte), k, Decision{Portfolio: "p", Arm: "a", IssuedAt: time.UnixMilli(1), Nonce: 1}))
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	mutate := func(f func(b []byte) []byte) string {
		b := append([]byte(nil), raw...)
		return base64.RawURLEncoding.EncodeToString(f(b))
	}
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"not base64", "!!!"},
		{"padding", good + "="},
		{"too long", strings.Repeat("A", maxTokenChars+1)},
		{"short", mutate(func(b []byte) []byte { return b[:10] })},
		{"wrong version", mutate(func(b []byte) []byte { b[0] = 2; return b })},
		{"portfolio length past end", mutate(func(b []byte) []byte { b[headerSize] = 200; return b })},
		{"empty portfolio", mutate(func(b []byte) []byte { b[headerSize] = 0; return b })},
		{"trailing byte", mutate(func(b []byte) []byte {
			return append(append(append([]byte(nil), b[:len(b)-tagSize]...), 'x'), b[len(b)-tagSize:]...)
		})},
		{"huge time", mutate(func(b []byte) []byte { b[1] = 0xff; return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseFresh(tt.token); err == nil {
				t.Errorf("parseToken(%q) succeeded", tt.token)
			}
		})
	}
}

func TestKeyringRotation(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	old := []byte(strings.Repeat("o", 32))
	next := []byte(strings.Repeat("n", 32))
	other := []byte(strings.Repeat("x", 32))
	ring := NewKeyring(time.Hour)
	if ring.Ready() {
		t.Fatal("empty keyring is ready")
	}
	if err := ring.Set([]byte("short"), nil, t0); err == nil {
		t.Fatal("short key accepted")
	}
	if err := ring.Set(old, nil, t0); err != nil {
		t.Fatal(err)
	}
	tokenWith := func(secret []byte) parsedToken {
		s := appendToken(nil, new([]byte), newSigningKey(secret), Decision{Portfolio: "p", Arm: "a", IssuedAt: t0, Nonce: 7})
		p, err := parseFresh(string(s))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldTok, nextTok, otherTok := tokenWith(old), tokenWith(next), tokenWith(other)
	if err := ring.Set(next, nil, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tok  parsedToken
		at   time.Time
		ok   bool
	}{
		{"new key", nextTok, t0.Add(2 * time.Minute), true},
		{"old key within grace", oldTok, t0.Add(30 * time.Minute), true},
		{"old key after grace", oldTok, t0.Add(62 * time.Minute), false},
		{"unknown key", otherTok, t0.Add(2 * time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ring.verify(&tt.tok, tt.at)
			if (err == nil) != tt.ok {
				t.Errorf("verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	// A Secret's previous key is accepted from the moment it is seen.
	ring2 := NewKeyring(time.Hour)
	if err := ring2.Set(next, old, t0); err != nil {
		t.Fatal(err)
	}
	if err := ring2.verify(&oldTok, t0.Add(time.Minute)); err != nil {
		t.Errorf("previous key: %v", err)
	}
	// Setting the same keys again does not extend the grace period.
	if err := ring2.Set(next, old, t0.Add(50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := ring2.verify(&oldTok, t0.Add(61*time.Minute)); err == nil {
		t.Error("previous key outlived its grace period")
	}
}

func TestDecodeKey(t *testing.T) {
	raw := []byte(strings.Repeat("k", 40))
	tests := []struct {
		name string
		in   []byte
		want int
		ok   bool
	}{
		{"base64", []byte(base64.StdEncoding.EncodeToString(raw) + "\n"), 40, true},
		{"raw", raw, 40, true},
		{"short", []byte("abc"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := decodeKey(tt.in)
			if (err == nil) != tt.ok || len(k) != tt.want {
				t.Errorf("decodeKey = %d bytes, %v", len(k), err)
			}
		})
	}
}

func TestReplayCache(t *testing.T) {
	ttl := 10 * time.Minute
	c := newReplayCache(ttl)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	key := replayKey{nonce: 42, issuedAtMs: t0.UnixMilli()}
	if !c.firstUse(key, t0.Add(ttl), t0) {
		t.Fatal("first use rejected")
	}
	if c.firstUse(key, t0.Add(ttl), t0.Add(9*time.Minute)) {
		t.Fatal("duplicate accepted")
	}
	later := replayKey{nonce: 42, issuedAtMs: t0.UnixMilli() + 1}
	if !c.firstUse(later, t0.Add(ttl+time.Millisecond), t0) {
		t.Fatal("a decision issued at another time with the same nonce was rejected")
	}
	if n := c.len(); n != 2 {
		t.Errorf("cache holds %d decisions, want 2", n)
	}
	// Once the decisions expired, a later insert into each shard sweeps them.
	t1 := t0.Add(time.Hour)
	for i := range uint64(replayShards) {
		c.firstUse(replayKey{nonce: i, issuedAtMs: t1.UnixMilli()}, t1.Add(ttl), t1)
	}
	if n := c.len(); n != replayShards {
		t.Errorf("cache holds %d decisions, want %d", n, replayShards)
	}
	// A swept decision would be accepted again, but it has expired: the handler answers 410 first.
	if !c.firstUse(key, t0.Add(ttl), t1) {
		t.Error("an expired decision's entry outlived its bucket")
	}
}
