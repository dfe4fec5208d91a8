package v1alpha1

import "math"

// Params returns the prior's alpha and beta. The API server defaults both to 1; an object that
// did not pass through it (a client that skipped defaulting, an object built in memory) gets the
// same rule here: a parameter that is not a finite number greater than 0 — 0 when unset — is 1.
// Every reader of a prior (the controller, the selector, the plots) goes through this method.
func (p BetaPrior) Params() (alpha, beta float64) {
	return priorParam(p.Alpha), priorParam(p.Beta)
}

func priorParam(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 1) {
		return 1
	}
	return x
}
