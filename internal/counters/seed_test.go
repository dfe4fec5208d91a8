package counters

import (
	"reflect"
	"testing"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

func TestSeed(t *testing.T) {
	tests := []struct {
		name      string
		published map[string]Counts
		reports   []*v1alpha1.PromptCounterReport
		want      []v1alpha1.ArmCount
	}{
		{"a new portfolio: nothing published, nothing reported", map[string]Counts{"a": {}, "b": {}}, nil, nil},
		{"upgraded: the published totals, no reports yet", map[string]Counts{"a": {100, 40}, "b": {3, 0}}, nil,
			[]v1alpha1.ArmCount{ac("a", 100, 40), ac("b", 3, 0)}},
		{"what the reports contribute is not seeded", map[string]Counts{"a": {17, 8}}, []*v1alpha1.PromptCounterReport{
			writer("w1.pf", "u1", ac("a", 10, 5)),
		}, []v1alpha1.ArmCount{ac("a", 7, 3)}},
		{"reports that grew after publishing: the growth is absorbed, never added twice", map[string]Counts{"a": {10, 5}},
			[]*v1alpha1.PromptCounterReport{writer("w1.pf", "u1", ac("a", 12, 6))}, nil},
		{"each count on its own", map[string]Counts{"a": {10, 5}},
			[]*v1alpha1.PromptCounterReport{writer("w1.pf", "u1", ac("a", 4, 9))}, []v1alpha1.ArmCount{ac("a", 6, 0)}},
		{"several writers", map[string]Counts{"a": {20, 20}}, []*v1alpha1.PromptCounterReport{
			writer("w1.pf", "u1", ac("a", 5, 1)), writer("w2.pf", "u2", ac("a", 5, 1), ac("b", 9, 9)),
		}, []v1alpha1.ArmCount{ac("a", 10, 18)}},
		{"arms the reports name but nothing published are not seeded", map[string]Counts{},
			[]*v1alpha1.PromptCounterReport{writer("w1.pf", "u1", ac("gone", 5, 5))}, nil},
		{"a ledger among the reports is ignored", map[string]Counts{"a": {9, 9}},
			[]*v1alpha1.PromptCounterReport{ledgerOf([]v1alpha1.ArmCount{ac("a", 9, 9)})}, []v1alpha1.ArmCount{ac("a", 9, 9)}},
		{"negative published totals count as zero", map[string]Counts{"a": {-4, 2}}, nil, []v1alpha1.ArmCount{ac("a", 0, 2)}},
		{"sorted by arm", map[string]Counts{"c": {1, 0}, "a": {1, 0}, "b": {1, 0}}, nil,
			[]v1alpha1.ArmCount{ac("a", 1, 0), ac("b", 1, 0), ac("c", 1, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Seed(tt.published, tt.reports)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Seed = %+v, want %+v", got, tt.want)
			}
			// The published totals never go backwards, and never exceed them plus the reports.
			totals := Totals(ledgerOf(got), tt.reports)
			reported := Totals(nil, tt.reports)
			for arm, p := range tt.published {
				p = Counts{max(0, p.Successes), max(0, p.Failures)}
				r, tot := reported[arm], totals[arm]
				if want := (Counts{max(p.Successes, r.Successes), max(p.Failures, r.Failures)}); tot != want {
					t.Errorf("%s: totals %+v after seeding, want max(published %+v, reports %+v)", arm, tot, p, r)
				}
			}
		})
	}
}
