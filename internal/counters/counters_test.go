package counters

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

func ac(arm string, s, f int64) v1alpha1.ArmCount {
	return v1alpha1.ArmCount{Arm: arm, Successes: s, Failures: f}
}

func writer(name string, uid types.UID, arms ...v1alpha1.ArmCount) *v1alpha1.PromptCounterReport {
	return &v1alpha1.PromptCounterReport{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: uid},
		Spec:       v1alpha1.PromptCounterReportSpec{Portfolio: "pf", Role: v1alpha1.RoleWriter, Arms: arms},
	}
}

func ledgerOf(arms []v1alpha1.ArmCount, folded ...v1alpha1.FoldedReport) *v1alpha1.PromptCounterReport {
	return &v1alpha1.PromptCounterReport{
		ObjectMeta: metav1.ObjectMeta{Name: "pf"},
		Spec:       v1alpha1.PromptCounterReportSpec{Portfolio: "pf", Role: v1alpha1.RoleLedger, Arms: arms, Folded: folded},
	}
}

func TestTotals(t *testing.T) {
	tests := []struct {
		name    string
		ledger  *v1alpha1.PromptCounterReport
		reports []*v1alpha1.PromptCounterReport
		want    map[string]Counts
	}{
		{"nothing", nil, nil, map[string]Counts{}},
		{"writers add up", nil, []*v1alpha1.PromptCounterReport{
			writer("w1.pf", "u1", ac("a", 2, 3)), writer("w2.pf", "u2", ac("a", 1, 0), ac("b", 4, 4)),
		}, map[string]Counts{"a": {3, 3}, "b": {4, 4}}},
		{"ledger plus writers", ledgerOf([]v1alpha1.ArmCount{ac("a", 10, 10)}), []*v1alpha1.PromptCounterReport{
			writer("w1.pf", "u1", ac("a", 1, 1)),
		}, map[string]Counts{"a": {11, 11}}},
		{"a folded report counts beyond its record only", ledgerOf([]v1alpha1.ArmCount{ac("a", 5, 5)},
			v1alpha1.FoldedReport{Report: "w1.pf", UID: "u1", Arms: []v1alpha1.ArmCount{ac("a", 5, 5)}}),
			[]*v1alpha1.PromptCounterReport{writer("w1.pf", "u1", ac("a", 7, 5))},
			map[string]Counts{"a": {7, 5}}},
		{"a record of another uid does not apply", ledgerOf([]v1alpha1.ArmCount{ac("a", 5, 5)},
			v1alpha1.FoldedReport{Report: "w1.pf", UID: "old", Arms: []v1alpha1.ArmCount{ac("a", 5, 5)}}),
			[]*v1alpha1.PromptCounterReport{writer("w1.pf", "new", ac("a", 1, 0))},
			map[string]Counts{"a": {6, 5}}},
		{"ledgers among reports are ignored", nil, []*v1alpha1.PromptCounterReport{ledgerOf([]v1alpha1.ArmCount{ac("a", 9, 9)})},
			map[string]Counts{}},
		{"negative counts count as zero", nil, []*v1alpha1.PromptCounterReport{writer("w1.pf", "u1", ac("a", -3, 2))},
			map[string]Counts{"a": {0, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Totals(tt.ledger, tt.reports)
			if len(got) != len(tt.want) {
				t.Fatalf("Totals = %+v, want %+v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("Totals[%s] = %+v, want %+v", k, got[k], v)
				}
			}
		})
	}
}

// TestFoldKeepsTotals folds reports, again, after a late write, and after the record was pruned,
// and checks that the totals never change by a fold.
func TestFoldKeepsTotals(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	l := ledgerOf(nil)
	w1 := writer("w1.pf", "u1", ac("a", 3, 4), ac("b", 1, 0))
	w2 := writer("w2.pf", "u2", ac("a", 10, 0))
	reports := []*v1alpha1.PromptCounterReport{w1, w2}
	check := func(step string, want map[string]Counts) {
		t.Helper()
		got := Totals(l, reports)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: Totals[%s] = %+v, want %+v", step, k, got[k], v)
			}
		}
	}
	check("before", map[string]Counts{"a": {13, 4}, "b": {1, 0}})
	moved, changed := Fold(l, w1, now)
	if !changed || moved != (Counts{4, 4}) {
		t.Errorf("first fold moved %+v changed %v", moved, changed)
	}
	check("after fold", map[string]Counts{"a": {13, 4}, "b": {1, 0}})
	if _, changed := Fold(l, w1, now); changed {
		t.Error("folding again changed the ledger")
	}
	w1.Spec.Arms[0].Successes = 5 // a late write
	check("after a late write", map[string]Counts{"a": {15, 4}})
	if moved, _ := Fold(l, w1, now); moved != (Counts{2, 0}) {
		t.Errorf("fold of the late write moved %+v", moved)
	}
	check("after folding the late write", map[string]Counts{"a": {15, 4}})
	// The report goes; its record is pruned; the ledger alone carries it.
	reports = []*v1alpha1.PromptCounterReport{w2}
	if !Prune(l, func(name string, uid types.UID) bool { return name == "w2.pf" && uid == "u2" }) || len(l.Spec.Folded) != 0 {
		t.Errorf("prune left %+v", l.Spec.Folded)
	}
	check("after prune", map[string]Counts{"a": {15, 4}, "b": {1, 0}})
	if l.Spec.UpdateTime == nil {
		t.Error("a changed ledger has no update time")
	}
}

// TestInterval checks the report interval of a fleet: its writes at that interval (the cadence)
// plus the final writes of a ninth of the fleet replaced within one interval stay within the
// budget, and the floor bounds it below.
func TestInterval(t *testing.T) {
	tests := []struct {
		writers int
		budget  float64
		want    time.Duration
	}{
		{0, 50, time.Second},
		{1, 50, time.Second},
		{40, 50, time.Second},
		{45, 50, time.Second},
		{46, 50, 1100 * time.Millisecond},
		{100, 50, 2300 * time.Millisecond},
		{1000, 50, 22300 * time.Millisecond},
		{10000, 50, 222300 * time.Millisecond},
		{1000, 200, 5600 * time.Millisecond},
		{10, 0, time.Second},
		{10, -1, time.Second},
	}
	for _, tt := range tests {
		got := Interval(tt.writers, tt.budget, time.Second)
		if got != tt.want {
			t.Errorf("Interval(%d, %v) = %v, want %v", tt.writers, tt.budget, got, tt.want)
		}
		if tt.budget <= 0 || got == time.Second {
			continue
		}
		// One interval's writes: the cadence, and the final writes of the writers replaced.
		cadence := float64(tt.writers)
		churn := float64(tt.writers) / 9
		if limit := tt.budget * got.Seconds(); cadence+churn > limit {
			t.Errorf("Interval(%d, %v) = %v: %.0f cadence and %.0f final writes per interval exceed the budget's %.0f",
				tt.writers, tt.budget, got, cadence, churn, limit)
		}
	}
}
