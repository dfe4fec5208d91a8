package controllers

import (
	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/counters"
)

// armTotals returns the successes and failures of an arm's grow-only counter (base plus what
// every writer counted beyond what was folded for it), by the arithmetic the selectors share.
// It is the only place the controller reads counters.
func armTotals(c *promptsv1alpha1.RewardCounters) (successes, failures int64) {
	t := counters.Totals(c)
	return t.Successes, t.Failures
}
