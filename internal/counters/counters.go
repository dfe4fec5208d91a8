// Package counters is the arithmetic of reward counts: the cumulative counts each writer (a
// selector process) reports in a PromptCounterReport of its own, and the portfolio's ledger, the
// controller's report that absorbs the counts of writers that are gone.
//
// The package is pure: it reads and changes v1alpha1 values and never talks to the API server.
//
// # The invariant
//
// A writer only ever raises its counts (the API server rejects a write that lowers one), and
// writes them whole, so a retried or late write is harmless. When a writer's report is deleted
// (garbage collection removes it with its pod), its finalizer keeps it until the controller has
// folded it: the ledger gains what the report holds beyond what was folded for it before, and
// records the report's counts in ledger.folded. An arm's total is therefore
//
//	Totals = ledger.arms + Σ_reports max(0, report − folded[report])
//
// which a fold does not change, which a late write of a folded report raises only by what it
// adds, and which folding again leaves alone. A folded record is dropped (Prune) once its report
// is gone for good; from then on the ledger alone carries its counts.
package counters

import (
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// Counts is a pair of reward counts.
type Counts struct {
	Successes, Failures int64
}

// Add returns c + d.
func (c Counts) Add(d Counts) Counts {
	return Counts{c.Successes + d.Successes, c.Failures + d.Failures}
}

// Trials returns successes plus failures.
func (c Counts) Trials() int64 { return c.Successes + c.Failures }

// ReportName returns the name of writer's report of portfolio: "<writer>.<portfolio>". The dot
// keeps it apart from the ledger, which is named like the portfolio.
func ReportName(writer, portfolio string) string {
	return writer + "." + portfolio
}

// LedgerName returns the name of a portfolio's ledger report.
func LedgerName(portfolio string) string { return portfolio }

// IsLedger reports whether r is a ledger.
func IsLedger(r *v1alpha1.PromptCounterReport) bool {
	return r.Spec.Role == v1alpha1.RoleLedger
}

// Totals returns every arm's total: the ledger's counts plus what each writer report holds
// beyond what the ledger folded of it. ledger may be nil; ledger reports among reports are
// ignored. Negative counts (which validation forbids) count as zero.
func Totals(ledger *v1alpha1.PromptCounterReport, reports []*v1alpha1.PromptCounterReport) map[string]Counts {
	totals := map[string]Counts{}
	var folded []v1alpha1.FoldedReport
	if ledger != nil {
		for _, a := range ledger.Spec.Arms {
			totals[a.Arm] = totals[a.Arm].Add(Counts{max(0, a.Successes), max(0, a.Failures)})
		}
		folded = ledger.Spec.Folded
	}
	for _, r := range reports {
		if IsLedger(r) {
			continue
		}
		done := foldedOf(folded, r.Name, r.UID)
		for _, a := range r.Spec.Arms {
			totals[a.Arm] = totals[a.Arm].Add(beyond(a, done))
		}
	}
	return totals
}

// beyond returns what a holds beyond the same arm's entry of done.
func beyond(a v1alpha1.ArmCount, done []v1alpha1.ArmCount) Counts {
	var d v1alpha1.ArmCount
	if i := indexOf(done, a.Arm); i >= 0 {
		d = done[i]
	}
	return Counts{max(0, a.Successes-max(0, d.Successes)), max(0, a.Failures-max(0, d.Failures))}
}

// foldedOf returns the counts folded of the report named name with uid, or nil.
func foldedOf(folded []v1alpha1.FoldedReport, name string, uid types.UID) []v1alpha1.ArmCount {
	for _, f := range folded {
		if f.Report == name && f.UID == uid {
			return f.Arms
		}
	}
	return nil
}

// Fold moves what report r holds beyond its folded record into the ledger and raises the
// record to r's counts, leaving Totals unchanged. It returns what moved and whether the ledger
// changed.
func Fold(ledger *v1alpha1.PromptCounterReport, r *v1alpha1.PromptCounterReport, now time.Time) (Counts, bool) {
	var moved Counts
	i := slices.IndexFunc(ledger.Spec.Folded, func(f v1alpha1.FoldedReport) bool { return f.Report == r.Name })
	if i >= 0 && ledger.Spec.Folded[i].UID != r.UID {
		// A record of an older report of the same name: that report is gone.
		ledger.Spec.Folded = slices.Delete(ledger.Spec.Folded, i, i+1)
		i = -1
	}
	if i < 0 {
		ledger.Spec.Folded = append(ledger.Spec.Folded, v1alpha1.FoldedReport{Report: r.Name, UID: r.UID})
		i = len(ledger.Spec.Folded) - 1
	}
	rec := &ledger.Spec.Folded[i]
	changed := false
	for _, a := range r.Spec.Arms {
		add := beyond(a, rec.Arms)
		if add == (Counts{}) {
			continue
		}
		changed = true
		moved = moved.Add(add)
		AddTo(&ledger.Spec.Arms, a.Arm, add)
		j := indexOf(rec.Arms, a.Arm)
		if j < 0 {
			rec.Arms = append(rec.Arms, v1alpha1.ArmCount{Arm: a.Arm})
			j = len(rec.Arms) - 1
		}
		rec.Arms[j].Successes = max(rec.Arms[j].Successes, a.Successes)
		rec.Arms[j].Failures = max(rec.Arms[j].Failures, a.Failures)
	}
	sortCounts(rec.Arms)
	slices.SortFunc(ledger.Spec.Folded, func(a, b v1alpha1.FoldedReport) int { return strings.Compare(a.Report, b.Report) })
	if changed {
		stamp(ledger, now)
	}
	return moved, changed
}

// Prune drops the folded records whose report no longer exists (exists reports whether a report
// of that name and uid does) and reports whether it dropped any. Call it only with what the
// caller knows: a record dropped while its report still exists would count that report twice.
func Prune(ledger *v1alpha1.PromptCounterReport, exists func(name string, uid types.UID) bool) bool {
	before := len(ledger.Spec.Folded)
	ledger.Spec.Folded = slices.DeleteFunc(ledger.Spec.Folded, func(f v1alpha1.FoldedReport) bool {
		return !exists(f.Report, f.UID)
	})
	return len(ledger.Spec.Folded) != before
}

// AddTo adds c to arm's entry of list, creating it, and keeps list sorted by arm.
func AddTo(list *[]v1alpha1.ArmCount, arm string, c Counts) {
	i := indexOf(*list, arm)
	if i < 0 {
		*list = append(*list, v1alpha1.ArmCount{Arm: arm})
		i = len(*list) - 1
	}
	(*list)[i].Successes += c.Successes
	(*list)[i].Failures += c.Failures
	sortCounts(*list)
}

// ChurnReserve is the share of a portfolio's write budget that the report cadence leaves free
// for the writes a changing fleet adds on top of it: the final write of every writer that stops
// (a graceful stop writes what it acknowledged since its last write, whatever the cadence). A new
// writer adds none: its report is created by its first write, which falls at a random point of
// its first interval like every later one. With 10% the cadence sends 90% of the budget, and a
// fleet can replace a ninth of its writers per report interval (a rollout of 1,000 writers in
// about nine intervals) and stay within the budget over that interval.
const ChurnReserve = 0.1

// Interval returns how often each of writers writers should report so that their writes, with
// the churn reserve, stay within budget writes per second: writers / (budget × (1 −
// ChurnReserve)), rounded up to 100 ms, never shorter than floor.
func Interval(writers int, budget float64, floor time.Duration) time.Duration {
	if budget <= 0 || writers <= 0 {
		return floor
	}
	const step = 100 * time.Millisecond
	d := time.Duration(float64(writers) / (budget * (1 - ChurnReserve)) * float64(time.Second))
	return max(floor, (d + step - 1).Truncate(step))
}

func stamp(r *v1alpha1.PromptCounterReport, now time.Time) {
	t := metavTime(now)
	r.Spec.UpdateTime = &t
}

func sortCounts(list []v1alpha1.ArmCount) {
	slices.SortFunc(list, func(a, b v1alpha1.ArmCount) int { return strings.Compare(a.Arm, b.Arm) })
}

func indexOf(list []v1alpha1.ArmCount, arm string) int {
	return slices.IndexFunc(list, func(a v1alpha1.ArmCount) bool { return a.Arm == arm })
}

// metavTime returns now as the API stores it: UTC, whole seconds.
func metavTime(now time.Time) metav1.Time {
	return metav1.NewTime(now.UTC().Truncate(time.Second))
}
