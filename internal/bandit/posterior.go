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
// probability level (for example 0.95): the (1-level)/2 and (1+level)/2
// quantiles. It returns NaN, NaN for an invalid posterior or a level outside
// [0, 1].
func (p Posterior) CredibleInterval(level float64) (lower, upper float64) {
	if !p.Valid() || !(level >= 0 && level <= 1) {
		return math.NaN(), math.NaN()
	}
	tail := (1 - level) / 2
	return mathext.InvRegIncBeta(p.Alpha, p.Beta, tail), mathext.InvRegIncBeta(p.Alpha, p.Beta, 1-tail)
}
