package counters

import "github.com/promptfolio/promptfolio/api/v1alpha1"

// Seed returns the arm counts of a ledger created where none exists, so that no published total
// goes backwards: per arm and per count, max(0, published − what the reports contribute without
// a ledger). published holds the totals the arms' status shows; reports are the portfolio's
// writer reports (ledger reports among them are ignored). Arms whose seed is zero have no entry;
// the result is sorted by arm.
//
// With that seed, Totals(ledger, reports) = max(published, Totals(nil, reports)) per arm and
// count. No count is counted twice: a published total is what the arms held before the ledger
// existed (counts of an earlier data path, or a lost ledger's) plus at most what the reports held
// when it was computed, and reports only grow, so the sum never exceeds those counts plus the
// reports. The price is the other way round: what the reports gained after the totals were
// published goes into the seed rather than on top of it, up to what the published totals held
// beyond the reports (see docs/controller.md).
//
// Seeding is once per ledger: callers seed only a ledger they create, and the ledger's
// existence marks it done. An empty ledger is a seeded one.
func Seed(published map[string]Counts, reports []*v1alpha1.PromptCounterReport) []v1alpha1.ArmCount {
	contributed := Totals(nil, reports)
	var seed []v1alpha1.ArmCount
	for arm, p := range published {
		c := contributed[arm]
		s := Counts{max(0, p.Successes-c.Successes), max(0, p.Failures-c.Failures)}
		if s == (Counts{}) {
			continue
		}
		seed = append(seed, v1alpha1.ArmCount{Arm: arm, Successes: s.Successes, Failures: s.Failures})
	}
	sortCounts(seed)
	return seed
}
