package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
)

// delays is a work queue that records the delay of every addition.
type delays struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	got []time.Duration
}

func (d *delays) Add(reconcile.Request) { d.got = append(d.got, 0) }
func (d *delays) AddAfter(_ reconcile.Request, after time.Duration) {
	d.got = append(d.got, after)
}

// TestAggregationPacer checks that report changes aggregate at once after a quiet spell, and
// otherwise at the earliest one interval after the previous aggregation, joining the one
// scheduled.
func TestAggregationPacer(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	now := t0
	p := &aggregationPacer{interval: 5 * time.Second, now: func() time.Time { return now }, next: map[types.NamespacedName]time.Time{}}
	rep := &promptsv1alpha1.PromptCounterReport{}
	rep.Namespace, rep.Labels = "ns", map[string]string{promptsv1alpha1.LabelPortfolio: "pf"}
	q := &delays{}
	steps := []struct {
		at   time.Duration
		want []time.Duration // the delays added so far
	}{
		{0, []time.Duration{0}},                                // quiet: at once
		{time.Second, []time.Duration{0, 4 * time.Second}},     // 5s after the last
		{2 * time.Second, []time.Duration{0, 4 * time.Second}}, // joins the one scheduled
		{5 * time.Second, []time.Duration{0, 4 * time.Second, 5 * time.Second}},
		{30 * time.Second, []time.Duration{0, 4 * time.Second, 5 * time.Second, 0}}, // quiet again
	}
	for i, s := range steps {
		now = t0.Add(s.at)
		p.enqueue(rep, q)
		if len(q.got) != len(s.want) {
			t.Fatalf("step %d: delays %v, want %v", i, q.got, s.want)
		}
		for j := range s.want {
			if q.got[j] != s.want[j] {
				t.Fatalf("step %d: delays %v, want %v", i, q.got, s.want)
			}
		}
	}
}
