//go:build !race

// The race detector makes sync.Pool drop objects at random, so allocations are counted without it.

package selector

import (
	"testing"
	"time"
)

// TestRewardDecodingAllocs checks that decoding a reward body and parsing and verifying its token
// allocate nothing.
func TestRewardDecodingAllocs(t *testing.T) {
	ring := NewKeyring(time.Hour)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := ring.Set(testKey, nil, t0); err != nil {
		t.Fatal(err)
	}
	tok := appendToken(nil, new([]byte), newSigningKey(testKey), Decision{Portfolio: "pf", Arm: "pf-a", IssuedAt: t0, Issuer: 1, Seq: 3})
	body := rewardBody(string(tok), true)
	buf := new([maxRawToken]byte)
	allocs := testing.AllocsPerRun(100, func() {
		decision, _, problem := decodeReward(body)
		p, err := parseToken(buf, decision)
		if problem != "" || err != nil || ring.verify(&p, t0) != nil {
			t.Fatalf("decoding %s: %q, %v", body, problem, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per reward body", allocs)
	}
}
