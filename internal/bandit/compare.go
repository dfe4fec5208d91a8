package bandit

import "math"

// ProbGreater returns P(X > Y) for independent X ~ x and Y ~ y, exact to
// about 1e-14 (see "Exact comparison" in the package documentation). Equal
// posteriors give exactly 0.5, and ProbGreater(x, y) + ProbGreater(y, x) = 1
// up to one rounding. It returns NaN when x or y is invalid, so a comparison
// such as ProbGreater(arm, best) < threshold is false for broken input.
func ProbGreater(x, y Posterior) float64 {
	if !x.Valid() || !y.Valid() {
		return math.NaN()
	}
	if x == y {
		return 0.5
	}
	// Evaluate in one canonical order so that swapping the arguments gives
	// the complement of the very same sum.
	if y.Alpha < x.Alpha || (y.Alpha == x.Alpha && y.Beta < x.Beta) {
		q, isGreater := probOrdered(y, x)
		if isGreater {
			return 1 - q
		}
		return q
	}
	q, isGreater := probOrdered(x, y)
	if isGreater {
		return q
	}
	return 1 - q
}

// probOrdered returns q and which probability it is: P(X > Y) when
// isGreater, P(X < Y) otherwise. Both are sums of positive terms; returning
// the one that was summed keeps tiny probabilities accurate.
func probOrdered(x, y Posterior) (q float64, isGreater bool) {
	a1, b1, a2, b2 := x.Alpha, x.Beta, y.Alpha, y.Beta
	// The four ways to send one parameter to infinity. Raising b1 or a2
	// drives P(X > Y) to zero, so their series sum P(X > Y); raising a1 or b2
	// drives it to one, so their series sum P(X < Y).
	walks := [4]struct {
		walk      tableWalk
		isGreater bool
	}{
		{tableWalk{start: b1, rowmate: a1, colmate: b2, diagonal: a2}, true},
		{tableWalk{start: a2, rowmate: b2, colmate: a1, diagonal: b1}, true},
		{tableWalk{start: a1, rowmate: b1, colmate: a2, diagonal: b2}, false},
		{tableWalk{start: b2, rowmate: a2, colmate: b1, diagonal: a1}, false},
	}
	best, bestCost := 0, math.Inf(1)
	for i, c := range walks {
		if cost := c.walk.plannedCost(); cost < bestCost {
			best, bestCost = i, cost
		}
	}
	// The terms are exact to rounding; only a sum within an ulp or two of
	// one can stray past it.
	q, _ = walks[best].walk.probability()
	return math.Min(1, q), walks[best].isGreater
}

// minTailShape is the smallest diagonal parameter a walk to infinity runs
// with. The terms of a walk eventually fall like n^−(1+diagonal); below this
// the diagonal is first raised by a finite walk of its own.
const minTailShape = 30

// seriesTolerance is where a sum stops: the bound on everything left is
// below this fraction of the sum so far.
const seriesTolerance = 0x1p-56

// tableWalk describes the telescoping series obtained by raising one
// parameter of the table [[a1, b1], [a2, b2]] (X's parameters in the first
// row, Y's in the second) by one at a time. The raised cell is start; the
// other cell of its row is rowmate, the other cell of its column is colmate,
// and the cell in neither is diagonal.
//
// With h(a1,b1,a2,b2) = P(X > Y) and g the table weight (logTableWeight),
//
//	h(a1+1, ·) = h + g/a1,   h(·, b1+1, ·) = h − g/b1,
//	h(·, a2+1, ·) = h − g/a2,   h(·, b2+1) = h + g/b2,
//
// for all positive real parameters. Raising a cell without end sends h to
// 0 or 1, so the distance of h from that limit is the infinite sum of
// positive terms T(c) = g(c)/c over c = start, start+1, …, where g(c) is
// the table weight with the raised cell equal to c. Consecutive terms have
// the exact ratio
//
//	T(c+1)/T(c) = (c+rowmate)·(c+colmate) / ((c+1)·(c+rowmate+colmate+diagonal)).
type tableWalk struct {
	start, rowmate, colmate, diagonal float64
}

// term returns ln T(c).
func (t tableWalk) logTerm(c float64) float64 {
	return logTableWeight(c, t.rowmate, t.colmate, t.diagonal) - math.Log(c)
}

// ratio returns T(c+1)/T(c).
func (t tableWalk) ratio(c float64) float64 {
	return (c + t.rowmate) * (c + t.colmate) / ((c + 1) * (c + t.rowmate + t.colmate + t.diagonal))
}

