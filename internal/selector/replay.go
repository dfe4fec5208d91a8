package selector

import (
	"sync"
	"time"
)

// replayShards spreads the replay cache over independently locked shards.
const replayShards = 64

// replayCache remembers the decisions this process accepted until they expire, so that a decision
// is rewarded at most once here. Entries live in buckets keyed by the decision's expiry time; a
// bucket is dropped as a whole once every decision in it has expired, so memory is bounded by the
// rewards accepted within one TTL plus one bucket width.
type replayCache struct {
	width  time.Duration
	shards [replayShards]replayShard
}

type replayShard struct {
	mu        sync.Mutex
	buckets   map[int64]map[replayKey]struct{}
	lastSweep int64
	size      int
}

// replayKey identifies a decision: its nonce and issue time. The portfolio and arm are not part of
// it: the tag binds them to the nonce, and the selector draws nonces at random from 64 bits.
type replayKey struct {
	nonce      uint64
	issuedAtMs int64 // Unix milliseconds
}

// newReplayCache returns a cache for decisions that live ttl.
func newReplayCache(ttl time.Duration) *replayCache {
	w := max(ttl/8, time.Second)
	c := &replayCache{width: w}
	for i := range c.shards {
		c.shards[i].buckets = make(map[int64]map[replayKey]struct{})
	}
	return c
}

// firstUse records the decision key and reports whether it was not recorded before. expires is
// the decision's expiry and now the current time; decisions that expired are never recorded.
func (c *replayCache) firstUse(key replayKey, expires, now time.Time) bool {
	sh := &c.shards[key.nonce%replayShards]
	bucket := expires.UnixNano() / int64(c.width)
	nowBucket := now.UnixNano() / int64(c.width)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.lastSweep != nowBucket {
		for b, m := range sh.buckets {
			if b < nowBucket {
				sh.size -= len(m)
				delete(sh.buckets, b)
			}
		}
		sh.lastSweep = nowBucket
	}
	m := sh.buckets[bucket]
	if m == nil {
		m = make(map[replayKey]struct{})
		sh.buckets[bucket] = m
	}
	// One assignment both looks the key up and records it: the map grows only for a new key.
	n := len(m)
	m[key] = struct{}{}
	if len(m) == n {
		return false
	}
	sh.size++
	return true
}

// len returns the number of remembered decisions.
func (c *replayCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.size
		sh.mu.Unlock()
	}
	return n
}
