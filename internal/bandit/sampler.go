package bandit

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Rand draws Beta variates and Thompson samples from one random source.
// A Rand is not safe for concurrent use; give each goroutine its own, or use
// a Sampler.
type Rand struct {
	rng *rand.Rand
}

// NewRand returns a Rand that reads its randomness from src.
func NewRand(src rand.Source) *Rand {
	return &Rand{rng: rand.New(src)}
}

// NewRandSeed returns a Rand on a PCG generator seeded with seed.
func NewRandSeed(seed uint64) *Rand {
	return NewRand(rand.NewPCG(seed, splitmix64(seed)))
}

// uniformOpen returns a uniform variate in the open interval (0, 1).
func (r *Rand) uniformOpen() float64 {
	return (float64(r.rng.Uint64()>>11) + 0.5) * (1.0 / (1 << 53))
}

// Gamma returns a Gamma(shape, 1) variate. It returns NaN when shape is not
// finite and positive.
func (r *Rand) Gamma(shape float64) float64 {
	switch {
	case shape >= 1 && shape < math.Inf(1):
		return r.gammaAtLeastOne(shape)
	case shape > 0:
		return math.Exp(r.logGammaBelowOne(shape))
	}
	return math.NaN()
}

// gammaAtLeastOne is the Marsaglia–Tsang squeeze-and-reject method for
// shape ≥ 1.
func (r *Rand) gammaAtLeastOne(shape float64) float64 {
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.uniformOpen()
		x2 := x * x
		if u < 1-0.0331*x2*x2 {
			return d * v
		}
		if math.Log(u) < 0.5*x2+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// logGammaBelowOne returns the logarithm of a Gamma(shape, 1) variate for
// 0 < shape < 1, using Gamma(shape) = Gamma(shape+1)·U^(1/shape). Working in
// logarithms keeps tiny shapes from underflowing to zero.
func (r *Rand) logGammaBelowOne(shape float64) float64 {
	return math.Log(r.gammaAtLeastOne(shape+1)) + math.Log(r.uniformOpen())/shape
}

// Beta returns a Beta(a, b) variate as X/(X+Y) with X ~ Gamma(a) and
// Y ~ Gamma(b). It returns NaN when a or b is not finite and positive.
func (r *Rand) Beta(a, b float64) float64 {
	if a >= 1 && b >= 1 && a < math.Inf(1) && b < math.Inf(1) {
		x := r.gammaAtLeastOne(a)
		y := r.gammaAtLeastOne(b)
		return x / (x + y)
	}
	if !(a > 0 && b > 0 && a < math.Inf(1) && b < math.Inf(1)) {
		return math.NaN()
	}
	// A shape below one: compare the gammas by their logarithms so that
	// neither underflows, then return 1/(1+Y/X).
	lx, ly := r.logGamma(a), r.logGamma(b)
	return 1 / (1 + math.Exp(ly-lx))
}

// logGamma returns the logarithm of a Gamma(shape, 1) variate, shape > 0.
func (r *Rand) logGamma(shape float64) float64 {
	if shape >= 1 {
		return math.Log(r.gammaAtLeastOne(shape))
	}
	return r.logGammaBelowOne(shape)
}

// Draw performs one Thompson-sampling step: it draws one Beta variate from
// every arm's posterior and returns the index of the largest. Invalid arms
// (see Posterior.Valid) are never chosen. Draw returns -1 when arms is empty
// or no arm is valid.
func (r *Rand) Draw(arms []Posterior) int {
	best, bestValue := -1, math.Inf(-1)
	for i, arm := range arms {
		v := r.Beta(arm.Alpha, arm.Beta)
		if v > bestValue { // NaN never compares greater
			best, bestValue = i, v
		}
	}
	return best
}

// Sampler is a Thompson sampler that is safe for concurrent use.
//
// Draws made from one goroutine at a time are a deterministic function of
// the seed. Concurrent callers never wait for each other: a caller that
// finds the seeded generator busy takes a private generator from a pool;
// pooled generators are seeded from the master seed and a counter, so no two
// generators of one Sampler share a stream.
type Sampler struct {
	primaryMu sync.Mutex
	primary   *Rand
	seed      uint64
	spawned   atomic.Uint64
	pool      sync.Pool
}

// NewSampler returns a Sampler whose draws are determined by seed.
func NewSampler(seed uint64) *Sampler {
	s := &Sampler{primary: NewRandSeed(seed), seed: seed}
	s.pool.New = func() any {
		n := s.spawned.Add(1)
		return NewRandSeed(splitmix64(s.seed ^ splitmix64(n)))
	}
	return s
}

// acquire returns a generator that no other goroutine uses until release.
func (s *Sampler) acquire() (r *Rand, primary bool) {
	if s.primaryMu.TryLock() {
		return s.primary, true
	}
	return s.pool.Get().(*Rand), false
}

func (s *Sampler) release(r *Rand, primary bool) {
	if primary {
		s.primaryMu.Unlock()
		return
	}
	s.pool.Put(r)
}

// Beta returns a Beta(a, b) variate; see Rand.Beta.
func (s *Sampler) Beta(a, b float64) float64 {
	r, primary := s.acquire()
	v := r.Beta(a, b)
	s.release(r, primary)
	return v
}

// Draw performs one Thompson-sampling step; see Rand.Draw.
func (s *Sampler) Draw(arms []Posterior) int {
	r, primary := s.acquire()
	i := r.Draw(arms)
	s.release(r, primary)
	return i
}

// splitmix64 is the SplitMix64 output function, used to derive independent
// seeds from one master seed.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