// peak returns the real c* where the ratio crosses one: the terms rise
// while c < c* and fall after it, since 1 − ratio(c) =
// (1+diagonal)·(c − c*)/((c+1)·(c+rest)) with rest = rowmate+colmate+diagonal.
func (t tableWalk) peak() float64 {
	v, w, z := t.rowmate, t.colmate, t.diagonal
	return (v*w - v - w - z) / (1 + z)
}

// curvature returns −d/dc ln ratio(c), the inverse squared width of the
// terms' bell around their peak.
func (t tableWalk) curvature(c float64) float64 {
	v, w, z := t.rowmate, t.colmate, t.diagonal
	return (v-1)/((c+1)*(c+v)) - (v+z)/((c+v+w+z)*(c+w))
}

// diagonalShift returns how far the diagonal is raised first so that the
// walk's tail falls fast enough.
func (t tableWalk) diagonalShift() float64 {
	if t.diagonal >= minTailShape {
		return 0
	}
	return math.Ceil(minTailShape - t.diagonal)
}

// plannedCost estimates the number of terms the walk sums.
func (t tableWalk) plannedCost() float64 {
	shift := t.diagonalShift()
	t.diagonal += shift
	const widths = 9 // terms beyond nine widths of the bell are below 1e-17
	c0, cPeak := t.start, t.peak()
	if cPeak > c0 {
		k := t.curvature(cPeak)
		if !(k > 0) {
			return math.Inf(1)
		}
		sd := 1 / math.Sqrt(k)
		return shift + math.Min(widths*sd, cPeak-c0) + widths*sd
	}
	cost := math.Inf(1)
	if k := t.curvature(c0); k > 0 {
		cost = widths / math.Sqrt(k)
	}
	if r := t.ratio(c0); r < 1 {
		cost = math.Min(cost, 40/-math.Log(r))
	}
	return shift + cost
}

// probability returns the infinite sum of the walk, first raising a small
// diagonal by a finite walk along the diagonal itself, and the number of
// terms summed.
func (t tableWalk) probability() (sum float64, terms int64) {
	if shift := t.diagonalShift(); shift > 0 {
		along := tableWalk{start: t.diagonal, rowmate: t.colmate, colmate: t.rowmate, diagonal: t.start}
		sum, terms = along.sum(int64(shift))
		t.diagonal += shift
	}
	rest, more := t.sum(-1)
	return sum + rest, terms + more
}

// sum returns Σ T(start+n) for n = 0 … count−1, or to infinity when count
// is negative. It finds the largest term from the closed form, then walks
// down both flanks by the exact ratio, so no term is computed by more than
// a few thousand multiplications from an accurate anchor. Truncation is
// bounded rigorously: on the rising flank every remaining term is smaller
// than the current one; on the falling flank, for c beyond the peak c*,
// 1 − ratio(c') ≥ κ/(c'+rest) for all c' ≥ c with κ = (1+diagonal)·f(c) and
// f(c) = min(1, (c−c*)/(c+1)), which bounds the remaining terms by
// T(c)·(1 + (c+rest)/(κ−1)) whenever κ > 1.
func (t tableWalk) sum(count int64) (sum float64, terms int64) {
	c0 := t.start
	rest := t.rowmate + t.colmate + t.diagonal
	cPeak := t.peak()
	top := int64(0)
	if cPeak > c0 {
		top = int64(math.Min(math.Ceil(cPeak-c0), 1<<62))
	}
	if count >= 0 && top > count-1 {
		top = count - 1
	}
	if count == 0 {
		return 0, 0
	}
	logTop := t.logTerm(c0 + float64(top))
	if logTop < -800 {
		return 0, 1 // even 1e9 terms of this size vanish in float64
	}

	total := 1.0 // in units of the top term
	term := 1.0
	terms = 1
	for n := top - 1; n >= 0; n-- {
		term /= t.ratio(c0 + float64(n))
		total += term
		terms++
		if term*float64(n) <= seriesTolerance*total {
			break
		}
	}

	term = 1.0
	for n := top + 1; count < 0 || n < count; n++ {
		c := c0 + float64(n-1)
		term *= t.ratio(c)
		c++
		remaining := math.Inf(1)
		if count >= 0 {
			remaining = term * float64(count-n)
		}
		if c > cPeak {
			f := 1.0
			if cPeak > -1 {
				f = math.Min(1, (c-cPeak)/(c+1))
			}
			if kappa := (1 + t.diagonal) * f; kappa > 1 {
				remaining = math.Min(remaining, term*(1+(c+rest)/(kappa-1)))
			}
		}
		if remaining <= seriesTolerance*total {
			break
		}
		total += term
		terms++
	}
	return total * math.Exp(logTop), terms
}
