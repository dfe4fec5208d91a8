package bandit

import "math"

// Standard normal variates by the ziggurat method of Marsaglia and Tsang.
//
// The area under f(x) = exp(−x²/2), x ≥ 0, is cut into zigLayers horizontal
// strips of equal area v. Strip 0 is the base: the rectangle [0, r]×[0, f(r)]
// together with the tail beyond r; it is treated as a rectangle of the
// virtual width x₀ = v/f(r). Strip i ≥ 1 is the rectangle [0, xᵢ]×[f(xᵢ),
// f(xᵢ₊₁)], with x₁ = r, xᵢ₊₁ = f⁻¹(f(xᵢ) + v/xᵢ) and x_N = 0 at the top, so
// that every strip has area v. The tables are solved for at package
// initialisation (zigSolve): r is the value for which the chain of strips
// closes exactly at f(0) = 1.
//
// A variate picks a strip i uniformly and a point x uniformly in [0, xᵢ).
// When x < xᵢ₊₁ the whole column above x inside the strip lies under the
// curve and x is accepted at once; that happens about 99% of the time and
// costs one random word, one table load, one comparison and one
// multiplication. Otherwise the strip's wedge is tested with a uniform
// height (strips ≥ 1), or the tail beyond r is sampled exactly by
// Marsaglia's exponential method (strip 0). A random bit gives the sign.
//
// Word layout: bits 0–7 pick the strip, bit 8 is the sign, bits 11–63 are
// the 53-bit position. The position test is made on the integer: kᵢ =
// ⌊2⁵³·xᵢ₊₁/xᵢ⌋, so j < kᵢ implies j·xᵢ/2⁵³ < xᵢ₊₁ and only points that
// truly lie under the curve take the fast path; the rest go to the exact
// wedge test, which accepts or rejects every point of the strip correctly.

const zigLayers = 256

// zig holds the ziggurat tables. zigK is a copy of its k, and zigWS its w
// twice over, negated in the upper half, so that bits 0–8 of a word index
// the signed scale directly; plain arrays, so the hot path indexes them
// without a pointer.
var (
	zig   = zigSolve()
	zigK  = zig.k
	zigWS = signedScales(&zig.w)
)

func signedScales(w *[zigLayers]float64) (out [2 * zigLayers]float64) {
	for i, v := range w {
		out[i], out[i+zigLayers] = v, -v
	}
	return out
}

type zigTables struct {
	// k[i] is ⌊2⁵³·x[i+1]/x[i]⌋, the fast-acceptance bound for strip i.
	k [zigLayers]uint64
	// w[i] is x[i]/2⁵³, which maps a 53-bit integer onto [0, x[i]).
	w [zigLayers]float64
	// x[i] are the strips' right edges (x[0] virtual, x[1] = r, x[N] = 0);
	// f[i] = exp(−x[i]²/2).
	x, f [zigLayers + 1]float64
	// r is the start of the tail.
	r float64
}

// zigChain builds the strip edges for a tail start r and reports by how much
// the top strip's upper edge misses f(0) = 1: positive when the strips are
// too tall (r too small), negative when they are too short.
func zigChain(r float64, t *zigTables) float64 {
	f := func(x float64) float64 { return math.Exp(-0.5 * x * x) }
	v := r*f(r) + math.Sqrt(math.Pi/2)*math.Erfc(r/math.Sqrt2)
	t.r = r
	t.x[0], t.f[0] = v/f(r), 0
	t.x[1], t.f[1] = r, f(r)
	for i := 1; i < zigLayers-1; i++ {
		top := t.f[i] + v/t.x[i]
		if top >= 1 {
			return top - 1 + float64(zigLayers-1-i) // overshot early: far too tall
		}
		t.x[i+1] = math.Sqrt(-2 * math.Log(top))
		t.f[i+1] = top
	}
	t.x[zigLayers], t.f[zigLayers] = 0, 1
	return t.f[zigLayers-1] + v/t.x[zigLayers-1] - 1
}

// zigSolve finds the tail start r by bisection (the top strip's miss
// decreases as r grows) and fills in the tables.
func zigSolve() *zigTables {
	t := new(zigTables)
	lo, hi := 2.0, 6.0
	for range 200 {
		mid := 0.5 * (lo + hi)
		if mid == lo || mid == hi {
			break
		}
		if zigChain(mid, t) > 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	// Use the side whose strips are not taller than v allows, so that the
	// top strip's area stays at most v (its miss is a rounding-level
	// difference either way).
	zigChain(hi, t)
	for i := range zigLayers {
		t.k[i] = uint64(math.Ldexp(t.x[i+1]/t.x[i], 53))
		t.w[i] = math.Ldexp(t.x[i], -53)
	}
	return t
}

// normal returns a standard normal variate from stream s and the advanced
// stream. gammaM and betaM spell this loop out on the built-in generator.
func normal(s stream) (float64, stream) {
	for {
		var u uint64
		u, s = s.next()
		x, fast := zigFast(u)
		if !fast {
			var ok bool
			if x, ok, s = zigSlow(s, u, x); !ok {
				continue
			}
		}
		return x, s
	}
}

// zigFast maps a word u to a signed point x of its strip (signed by bit 8)
// and reports whether x passes the fast test; otherwise zigSlow decides it.
// It is small enough to be inlined into the hot loops.
func zigFast(u uint64) (x float64, ok bool) {
	j := u >> 11
	return float64(j) * zigWS[u&(2*zigLayers-1)], j < zigK[u&(zigLayers-1)]
}

// zigSlow decides a signed point x that missed the fast test, in the strip
// picked by the low bits of its word u, and returns the accepted variate. For the base strip, a point beyond r stands for the
// tail, which is sampled exactly by Marsaglia's method (r + E₁/r conditioned
// on 2E₂ > (E₁/r)², with E₁, E₂ standard exponentials). For the other strips
// x is accepted when a uniform height in the strip falls under the curve.
func zigSlow(s stream, u uint64, x float64) (float64, bool, stream) {
	t, i := zig, u&(zigLayers-1)
	var u1, u2 float64
	if i == 0 {
		if math.Abs(x) < t.r {
			return x, true, s
		}
		for {
			u1, s = s.uniformOpen()
			u2, s = s.uniformOpen()
			e1 := -math.Log(u1) / t.r
			e2 := -math.Log(u2)
			if e2+e2 > e1*e1 {
				return math.Copysign(t.r+e1, x), true, s
			}
		}
	}
	u1, s = s.uniformOpen()
	y := t.f[i] + u1*(t.f[i+1]-t.f[i])
	return x, y < math.Exp(-0.5*x*x), s
}
