package selector

import (
	"sync"
	"time"
)

const (
	// replayShards spreads the replay record over independently locked shards.
	replayShards = 64
	// replayChunkBits consecutive decisions of one issuer share a chunk: a bitmap of 128 bytes.
	replayChunkBits = 1024
)

// replayCache remembers the decisions this process accepted until they expire, so that a decision
// is rewarded at most once here. A decision is named by its issuer (a random id per selector
// process) and the issuer's sequence number, so the record is a bitmap per issuer, kept in chunks
// of replayChunkBits decisions: a busy issuer costs about one bit per decision it issued within
// the TTL, whether or not the decision was rewarded here, and a chunk with a single rewarded
// decision costs about 190 bytes.
//
// A chunk is dropped once every decision recorded in it has expired: the handler answers 410 to
// an expired decision before it asks the record, so a dropped chunk can never let a duplicate in.
// Memory is bounded by the decisions issued within one TTL.
type replayCache struct {
	sweepEvery int64 // nanoseconds between sweeps of a shard
	shards     [replayShards]replayShard
}

type replayShard struct {
	mu        sync.Mutex
	chunks    map[replayChunkKey]*replayChunk
	nextSweep int64 // Unix nanoseconds
	size      int
}

type replayChunkKey struct {
	issuer, chunk uint64
}

type replayChunk struct {
	bits [replayChunkBits / 64]uint64
	// expires is the latest expiry (Unix nanoseconds) of the decisions recorded in the chunk.
	expires int64
	count   int
}

// newReplayCache returns a record for decisions that live ttl.
func newReplayCache(ttl time.Duration) *replayCache {
	c := &replayCache{sweepEvery: int64(max(ttl/8, time.Second))}
	for i := range c.shards {
		c.shards[i].chunks = make(map[replayChunkKey]*replayChunk)
	}
	return c
}

// firstUse records the decision seq of issuer and reports whether it was not recorded before.
// expires is the decision's expiry and now the current time; the caller has rejected decisions
// that expired.
func (c *replayCache) firstUse(issuer, seq uint64, expires, now time.Time) bool {
	key := replayChunkKey{issuer: issuer, chunk: seq / replayChunkBits}
	// The multiplier spreads consecutive chunks of one issuer over the shards.
	sh := &c.shards[(issuer^key.chunk*0x9e3779b97f4a7c15)%replayShards]
	nowNs := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if nowNs >= sh.nextSweep {
		for k, ch := range sh.chunks {
			if ch.expires <= nowNs {
				sh.size -= ch.count
				delete(sh.chunks, k)
			}
		}
		sh.nextSweep = nowNs + c.sweepEvery
	}
	ch := sh.chunks[key]
	if ch == nil {
		ch = &replayChunk{}
		sh.chunks[key] = ch
	}
	bit := seq % replayChunkBits
	word, mask := bit/64, uint64(1)<<(bit%64)
	if ch.bits[word]&mask != 0 {
		return false
	}
	ch.bits[word] |= mask
	ch.expires = max(ch.expires, expires.UnixNano())
	ch.count++
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
