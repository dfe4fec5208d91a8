package selector

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	k := newSigningKey(testKey)
	at := time.UnixMilli(1900000000123)
	d := Decision{Portfolio: "support", Arm: "support-friendly", IssuedAt: at, Nonce: 0xdeadbeef12345678}
	s := string(appendToken(nil, new([]byte), k, d))
	if len(s) > 100 {
		t.Errorf("token is %d characters long", len(s))
	}
	p, err := parseToken(s)
	if err != nil {
		t.Fatal(err)
	}
	if p.Decision != d {
		t.Errorf("parsed %+v, want %+v", p.Decision, d)
	}
	if !k.verify(p.signed, p.tag) {
		t.Error("tag does not verify")
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
			if _, err := parseToken(tt.token); err == nil {
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
		p, err := parseToken(string(s))
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
	d := Decision{Portfolio: "p", Arm: "a", IssuedAt: t0, Nonce: 42}
	if !c.firstUse(&d, t0.Add(ttl), t0) {
		t.Fatal("first use rejected")
	}
	if c.firstUse(&d, t0.Add(ttl), t0.Add(9*time.Minute)) {
		t.Fatal("duplicate accepted")
	}
	other := d
	other.Arm = "b"
	if !c.firstUse(&other, t0.Add(ttl), t0) {
		t.Fatal("a decision for another arm with the same nonce was rejected")
	}
	// Once the decisions expired, a later insert sweeps them.
	late := Decision{Portfolio: "p", Arm: "a", IssuedAt: t0.Add(time.Hour), Nonce: 42 + replayShards}
	for i := range uint64(replayShards) {
		late.Nonce = i
		c.firstUse(&late, late.IssuedAt.Add(ttl), late.IssuedAt)
	}
	if n := c.len(); n != replayShards {
		t.Errorf("cache holds %d decisions, want %d", n, replayShards)
	}
}
