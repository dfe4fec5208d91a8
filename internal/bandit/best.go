package bandit

import (
	"math"
	"slices"
)

// ProbBest returns, for every arm, the probability that its value is the
// largest when every arm's value is drawn independently from its
// posterior: P_i = ∫ f_i(x)·Π_{j≠i} F_j(x) dx with f the density and F the
// CDF. The result has len(arms) entries and sums to one.
//
// Invalid arms (see Posterior.Valid) get probability zero; when no arm is
// valid every arm gets 1/len(arms), and an empty input gives an empty
// result. ProbBest never panics and never returns NaN.
//
// The integral runs over the window where the maximum lives: from the
// highest of the arms' lower ends to the highest upper end. The window is
// cut into panels at a ladder of standard deviations around every arm's
// mean (and, for shapes below two, at a geometric ladder towards 0 or 1),
// so every panel is narrow compared with every density that matters in it.
// On each panel the densities are interpolated at Chebyshev points; the
// CDFs are carried across panels by integrating the interpolants exactly,
// starting from accurate incomplete beta values at the window's start. The
// result is accurate to about 1e-8 at any counts up to 1e7 and beyond.
func ProbBest(arms []Posterior) []float64 {
	out := make([]float64, len(arms))
	var valid []int
	for i, arm := range arms {
		if arm.Valid() {
			valid = append(valid, i)
		}
	}
	switch len(valid) {
	case 0:
		for i := range out {
			out[i] = 1 / float64(len(out))
		}
		return out
	case 1:
		out[valid[0]] = 1
		return out
	}

	shapes := make([]armShape, len(valid))
	lower := 0.0
	for k, i := range valid {
		shapes[k] = newArmShape(arms[i])
		lower = math.Max(lower, shapes[k].lower)
	}
	var active []int // indices into shapes of arms that can be the maximum
	upper := lower
	for k := range shapes {
		if shapes[k].upper > lower {
			active = append(active, k)
			upper = math.Max(upper, shapes[k].upper)
		}
	}
	if len(active) == 1 {
		out[valid[active[0]]] = 1
		return out
	}

	probs := integrateBest(shapes, active, lower, upper)
	total := 0.0
	for _, p := range probs {
		total += p
	}
	if !(total > 0) || math.IsInf(total, 0) {
		for _, k := range active {
			out[valid[k]] = 1 / float64(len(active))
		}
		return out
	}
	for n, k := range active {
		out[valid[k]] = probs[n] / total
	}
	return out
}

// armShape holds what ProbBest needs about one arm.
type armShape struct {
	a, b         float64
	logNorm      float64 // ln B(a, b)
	lower, upper float64 // outside, the arm's mass is below 1e-15
	breaks       []float64
}

// sdLadder holds panel boundaries in standard deviations from the mean.
var (
	sdLadder   = []float64{-14, -10.5, -7.5, -5, -3, -1.5, 0, 1.5, 3, 5, 7.5, 10.5, 14}
	skewLadder = []float64{19, 26, 35, 46}
	skewShape  = 30.0
)

func newArmShape(p Posterior) armShape {
	a, b := p.Alpha, p.Beta
	s := armShape{a: a, b: b, logNorm: logBeta(a, b)}
	mean := p.Mean()
	sd := math.Sqrt(p.Variance())
	s.lower = math.Max(0, mean+sdLadder[0]*sd)
	s.upper = math.Min(1, mean+sdLadder[len(sdLadder)-1]*sd)
	if a < skewShape {
		s.upper = math.Min(1, mean+skewLadder[len(skewLadder)-1]*sd)
	}
	if b < skewShape {
		s.lower = math.Max(0, mean-skewLadder[len(skewLadder)-1]*sd)
	}
	for _, t := range sdLadder {
		if x := mean + t*sd; x > 0 && x < 1 {
			s.breaks = append(s.breaks, x)
		}
	}
	// A small shape on one side makes the opposite tail exponential rather
	// than Gaussian: Beta(0.3, 1e7) still holds 3e-5 beyond 14 standard
	// deviations. Reach further on that side.
	for _, t := range skewLadder {
		if x := mean + t*sd; a < skewShape && x < 1 {
			s.breaks = append(s.breaks, x)
			s.upper = x
		}
		if x := mean - t*sd; b < skewShape && x > 0 {
			s.breaks = append(s.breaks, x)
			s.lower = x
		}
	}
	// Near an end where the density behaves like a power x^(a−1) that is
	// not a polynomial, the mass spreads over many decades: grade the panels
	// geometrically, halving the distance to the end each time, so that the
	// singularity stays two panel half-widths away from every panel. Grading
	// stops where at most 1e-12 of the arm's mass lies beyond, or at 2^-47;
	// what is left out can only matter together with every other arm being
	// as low, which is smaller still.
	if a < 2 && a != 1 {
		s.lower = gradeTowardsEnd(&s.breaks, mean, a, func(d float64) float64 { return d })
	}
	if b < 2 && b != 1 {
		s.upper = gradeTowardsEnd(&s.breaks, 1-mean, b, func(d float64) float64 { return 1 - d })
	}
	slices.Sort(s.breaks)
	return s
}

