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
// mean, so every panel is narrow compared with every density that matters
// in it. Where a shape below two makes a density a power of x or 1−x, the
// panels continue geometrically towards that end and are integrated in
// ln x or ln(1−x), where such a power is smooth; points near 1 are carried
// as their distance from 1, so no precision is lost there. On each panel
// the densities are interpolated at Chebyshev points; the CDFs are carried
// across panels by integrating the interpolants exactly, starting from
// accurate incomplete beta values at the window's start. The mass above
// the window enters through each arm's exact upper tail.
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
	lower := point{0, 1}
	for k, i := range valid {
		shapes[k] = newArmShape(arms[i])
		if lower.less(shapes[k].lower) {
			lower = shapes[k].lower
		}
	}
	var active []int // indices into shapes of arms that can be the maximum
	upper := lower
	for k := range shapes {
		if lower.less(shapes[k].upper) {
			active = append(active, k)
			if upper.less(shapes[k].upper) {
				upper = shapes[k].upper
			}
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

// point is a position in [0, 1] held together with its distance from 1,
// each accurate to its own last bit, so points near 1 are resolved as
// finely as points near 0.
type point struct{ x, cx float64 }

// fromLow and fromHigh build a point from x or from 1 − x.
func fromLow(x float64) point   { return point{x, 1 - x} }
func fromHigh(cx float64) point { return point{1 - cx, cx} }

func (p point) less(q point) bool { return p.x < q.x || (p.x == q.x && p.cx > q.cx) }

// distance returns q − p, from whichever coordinate is precise.
func (p point) distance(q point) float64 {
	if p.x > 0.5 {
		return p.cx - q.cx
	}
	return q.x - p.x
}

// panelKind says in which coordinate a panel is interpolated.
type panelKind int

const (
	linearPanel  panelKind = iota
	logLowPanel            // in ln x, towards 0
	logHighPanel           // in ln(1−x), towards 1
)

// cut is a panel boundary proposed by one arm; gap is the spacing of that
// arm's ladder there.
type cut struct {
	at  point
	gap float64
}

// armShape holds what ProbBest needs about one arm.
type armShape struct {
	a, b         float64
	logNorm      float64 // ln B(a, b)
	lower, upper point   // outside, the arm's mass is below about 1e-7
	cuts         []cut
	// Below lowZone (above 1 − highZone) the density is graded as a power
	// of x (of 1 − x); zero when it is not.
	lowZone, highZone float64
}

var (
	// sdLadder holds panel boundaries in standard deviations from the mean.
	sdLadder = []float64{-9, -6, -4, -2.5, -1.2, 0, 1.2, 2.5, 4, 6, 9}
	// skewLadder reaches further on the side of an exponential tail.
	skewLadder = []float64{13, 19, 26, 35, 46}
)

// skewShape is the shape below which the opposite tail is treated as
// exponential rather than Gaussian: Beta(0.3, 1e7) still holds 1e-3 of its
// mass beyond 9 standard deviations.
const skewShape = 30.0

func newArmShape(p Posterior) armShape {
	a, b := p.Alpha, p.Beta
	s := armShape{a: a, b: b, logNorm: logBeta(a, b)}
	n := a + b
	mean, cmean := a/n, b/n
	sd := math.Sqrt(mean * cmean / (n + 1))
	at := func(t float64) (point, bool) {
		x, cx := mean+t*sd, cmean-t*sd
		if x <= 0 || cx <= 0 {
			return point{}, false
		}
		if x > 0.5 {
			return fromHigh(cx), true
		}
		return fromLow(x), true
	}
	ladder := sdLadder
	lowT, highT := sdLadder[0], sdLadder[len(sdLadder)-1]
	if a < skewShape {
		ladder = append(ladder, skewLadder...)
		highT = skewLadder[len(skewLadder)-1]
	}
	if b < skewShape {
		for _, t := range skewLadder {
			ladder = append(ladder, -t)
		}
		lowT = -skewLadder[len(skewLadder)-1]
	}
	slices.Sort(ladder)
	s.lower, s.upper = fromLow(0), fromHigh(0)
	if q, ok := at(lowT); ok {
		s.lower = q
	}
	if q, ok := at(highT); ok {
		s.upper = q
	}
	for _, t := range ladder {
		if q, ok := at(t); ok {
			s.cuts = append(s.cuts, cut{at: q})
		}
	}
	// Near an end where the density is a power x^(a−1) that is not a
	// polynomial, no polynomial interpolates it well, and for small a the
	// mass spreads over decades. Continue from half the distance between
	// mean and end, in steps of equal ratio, down to where at most 1e-7 of
	// the mass is left (what lies beyond is accounted for: above the window
	// by the exact tail, below it only together with every other arm being
	// as low).
	if a < skewShape && a != math.Trunc(a) {
		s.lowZone = mean / 2
		s.lower = gradeTowardsEnd(&s.cuts, mean, a, fromLow)
	}
	if b < skewShape && b != math.Trunc(b) {
		s.highZone = cmean / 2
		s.upper = gradeTowardsEnd(&s.cuts, cmean, b, fromHigh)
	}
	slices.SortFunc(s.cuts, byPoint)
	for i := range s.cuts {
		gap := math.Inf(1)
		if i > 0 {
			gap = s.cuts[i-1].at.distance(s.cuts[i].at)
		}
		if i+1 < len(s.cuts) {
			gap = math.Min(gap, s.cuts[i].at.distance(s.cuts[i+1].at))
		}
		s.cuts[i].gap = gap
	}
	return s
}

// gradeTowardsEnd appends cuts at d/2·e^(−kL), k = 0, 1, …, towards an end,
// where d is the distance from the mean to that end and the density there
// behaves like a power with the given exponent; the steps L are short
// enough that the power is a gentle exponential in the log coordinate. It
// returns the last point.
func gradeTowardsEnd(cuts *[]cut, d, shape float64, at func(float64) point) point {
	step := math.Min(4, 3/shape)   // ln of the ratio between cuts
	depth := math.Log(1e7) / shape // ln of the ratio at which 1e-7 is left
	steps := int(math.Ceil(depth / step))
	d /= 2
	*cuts = append(*cuts, cut{at: at(d)})
	for range steps {
		d *= math.Exp(-step)
		if d < 1e-300 {
			break
		}
		*cuts = append(*cuts, cut{at: at(d)})
	}
	return at(d)
}

// logDensity returns ln f(x) given ln x and ln(1−x).
func (s *armShape) logDensity(logX, log1mX float64) float64 {
	return (s.a-1)*logX + (s.b-1)*log1mX - s.logNorm
}

// cdfAt and tailAt return P(X ≤ p) and P(X > p), each accurate when small.
func (s *armShape) cdfAt(p point) float64 { return incBeta(s.a, s.b, p.x, p.cx, false) }

func (s *armShape) tailAt(p point) float64 { return incBeta(s.a, s.b, p.x, p.cx, true) }

// byPoint orders cuts by where they stand.
func byPoint(p, q cut) int {
	switch {
	case p.at.less(q.at):
		return -1
	case q.at.less(p.at):
		return 1
	}
	return 0
}

// panel is one piece of the window.
type panel struct {
	left, right point
	kind        panelKind
}

// panels cuts [lower, upper] at every active arm's cuts, merging cuts that
// are much closer together than the ladders they come from. A panel is
// integrated in ln x when it reaches into the zone where some arm's density
// is graded as a power of x, since that power would spoil a polynomial
// interpolant in x even where another arm's ladder made the cut; likewise
// in ln(1−x) near 1.
func panels(shapes []armShape, active []int, lower, upper point) []panel {
	var cuts []cut
	lowZone, highZone := 0.0, 0.0
	for _, k := range active {
		lowZone = math.Max(lowZone, shapes[k].lowZone)
		highZone = math.Max(highZone, shapes[k].highZone)
		for _, c := range shapes[k].cuts {
			if lower.less(c.at) && c.at.less(upper) {
				cuts = append(cuts, c)
			}
		}
	}
	slices.SortFunc(cuts, byPoint)
	kept := []point{lower}
	for _, c := range cuts {
		if kept[len(kept)-1].distance(c.at) >= 0.5*c.gap {
			kept = append(kept, c.at)
		}
	}
	kept = append(kept, upper)
	out := make([]panel, 0, len(kept)-1)
	for i := 0; i+1 < len(kept); i++ {
		left, right := kept[i], kept[i+1]
		kind := linearPanel
		switch {
		case left.x > 0 && left.x < lowZone:
			kind = logLowPanel
		case right.cx > 0 && right.cx < highZone:
			kind = logHighPanel
		}
		out = append(out, panel{left, right, kind})
	}
	return out
}

// integrateBest returns the unnormalised P(best) of the active arms.
func integrateBest(shapes []armShape, active []int, lower, upper point) []float64 {
	m := len(active)
	rule := chebyshevRule()
	nodes := len(rule.nodes)

	cdf := make([]float64, m) // CDFs at the current panel's left end
	for n, k := range active {
		cdf[n] = shapes[k].cdfAt(lower)
	}
	probs := make([]float64, m)
	dens := make([]float64, m*nodes) // dens[n*nodes+q], times the panel's Jacobian
	cum := make([]float64, m*nodes)
	prefix := make([]float64, m+1)
	logX := make([]float64, nodes)
	log1mX := make([]float64, nodes)
	jacobian := make([]float64, nodes)

	for _, p := range panels(shapes, active, lower, upper) {
		half := p.left.distance(p.right) / 2
		switch p.kind {
		case logLowPanel:
			u0, u1 := math.Log(p.left.x), math.Log(p.right.x)
			half = (u1 - u0) / 2
			for q, t := range rule.nodes {
				x := math.Exp(u0 + half*(1+t))
				logX[q], log1mX[q], jacobian[q] = math.Log(x), math.Log1p(-x), x
			}
		case logHighPanel:
			u0, u1 := math.Log(p.left.cx), math.Log(p.right.cx)
			half = (u0 - u1) / 2
			for q, t := range rule.nodes {
				cx := math.Exp(u0 - half*(1+t))
				logX[q], log1mX[q], jacobian[q] = math.Log1p(-cx), math.Log(cx), cx
			}
		default:
			for q, t := range rule.nodes {
				if p.left.x > 0.5 {
					cx := p.left.cx - half*(1+t)
					logX[q], log1mX[q] = math.Log1p(-cx), math.Log(cx)
				} else {
					x := p.left.x + half*(1+t)
					logX[q], log1mX[q] = math.Log(x), math.Log1p(-x)
				}
				jacobian[q] = 1
			}
		}
		for n, k := range active {
			d := dens[n*nodes : (n+1)*nodes]
			mass := 0.0
			for q := range d {
				d[q] = math.Exp(shapes[k].logDensity(logX[q], log1mX[q])) * jacobian[q]
				mass += d[q]
			}
			c := cum[n*nodes : (n+1)*nodes]
			if mass == 0 { // the arm has no mass here: its CDF stays put
				for q := range c {
					c[q] = cdf[n]
				}
				continue
			}
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
		tails[n] = shapes[k].tailAt(upper)
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
