// Package controllers holds the reconciler of promptfolio: it turns PromptPortfolios into
// PromptArms, keeps the arms' derived statistics current, and runs evolution cycles.
//
// The reconciler is thin. It reads a portfolio and its arms, asks the pure packages what to do
// (internal/bandit for statistics, internal/evolution for the cycle's plan, internal/schedule for
// when, internal/mutation for children), and writes the result: arm objects it creates, and status
// it applies with server-side apply under the field manager "promptfolio-controller". Selectors
// never write arms: each writes its counts into a PromptCounterReport of its own, which only the
// controller watches. reconcileWriters sums them (internal/counters) into the arms' totals and
// folds the reports of gone writers into the portfolio's ledger; see writers.go.
//
// One reconcile has a fixed shape, under a deadline:
//
//	fetch → not found (forget metrics) → being deleted (arms are garbage-collected); both release
//	the portfolio's deleted counter reports
//	→ snapshot → list arms → validate the evolution spec → reconcileArms → reconcileWriters
//	→ reconcileEvolution (skipped with a Stalled condition when the spec is invalid)
//	→ reconcileStatistics (once, after evolution changed the arms)
//	→ apply changed arm statuses
//	→ finalize (deferred, so it runs on every path after the snapshot): Ready, Reconciling and
//	  Stalled from the outcome, the portfolio status applied when it changed.
//
// The one exception to "one status write per reconcile" is the start of an evolution cycle: the
// cycle and its planned children are written to status.cycleInProgress before any child is
// created, so a controller killed mid-cycle finishes exactly that plan after a restart.
package controllers