// gradeTowardsEnd appends at(d/2), at(d/4), … to breaks and returns the
// last point; d is the distance from the mean to the end and shape the
// density's exponent there.
func gradeTowardsEnd(breaks *[]float64, d, shape float64, at func(float64) float64) float64 {
	steps := int(math.Min(47, math.Ceil(12*math.Log2(10)/shape)))
	for range steps {
		d /= 2
		*breaks = append(*breaks, at(d))
	}
	return at(d)
}

// logDensity returns ln f(x) given ln x and ln(1−x).
func (s *armShape) logDensity(logX, log1mX float64) float64 {
	return (s.a-1)*logX + (s.b-1)*log1mX - s.logNorm
}

// panelBreaks returns the sorted panel boundaries inside [lower, upper]
// from every active arm's ladder, merging boundaries that are much closer
// together than the ladders they come from.
func panelBreaks(shapes []armShape, active []int, lower, upper float64) []float64 {
	type cut struct{ x, gap float64 }
	var cuts []cut
	for _, k := range active {
		br := shapes[k].breaks
		for i, x := range br {
			if x <= lower || x >= upper {
				continue
			}
			gap := math.Inf(1)
			if i > 0 {
				gap = x - br[i-1]
			}
			if i+1 < len(br) {
				gap = math.Min(gap, br[i+1]-x)
			}
			cuts = append(cuts, cut{x, gap})
		}
	}
	slices.SortFunc(cuts, func(p, q cut) int {
		switch {
		case p.x < q.x:
			return -1
		case p.x > q.x:
			return 1
		}
		return 0
	})
	breaks := []float64{lower}
	for _, c := range cuts {
		if c.x-breaks[len(breaks)-1] >= 0.3*c.gap {
			breaks = append(breaks, c.x)
		}
	}
	if upper-breaks[len(breaks)-1] < 1e-3*(upper-lower) && len(breaks) > 1 {
		breaks = breaks[:len(breaks)-1]
	}
	return append(breaks, upper)
}

// integrateBest returns the unnormalised P(best) of the active arms.
func integrateBest(shapes []armShape, active []int, lower, upper float64) []float64 {
	m := len(active)
	breaks := panelBreaks(shapes, active, lower, upper)
	rule := chebyshevRule()
	nodes := len(rule.nodes)

	cdf := make([]float64, m) // CDFs at the current panel's left end
	for n, k := range active {
		cdf[n] = regIncBeta(shapes[k].a, shapes[k].b, lower)
	}
	probs := make([]float64, m)
	dens := make([]float64, m*nodes) // dens[n*nodes+q]
	cum := make([]float64, m*nodes)
	prefix := make([]float64, m+1)
	logX := make([]float64, nodes)
	log1mX := make([]float64, nodes)

	for p := 0; p+1 < len(breaks); p++ {
		left, right := breaks[p], breaks[p+1]
		half := (right - left) / 2
		for q, t := range rule.nodes {
			x := left + half*(1+t)
			logX[q] = math.Log(x)
			log1mX[q] = math.Log1p(-x)
		}
		for n, k := range active {
			d := dens[n*nodes : (n+1)*nodes]
			for q := range d {
				d[q] = math.Exp(shapes[k].logDensity(logX[q], log1mX[q]))
			}
			c := cum[n*nodes : (n+1)*nodes]
			for q := range c {
				c[q] = clamp01(cdf[n] + half*dot(rule.cumulative[q], d))
			}
			cdf[n] = clamp01(cdf[n] + half*dot(rule.total, d))
		}
		for q := range nodes {
			// Π_{j≠i} F_j from prefix and suffix products, so that an arm
			// whose own CDF is zero still gets its share.
			prefix[0] = 1
			for n := range m {
				prefix[n+1] = prefix[n] * cum[n*nodes+q]
			}
			suffix := 1.0
			w := half * rule.total[q]
			for n := m - 1; n >= 0; n-- {
				probs[n] += w * dens[n*nodes+q] * prefix[n] * suffix
				suffix *= cum[n*nodes+q]
			}
		}
	}
	// Beyond the window's upper end the maximum is whichever arm got there,
	// the others almost surely below: add P(X_i > upper)·Π_{j≠i} P(X_j ≤ upper).
	// The error of this is below the product of two arms' tails.
	tails := make([]float64, m)
	for n, k := range active {
		tails[n] = regIncBetaUpper(shapes[k].a, shapes[k].b, upper)
	}
	for n := range active {
		p := tails[n]
		for j := range active {
			if j != n {
				p *= 1 - tails[j]
			}
		}
		probs[n] += p
	}
	return probs
}

func dot(u, v []float64) float64 {
	s := 0.0
	for i := range u {
		s += u[i] * v[i]
	}
	return s
}

func clamp01(v float64) float64 {
	return math.Min(1, math.Max(0, v))
}
