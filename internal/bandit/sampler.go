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
//
// A Rand made by NewRandSeed runs the package's own generator as a concrete
// type, so that the hot path makes no interface calls; a Rand made by
// NewRand reads the given Source through its interface. Both go through the
// same sampling code: given the same stream of words they return the same
// variates.
type Rand struct {
	s stream
	// posts and preps cache the sampling constants of the arms of the last
	// Draw, by position: a Thompson sampler draws again and again from
	// posteriors that change only when feedback arrives, so most arms of a
	// draw reuse their constants (two square roots per arm otherwise).
	posts []Posterior
	preps []Prepared
}

// NewRand returns a Rand that reads its randomness from src.
func NewRand(src rand.Source) *Rand {
	return &Rand{s: stream{src: src}}
}

// NewRandSeed returns a Rand on the package's own xoroshiro128++ generator
// seeded with seed.
func NewRandSeed(seed uint64) *Rand {
	return &Rand{s: stream{gen: newXoro(seed)}}
}

// Gamma returns a Gamma(shape, 1) variate. It returns NaN when shape is not
// finite and positive.
func (r *Rand) Gamma(shape float64) float64 {
	var v float64
	switch {
	case shape >= 1 && shape < math.Inf(1):
		g := newGammaShape(shape)
		v, r.s = gamma(r.s, &g)
		return v
	case shape > 0:
		g := newGammaShape(shape + 1)
		var u float64
		v, r.s = gamma(r.s, &g)
		u, r.s = r.s.uniformOpen()
		return v * math.Exp(math.Log(u)/shape)
	}
	return math.NaN()
}

// largeShapeMax bounds the shapes that Beta variates take by the direct
// product form (see betaM); beyond it, cubes of the candidates could
// overflow, and logarithms are used instead.
const largeShapeMax = 1e100

// Prepared is a posterior with the constants of its two gamma samplers
// computed once (Posterior.Prepare). A caller that draws many times from the
// same posteriors, such as a Thompson-sampling server between updates of the
// counts, can keep a []Prepared and call DrawPrepared, which saves two
// square roots per arm and draw. The zero value is an invalid arm.
type Prepared struct {
	x, y gammaShape
	// invX and invY are 1/shape for a shape below one (x or y then holds
	// the constants of shape+1, see Rand.Gamma), zero otherwise.
	invX, invY float64
	// lnS is ln(sₓ/s_y) for betaLog.
	lnS  float64
	kind preparedKind
}

type preparedKind uint8

const (
	preparedInvalid preparedKind = iota
	preparedLarge                // both shapes in [1, largeShapeMax]
	preparedLog                  // otherwise: compare the gammas in logarithms
)

// large reports whether both shapes of a valid posterior can take the
// direct product form.
func (p Posterior) large() bool {
	return p.Alpha >= 1 && p.Beta >= 1 && p.Alpha <= largeShapeMax && p.Beta <= largeShapeMax
}

// Prepare returns the posterior with its sampling constants computed. An
// invalid posterior (see Valid) gives an arm that DrawPrepared never picks
// and PreparedBeta samples as NaN.
func (p Posterior) Prepare() Prepared {
	var out Prepared
	out.set(p)
	return out
}

// set makes *q the prepared form of p, in place.
func (q *Prepared) set(p Posterior) {
	switch {
	case !p.Valid():
		*q = Prepared{}
	case p.large():
		q.x, q.y = newGammaShape(p.Alpha), newGammaShape(p.Beta)
		q.invX, q.invY, q.lnS, q.kind = 0, 0, 0, preparedLarge
	default:
		q.x, q.invX = boostShape(p.Alpha)
		q.y, q.invY = boostShape(p.Beta)
		q.lnS = math.Log(q.x.s / q.y.s)
		q.kind = preparedLog
	}
}

// PrepareAll returns the prepared form of every arm, appended to dst[:0].
func PrepareAll(dst []Prepared, arms []Posterior) []Prepared {
	dst = dst[:0]
	for _, a := range arms {
		dst = append(dst, a.Prepare())
	}
	return dst
}

// boostShape returns the gamma constants for shape a and zero when a ≥ 1,
// or those of a+1 and 1/a when a < 1.
func boostShape(a float64) (gammaShape, float64) {
	if a >= 1 {
		return newGammaShape(a), 0
	}
	return newGammaShape(a + 1), 1 / a
}

// betaPrepared returns a Beta variate from a prepared posterior, NaN for an
// invalid one.
func betaPrepared(st stream, p *Prepared) (float64, stream) {
	switch p.kind {
	case preparedLarge:
		return betaM(st, &p.x, &p.y)
	case preparedLog:
		return betaLog(st, p)
	}
	return math.NaN(), st
}

