package bandit

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Posterior is a Beta(Alpha, Beta) posterior over an arm's success rate.
//
// A Posterior is valid when both parameters are finite and positive; the
// functions of this package document what they do with invalid ones.
type Posterior struct{ Alpha, Beta float64 }

// NewPosterior returns the posterior of a Beta(priorAlpha, priorBeta) prior
// after successes and failures: Alpha = priorAlpha+successes and
// Beta = priorBeta+failures.
func NewPosterior(priorAlpha, priorBeta float64, successes, failures int64) Posterior {
	return Posterior{Alpha: priorAlpha + float64(successes), Beta: priorBeta + float64(failures)}
}

// Valid reports whether both parameters are finite and positive.
func (p Posterior) Valid() bool {
	return p.Alpha > 0 && p.Beta > 0 && !math.IsInf(p.Alpha, 1) && !math.IsInf(p.Beta, 1)
}

// Mean returns the posterior mean Alpha/(Alpha+Beta), or NaN for an invalid
// posterior.
func (p Posterior) Mean() float64 {
	if !p.Valid() {
		return math.NaN()
	}
	return p.Alpha / (p.Alpha + p.Beta)
}

// Variance returns the posterior variance αβ/((α+β)²(α+β+1)), or NaN for an
// invalid posterior.
func (p Posterior) Variance() float64 {
	if !p.Valid() {
		return math.NaN()
	}
	n := p.Alpha + p.Beta
	return (p.Alpha / n) * (p.Beta / n) / (n + 1)
}

// CredibleInterval returns the equal-tailed interval that holds the given
// probability level (for example 0.95): the (1−level)/2 and (1+level)/2
// quantiles. It returns NaN, NaN for an invalid posterior or a level outside
// [0, 1].
//
// The quantiles start from gonum's mathext.InvRegIncBeta and take Newton
// steps on the package's own incomplete beta. InvRegIncBeta holds up well
// for large parameters (measured: its 2.5% quantile of Beta(1e7, 1e7) is off
// by 1e-8 standard deviations, 7e-10 in probability), unlike gonum's
// RegIncBeta; the steps bring the error in probability to about 1e-11 and
// cost a few microseconds.
func (p Posterior) CredibleInterval(level float64) (lower, upper float64) {
	if !p.Valid() || !(level >= 0 && level <= 1) {
		return math.NaN(), math.NaN()
	}
	tail := (1 - level) / 2
	return p.quantile(tail, false), p.quantile(tail, true)
}

// quantile returns x with P(X ≤ x) = prob, or with P(X > x) = prob when
// upperTail is set; keeping the small tail probability avoids the
// cancellation in 1 − prob.
func (p Posterior) quantile(prob float64, upperTail bool) float64 {
	a, b := p.Alpha, p.Beta
	switch {
	case prob <= 0 && upperTail:
		return 1
	case prob <= 0:
		return 0
	}
	lowerProb := prob
	if upperTail {
		lowerProb = 1 - prob
	}
	x := mathext.InvRegIncBeta(a, b, lowerProb)
	if !(x > 0 && x < 1) {
		x = p.Mean()
	}
	for range 50 {
		var miss float64 // how far the CDF at x is above its target
		if upperTail {
			miss = prob - regIncBetaUpper(a, b, x)
		} else {
			miss = regIncBeta(a, b, x) - prob
		}
		density := math.Exp(logBetaKernel(a, b, x)) / (x * (1 - x))
		next := x - miss/density
		// Keep Newton inside (0, 1): step at most halfway to an end.
		switch {
		case !(next > x/2):
			next = x / 2
		case !(next < (1+x)/2):
			next = (1 + x) / 2
		}
		if math.Abs(next-x) <= 1e-15*math.Min(x, 1-x) {
			return next
		}
		x = next
	}
	return x
}
