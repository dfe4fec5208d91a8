package bandit

import "math"

const halfLog2Pi = 0.91893853320467274178032973640561764 // ½·ln(2π)

// stirlingCorrection returns δ(x) = lnΓ(x) − [(x−½)·ln x − x + ½·ln 2π], the
// remainder of Stirling's formula, for x > 0. For x ≥ 15 it sums the
// asymptotic series, whose first omitted term is below 1e-19 there; below 15
// the subtraction loses at most a few units in the last place of lnΓ(15).
func stirlingCorrection(x float64) float64 {
	if x >= 15 {
		s := 1 / (x * x)
		return (1.0/12 - s*(1.0/360-s*(1.0/1260-s*(1.0/1680-s*(1.0/1188-s*(691.0/360360-s/156)))))) / x
	}
	lg, _ := math.Lgamma(x)
	return lg - (x-0.5)*math.Log(x) + x - halfLog2Pi
}

// deviance returns x·ln(x/m) + m − x for x, m > 0, given diff = x − m
// computed without cancellation by the caller. When x and m are close the
// value is a small difference of large numbers, so it is summed from the
// series 2x·Σ v^(2j+1)/(2j+1) + diff·v with v = diff/(x+m) instead, whose
// terms are all of one sign.
func deviance(x, m, diff float64) float64 {
	if math.Abs(diff) < 0.1*(x+m) {
		v := diff / (x + m)
		v2 := v * v
		sum := diff * v
		term := 2 * x * v
		for j := 3.0; ; j += 2 {
			term *= v2
			next := sum + term/j
			if next == sum {
				return sum
			}
			sum = next
		}
	}
	return x*math.Log(x/m) - diff
}

// crossDifference returns p·q − r·s with one rounding, using the exact
// product error that FMA exposes.
func crossDifference(p, q, r, s float64) float64 {
	rs := r * s
	rsErr := math.FMA(r, s, -rs)
	return math.FMA(p, q, -rs) - rsErr
}

// logTableWeight returns ln of
//
//	Γ(u+v)·Γ(w+z)·Γ(u+w)·Γ(v+z) / (Γ(u+v+w+z)·Γ(u)·Γ(v)·Γ(w)·Γ(z)),
//
// the weight of the 2×2 table [[u, v], [w, z]] with row sums u+v, w+z and
// column sums u+w, v+z. It equals B(u+w, v+z)/(B(u,v)·B(w,z)).
//
// The naive sum of nine lnΓ values cancels catastrophically for large
// arguments (each lnΓ is about 1.5e8 at 1e7, while the result is of order
// ln 1e7), leaving an absolute error near 1e-8. Here every lnΓ is split by
// Stirling's formula into (x−½)·ln x − x + ½·ln 2π + δ(x): the linear terms
// cancel exactly, the x·ln x terms combine into minus the sum of the four
// cells' deviances from their independence values (row·column/total), each
// computed from the exact cross difference u·z − v·w, and what remains is a
// handful of logarithms and small Stirling corrections.
func logTableWeight(u, v, w, z float64) float64 {
	r1, r2 := u+v, w+z
	c1, c2 := u+w, v+z
	n := r1 + r2
	d := crossDifference(u, z, v, w) / n // u − r1·c1/n, and so on
	dev := deviance(u, r1*c1/n, d) + deviance(z, r2*c2/n, d) +
		deviance(v, r1*c2/n, -d) + deviance(w, r2*c1/n, -d)
	halfLogs := math.Log(r1) + math.Log(r2) + math.Log(c1) + math.Log(c2) -
		math.Log(n) - math.Log(u) - math.Log(v) - math.Log(w) - math.Log(z)
	corrections := stirlingCorrection(r1) + stirlingCorrection(r2) +
		stirlingCorrection(c1) + stirlingCorrection(c2) - stirlingCorrection(n) -
		stirlingCorrection(u) - stirlingCorrection(v) - stirlingCorrection(w) - stirlingCorrection(z)
	return -dev - 0.5*halfLogs - halfLog2Pi + corrections
}
