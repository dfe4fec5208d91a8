// Package posterior turns a PromptArm into the Beta posterior of its success rate: its prior
// (BetaPrior.Params, the one prior-defaulting rule) plus its totals, status.successes and
// status.failures, which the controller sums from the counter reports (counters.Totals, the one
// counting rule). The controller's statistics and evolution input and
// the plots use it; the selector, which adds the rewards it acknowledged itself, uses the same
// two rules for its own posterior.
package posterior

import (
	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/bandit"
)

// Counts returns the arm's successes and failures: the totals in its status.
func Counts(arm *v1alpha1.PromptArm) (successes, failures int64) {
	return arm.Status.Successes, arm.Status.Failures
}

// Of returns the arm's posterior Beta(prior alpha + successes, prior beta + failures).
func Of(arm *v1alpha1.PromptArm) bandit.Posterior {
	alpha, beta := arm.Spec.Prior.Params()
	s, f := Counts(arm)
	return bandit.NewPosterior(alpha, beta, s, f)
}
