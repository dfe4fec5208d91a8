package selector

import (
	"encoding/base64"
	"runtime"
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
	return Decision{Portfolio: string(p.portfolio), Arm: string(p.arm), IssuedAt: p.issuedAt(), Issuer: p.issuer, Seq: p.seq, Home: string(p.home)}
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
		{"typical", Decision{Portfolio: "support", Arm: "support-friendly", IssuedAt: at, Issuer: 0xdeadbeef12345678, Seq: 1 << 40, Home: "10.244.13.207:8686"}, 120},
		{"no home", Decision{Portfolio: "support", Arm: "support-friendly", IssuedAt: at, Issuer: 2, Seq: 3}, 100},
		{"longest names", Decision{Portfolio: longest, Arm: longest, IssuedAt: at, Issuer: 1, Seq: 1, Home: strings.Repeat("h", maxHomeLen)}, maxTokenChars},
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

// TestTokenVersion2 checks that a token of the version without a home still parses and
// verifies, as one without a home: selectors of an older release issue them during an upgrade.
func TestTokenVersion2(t *testing.T) {
	k := newSigningKey(testKey)
	v3 := string(appendToken(nil, new([]byte), k, Decision{Portfolio: "p", Arm: "a", IssuedAt: time.UnixMilli(5), Issuer: 7, Seq: 9}))
	raw, _ := base64.RawURLEncoding.DecodeString(v3)
	// Version 2 is version 3 without the home's length byte (here 0), signed again.
	v2 := append([]byte{tokenVersionV2}, raw[1:headerSize]...)
	v2 = append(v2, raw[headerSize+1:len(raw)-tagSize]...)
	v2 = k.appendSum(v2, len(v2))[:len(v2)+tagSize]
	p, err := parseFresh(base64.RawURLEncoding.EncodeToString(v2))
	if err != nil {
		t.Fatal(err)
	}
	want := Decision{Portfolio: "p", Arm: "a", IssuedAt: time.UnixMilli(5), Issuer: 7, Seq: 9}
	if got := decisionOf(&p); got != want {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
	if !k.verify(p.signed, p.tag) {
		t.Error("a version 2 tag does not verify")
	}
}

func TestParseTokenRejects(t *testing.T) {
	k := newSigningKey(testKey)
	good := string(appendToken(nil, new([]byte), k, Decision{Portfolio: "p", Arm: "a", IssuedAt: time.UnixMilli(1), Issuer: 1, Seq: 1}))
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
		{"wrong version", mutate(func(b []byte) []byte { b[0] = tokenVersion + 1; return b })},
		{"version 1 (random nonce)", mutate(func(b []byte) []byte { b[0] = 1; return b })},
		{"home length past end", mutate(func(b []byte) []byte { b[headerSize] = 200; return b })},
		{"portfolio length past end", mutate(func(b []byte) []byte { b[headerSize+1] = 200; return b })},
		{"empty portfolio", mutate(func(b []byte) []byte { b[headerSize+1] = 0; return b })},
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
		s := appendToken(nil, new([]byte), newSigningKey(secret), Decision{Portfolio: "p", Arm: "a", IssuedAt: t0, Issuer: 1, Seq: 7})
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
	if !c.firstUse(7, 42, t0.Add(ttl), t0) {
		t.Fatal("first use rejected")
	}
	if c.firstUse(7, 42, t0.Add(ttl), t0.Add(9*time.Minute)) {
		t.Fatal("duplicate accepted")
	}
	for _, other := range []struct{ issuer, seq uint64 }{{7, 43}, {8, 42}, {7, 42 + replayChunkBits}, {7, 1<<64 - 1}} {
		if !c.firstUse(other.issuer, other.seq, t0.Add(ttl), t0) {
			t.Fatalf("decision %d of issuer %d was taken for decision 42 of issuer 7", other.seq, other.issuer)
		}
	}
	if n := c.len(); n != 5 {
		t.Errorf("record holds %d decisions, want 5", n)
	}
	// A chunk stays while any decision recorded in it is still valid.
	if !c.firstUse(7, 44, t0.Add(ttl+time.Hour), t0.Add(time.Minute)) {
		t.Fatal("first use rejected")
	}
	if c.firstUse(7, 42, t0.Add(ttl), t0.Add(time.Hour)) {
		t.Error("a chunk was swept while it held a decision that had not expired")
	}
	// Once every decision of a chunk expired, a later insert into its shard sweeps it.
	t1 := t0.Add(3 * time.Hour)
	for i := range uint64(replayShards * replayChunkBits) {
		c.firstUse(9, i, t1.Add(ttl), t1)
	}
	if n := c.len(); n != replayShards*replayChunkBits {
		t.Errorf("record holds %d decisions, want %d", n, replayShards*replayChunkBits)
	}
	// A swept decision would be accepted again, but it has expired: the handler answers 410 first.
	if !c.firstUse(7, 42, t0.Add(ttl), t1) {
		t.Error("an expired decision outlived its chunk")
	}
}

// TestReplayMemory checks the record's size: about one bit per decision of a busy issuer, and a
// chunk for a lone decision of another issuer.
func TestReplayMemory(t *testing.T) {
	ttl := 10 * time.Minute
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	heapGrowth := func(record func(c *replayCache)) (uint64, *replayCache) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := newReplayCache(ttl)
		record(c)
		runtime.GC()
		runtime.ReadMemStats(&after)
		return after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc), c
	}
	const dense = 1 << 21
	grew, c := heapGrowth(func(c *replayCache) {
		for seq := range uint64(dense) {
			c.firstUse(1, seq, t0.Add(ttl), t0)
		}
	})
	t.Logf("%d decisions of one issuer: %d bytes, %.3f bytes per decision", c.len(), grew, float64(grew)/dense)
	if perDecision := float64(grew) / dense; perDecision > 0.25 {
		t.Errorf("%.3f bytes per decision of a busy issuer, want about 1/8", perDecision)
	}
	const sparse = 20000
	grew, c = heapGrowth(func(c *replayCache) {
		for issuer := range uint64(sparse) {
			c.firstUse(issuer, 7, t0.Add(ttl), t0)
		}
	})
	t.Logf("%d lone decisions of distinct issuers: %d bytes each", c.len(), grew/sparse)
	if each := grew / sparse; each > 300 {
		t.Errorf("%d bytes per lone decision, want about 190", each)
	}
}