// betaLog returns a Beta variate for shapes below one (or beyond
// largeShapeMax) by working in logarithms, so that neither gamma variate
// underflows or overflows: with X = mₓ³/(27sₓ)·Uₓ^(1/a) and likewise Y (no
// U for a shape ≥ 1), ln(Y/X) = 3 ln(m_y/mₓ) + ln(sₓ/s_y) + ln(U_y)/b −
// ln(Uₓ)/a, and the variate is 1/(1 + Y/X). That is one logarithm per
// boosted shape and one for the ratio, and one exponential.
func betaLog(st stream, p *Prepared) (float64, stream) {
	var mx, my, ux, uy float64
	mx, st = gammaM(st, &p.x)
	if p.invX != 0 {
		ux, st = st.uniformOpen()
	}
	my, st = gammaM(st, &p.y)
	if p.invY != 0 {
		uy, st = st.uniformOpen()
	}
	l := 3*math.Log(my/mx) + p.lnS
	if p.invX != 0 {
		l -= math.Log(ux) * p.invX
	}
	if p.invY != 0 {
		l += math.Log(uy) * p.invY
	}
	return 1 / (1 + math.Exp(l)), st
}

// PreparedBeta returns a Beta variate from a prepared posterior; it has the
// distribution of Beta(Alpha, Beta) and is NaN for an invalid arm.
func (r *Rand) PreparedBeta(p *Prepared) float64 {
	var v float64
	v, r.s = betaPrepared(r.s, p)
	return v
}

// Beta returns a Beta(a, b) variate as X/(X+Y) with X ~ Gamma(a) and
// Y ~ Gamma(b). It returns NaN when a or b is not finite and positive.
func (r *Rand) Beta(a, b float64) float64 {
	var v float64
	v, r.s = beta(r.s, Posterior{a, b})
	return v
}

// beta returns a Beta variate from an unprepared posterior; the common case
// computes only the two square roots it needs.
func beta(st stream, p Posterior) (float64, stream) {
	if p.large() {
		gx, gy := newGammaShape(p.Alpha), newGammaShape(p.Beta)
		return betaM(st, &gx, &gy)
	}
	pp := p.Prepare()
	return betaPrepared(st, &pp)
}

// Draw performs one Thompson-sampling step: it draws one Beta variate from
// every arm's posterior and returns the index of the largest. Invalid arms
// (see Posterior.Valid) are never chosen. Draw returns -1 when arms is empty
// or no arm is valid.
//
// Draw keeps the prepared form (Posterior.Prepare) of the arms it was last
// called with, by position, and prepares again only the arms whose
// parameters changed; the draws are the same as without the cache.
func (r *Rand) Draw(arms []Posterior) int {
	if len(arms) > len(r.posts) {
		r.posts = append(r.posts, make([]Posterior, len(arms)-len(r.posts))...)
		r.preps = append(r.preps, make([]Prepared, len(arms)-len(r.preps))...)
	}
	posts, preps := r.posts[:len(arms)], r.preps[:len(arms)]
	for i, arm := range arms {
		// A new slot holds {0, 0}, which is invalid, as is its zero
		// Prepared; a NaN parameter never compares equal and is prepared
		// (as invalid) every time.
		if arm != posts[i] {
			posts[i] = arm
			preps[i].set(arm)
		}
	}
	return r.DrawPrepared(preps)
}

// DrawPrepared is Draw on prepared arms: the same distribution of choices,
// and the same choices as Draw on the posteriors for the same stream.
func (r *Rand) DrawPrepared(arms []Prepared) int {
	st := r.s
	// The argmax runs on bit patterns: for v ≥ 0, the order of
	// Float64bits(v) is the order of v, so key = bits+1 ≥ 1 compares as an
	// integer, with conditional moves instead of a branch that, for close
	// arms, would be mispredicted about as often as the lead changes.
	best, bestKey := -1, uint64(0)
	for i := range arms {
		a := &arms[i]
		var v float64
		switch a.kind {
		case preparedLarge:
			v, st = betaM(st, &a.x, &a.y)
		case preparedLog:
			v, st = betaLog(st, a)
		default:
			continue
		}
		if !(v >= 0) {
			// NaN, from shapes so small (below about 1e-300) that both
			// logarithms overflow: never chosen.
			continue
		}
		key := math.Float64bits(v) + 1
		if key > bestKey {
			best = i
		}
		bestKey = max(bestKey, key)
	}
	r.s = st
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
		return NewRandSeed(SplitMix64(s.seed ^ SplitMix64(n)))
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

// DrawPrepared performs one Thompson-sampling step on prepared arms; see
// Rand.DrawPrepared.
func (s *Sampler) DrawPrepared(arms []Prepared) int {
	r, primary := s.acquire()
	i := r.DrawPrepared(arms)
	s.release(r, primary)
	return i
}

// SplitMix64 is the SplitMix64 output function (finalizer): it derives
// independent seeds from one master seed, turning nearby seeds (1, 2, 3, …)
// into unrelated ones. The sampler pool and the simulation suite both derive
// their seeds with it.
func SplitMix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
