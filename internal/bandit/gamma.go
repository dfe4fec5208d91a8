package bandit

import "math"

// Gamma variates by the method of Marsaglia and Tsang, for a shape a ≥ 1.
//
// With d = a − 1/3, x standard normal, w = 1 + x/√(9d) and v = w³, the
// candidate d·v is accepted when ln u < x²/2 + d(1 − v + ln v) for a uniform
// u; accepted values are exactly Gamma(a) distributed. Shapes below one are
// boosted: Gamma(a) = Gamma(a+1)·U^(1/a).
//
// The arithmetic is arranged so that a draw needs no division and no square
// root once the shape's constants are known, and a logarithm only rarely.
//
// Scaling. With s = √d and m = 3s + x = 3s·w, the candidate is
// d·v = m³/(27s), and a Beta variate X/(X+Y) from two candidates mₓ, m_y is
// mₓ³·s_y / (mₓ³·s_y + m_y³·sₓ): one division per Beta variate. The only
// per-shape constant a plain draw needs is the square root s.
//
// Squeeze. Write t = x/(3s), so w = 1 + t and the right-hand side of the test
// is d·φ(t) with φ(t) = 1 − (1+t)³ + 3 ln(1+t) + 9t²/2. Then φ(0) = 0 and
// φ′(t) = −3t³/(1+t). Bounding 1/(1+σ) under the integral gives
// φ(t) ≥ −(3/4)t⁴ for t ≥ 0, and φ(t) ≥ −(3/4)t⁴ − (3/5)|t|⁵/(1+t) for
// −1 < t < 0; so for both signs, with q = (3/4)·d·t⁴ = x⁴/(108d),
// d·φ(t) ≥ −q·(1 + 0.8|t|/w). Since ln u ≤ u − 1, the candidate is certainly
// accepted when 1 − u > q·(1 + 0.8|t|/w). Multiplied by 108d·3s·w > 0 and
// with g = 1 − u (uniform too, see toOpen) this reads
//
//	108d · m · g > x⁴ · (m + 0.8·|m − 3s|).
//
// The squeeze follows from the exact test, so it changes nothing about the
// distribution. It fails with probability about 1/(36d) for large shapes;
// measured: 6.7% of attempts at a = 1, 2.6% at 2, 0.34% at 10, 0.03% at
// 100, where the classical squeeze u < 1 − 0.0331x⁴ fails about 8% of the
// time at every shape. Only then are logarithms taken.

// gammaShape holds the constants for a shape a ≥ 1: d = a − 1/3, s = √d,
// s3 = 3s and e = 108d.
type gammaShape struct{ d, s, s3, e float64 }

func newGammaShape(a float64) gammaShape {
	d := a - 1.0/3
	s := math.Sqrt(d)
	return gammaShape{d: d, s: s, s3: 3 * s, e: 108 * d}
}

// gammaM draws an accepted Marsaglia–Tsang candidate for the shape g and
// returns it as m = 3s + x; the Gamma variate is m³/(27s).
//
// This is the hot loop of the package, inlined on purpose: betaM holds a
// second copy of it for two shapes, and its first half is normal
// (ziggurat.go) written out. It runs on the built-in generator held in
// registers, with normal written out around the inlined ziggurat fast path
// (zigFast), so that it makes no call unless a rare slow path is taken; a
// stream with an injected Source goes to gammaMSource, the same loop with
// the words read through the interface (TestInjectedSourceMatchesBuiltIn
// holds the two to the same variates).
func gammaM(st stream, g *gammaShape) (float64, stream) {
	if st.src != nil {
		return gammaMSource(st, g)
	}
	gen := st.gen
	for {
		var u uint64
		u, gen = gen.next()
		x, fast := zigFast(u)
		if !fast {
			var ok bool
			x, ok, st = zigSlow(stream{gen: gen}, u, x)
			gen = st.gen
			if !ok {
				continue
			}
		}
		m := g.s3 + x
		if m <= 0 {
			continue
		}
		u, gen = gen.next()
		gu, x2 := toOpen(u), x*x
		if squeeze(g, x2, m, gu) || acceptExact(g, x2, m, gu) {
			return m, stream{gen: gen}
		}
	}
}

// gammaMSource is gammaM reading its words from the stream's Source.
func gammaMSource(st stream, g *gammaShape) (float64, stream) {
	for {
		var x, gu float64
		x, st = normal(st)
		m := g.s3 + x
		if m <= 0 {
			continue
		}
		gu, st = st.uniformOpen()
		if x2 := x * x; squeeze(g, x2, m, gu) || acceptExact(g, x2, m, gu) {
			return m, st
		}
	}
}

// squeeze is the bound of the exact test derived above (see "Squeeze") for
// x2 = x², m = 3s + x > 0 and a uniform gu (1 − u in the notation there):
// when it holds, the candidate is accepted without a logarithm.
func squeeze(g *gammaShape, x2, m, gu float64) bool {
	return g.e*m*gu > x2*x2*(m+0.8*math.Abs(m-g.s3))
}

// acceptExact is the exact test ln u < x²/2 + d(1 − v + ln v), v = (m/3s)³.
func acceptExact(g *gammaShape, x2, m, gu float64) bool {
	w := m / g.s3
	v := w * w * w
	return math.Log1p(-gu) < 0.5*x2+g.d*(1-v+math.Log(v))
}

// gamma returns a Gamma variate for the shape g.
func gamma(st stream, g *gammaShape) (float64, stream) {
	m, st := gammaM(st, g)
	return m * m * m / (27 * g.s), st
}

// betaM returns a Beta variate from two shapes ≥ 1 (see "Scaling").
func betaM(st stream, gx, gy *gammaShape) (float64, stream) {
	if st.src != nil {
		mx, st := gammaMSource(st, gx)
		my, st := gammaMSource(st, gy)
		return betaRatio(mx, my, gx, gy), st
	}
	// gammaM for gx and then for gy, written out once more: one call per
	// Beta variate instead of three. Keep the two loops alike; betaM calling
	// gammaM twice measured about 11% slower in BenchmarkBetaSample
	// (own-prepared, median of four alternating runs).
	gen := st.gen
	g, mx, first := gx, 0.0, true
	for {
		var u uint64
		u, gen = gen.next()
		x, fast := zigFast(u)
		if !fast {
			var ok bool
			x, ok, st = zigSlow(stream{gen: gen}, u, x)
			gen = st.gen
			if !ok {
				continue
			}
		}
		m := g.s3 + x
		if m <= 0 {
			continue
		}
		u, gen = gen.next()
		gu, x2 := toOpen(u), x*x
		if squeeze(g, x2, m, gu) || acceptExact(g, x2, m, gu) {
			if first {
				mx, g, first = m, gy, false
				continue
			}
			return betaRatio(mx, m, gx, gy), stream{gen: gen}
		}
	}
}

// betaRatio is X/(X+Y) for the candidates mx of gx and my of gy.
func betaRatio(mx, my float64, gx, gy *gammaShape) float64 {
	x := mx * mx * mx * gy.s
	return x / (x + my*my*my*gx.s)
}
