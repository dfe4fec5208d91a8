package bandit

import (
	"math/bits"
	"math/rand/v2"
)

// xoro is the xoroshiro128++ generator of Blackman and Vigna: two words of
// state, a period of 2¹²⁸ − 1, and no multiplication, so one word costs a
// handful of single-cycle operations (about half the time of math/rand/v2's
// PCG on the benchmark machine, see BenchmarkGenerator). It is a concrete
// value type so that the hot path makes no interface calls and keeps the
// state in registers. The state must not be all zero; newXoro ensures that.
type xoro struct{ s0, s1 uint64 }

// newXoro seeds a generator from two consecutive SplitMix64 outputs, the
// seeding its authors recommend. SplitMix64 is a bijection of its counter,
// so the two words are different and not both zero.
func newXoro(seed uint64) xoro {
	return xoro{SplitMix64(seed), SplitMix64(seed + 0x9e3779b97f4a7c15)}
}

// next returns the next 64-bit word and the advanced generator.
func (x xoro) next() (uint64, xoro) {
	s0, s1 := x.s0, x.s1
	out := bits.RotateLeft64(s0+s1, 17) + s0
	s1 ^= s0
	x.s0 = bits.RotateLeft64(s0, 49) ^ s1 ^ (s1 << 21)
	x.s1 = bits.RotateLeft64(s1, 28)
	return out, x
}

// Uint64 makes *xoro a rand.Source, for tests that feed the same stream
// through NewRand.
func (x *xoro) Uint64() uint64 {
	var u uint64
	u, *x = x.next()
	return u
}

// stream is where a Rand's words come from: an injected Source when src is
// set, the built-in generator gen otherwise. The sampling functions take a
// stream by value and return the advanced one, which keeps the generator's
// state in registers on the hot path; the test for src is one well-predicted
// branch. (The hot sites spell next out by hand: a method with an interface
// call in it is over the compiler's inlining budget.)
type stream struct {
	gen xoro
	src rand.Source
}

// next returns the next 64-bit random word and the advanced stream.
func (s stream) next() (uint64, stream) {
	if s.src != nil {
		return s.src.Uint64(), s
	}
	var u uint64
	u, s.gen = s.gen.next()
	return u, s
}

// toOpen maps the top 52 bits of a word to the open interval (0, 1): the
// values (j + ½)·2⁻⁵², j = 0 … 2⁵²−1, each exact in float64. The grid is
// symmetric about ½, so 1 − u has exactly the distribution of u.
func toOpen(u uint64) float64 {
	return (float64(u>>12) + 0.5) * (1.0 / (1 << 52))
}

// uniformOpen returns a uniform variate in (0, 1) (see toOpen) and the
// advanced stream.
func (s stream) uniformOpen() (float64, stream) {
	u, s := s.next()
	return toOpen(u), s
}
