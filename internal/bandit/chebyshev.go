package bandit

import (
	"math"
	"sync"
)

// chebyshevOrder is the number of interpolation points per panel.
const chebyshevOrder = 12

// panelRule integrates a function known at the Chebyshev points of the
// first kind on [−1, 1] by integrating its interpolating polynomial:
// cumulative[k]·f ≈ ∫_{−1}^{nodes[k]} f and total·f ≈ ∫_{−1}^{1} f
// (Fejér's first rule). The points exclude ±1, so densities that are
// infinite at 0 or 1 are never evaluated there.
type panelRule struct {
	nodes      []float64
	cumulative [][]float64
	total      []float64
}

var chebyshevRule = sync.OnceValue(func() panelRule {
	n := chebyshevOrder
	r := panelRule{nodes: make([]float64, n), cumulative: make([][]float64, n), total: make([]float64, n)}
	theta := make([]float64, n)
	for k := range n {
		theta[k] = math.Pi * float64(2*(n-1-k)+1) / float64(2*n) // ascending nodes
		r.nodes[k] = math.Cos(theta[k])
	}
	// antiderivative returns ∫_{−1}^{x} T_j(s) ds.
	antiderivative := func(j int, x float64) float64 {
		tj := func(m int, x float64) float64 { return math.Cos(float64(m) * math.Acos(x)) }
		switch j {
		case 0:
			return x + 1
		case 1:
			return (x*x - 1) / 2
		}
		at := func(x float64) float64 {
			return (tj(j+1, x)/float64(j+1) - tj(j-1, x)/float64(j-1)) / 2
		}
		return at(x) - at(-1)
	}
	for i := range n { // the interpolant of the i-th unit vector
		coeff := make([]float64, n)
		for j := range n {
			coeff[j] = 2 / float64(n) * math.Cos(float64(j)*theta[i])
		}
		coeff[0] /= 2
		for k := range n {
			r.cumulative[k] = append(r.cumulative[k], 0)
		}
		for j := range n {
			for k := range n {
				r.cumulative[k][i] += coeff[j] * antiderivative(j, r.nodes[k])
			}
			r.total[i] += coeff[j] * antiderivative(j, 1)
		}
	}
	return r
})
