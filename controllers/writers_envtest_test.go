package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/metrics"
)

// TestGoneWritersFolded checks that the controller folds the counter entries of writers whose
// Lease is missing or expired beyond the grace, leaves live writers alone, deletes expired
// Leases, and never changes the totals — not even when a folded writer applies again late.
func TestGoneWritersFolded(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	const grace = 3 * time.Second
	startManager(t, ns, controllers.Options{WriterGrace: grace})
	foldsBefore := metrics.WriterFolds()

	createPortfolio(t, ns, "crash", seeds("a", "Answer briefly.", "b", "Answer with an example."), nil)
	eventually(t, 30*time.Second, func() (bool, string) {
		pf := getPortfolio(t, ns, "crash")
		return pf.Status.ActiveArms == 2, fmt.Sprintf("%d active", pf.Status.ActiveArms)
	})

	now := time.Now()
	createWriterLease(t, ns, "w-live", now, 3600)
	createWriterLease(t, ns, "w-expired", now.Add(-time.Hour), 10)
	// w-live holds a fresh Lease; w-expired's Lease expired an hour ago; w-old has no Lease and
	// flushed an hour ago; w-fresh has no Lease and just flushed, so it is gone after the grace.
	flush(t, ns, "crash-a", "w-live", 10, 5)
	flush(t, ns, "crash-a", "w-expired", 7, 3)
	flushAt(t, ns, "crash-a", "w-old", 4, 4, now.Add(-time.Hour))
	flush(t, ns, "crash-a", "w-fresh", 1, 2)
	flush(t, ns, "crash-b", "w-expired", 2, 2)

	waitFolded(t, ns, "crash-a", []string{"w-live"}, promptsv1alpha1.RewardCount{Successes: 12, Failures: 9}, 22, 14)
	waitFolded(t, ns, "crash-b", nil, promptsv1alpha1.RewardCount{Successes: 2, Failures: 2}, 2, 2)
	a := armsOf(t, ns, "crash")["crash-a"]
	for _, w := range []string{"w-expired", "w-old", "w-fresh"} {
		if !slices.ContainsFunc(a.Status.Counters.Folded, func(f promptsv1alpha1.WriterCount) bool { return f.Writer == w }) {
			t.Errorf("crash-a: no folded record of %s: %+v", w, a.Status.Counters.Folded)
		}
	}
	if got := metrics.WriterFolds() - foldsBefore; got < 4 {
		t.Errorf("writer folds metric grew by %v, want at least 4", got)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		ev := eventsOf(t, ns, "crash")[controllers.EventWriterFolded]
		return hasAny(ev, "gone writers w-"), fmt.Sprintf("%s events: %q", controllers.EventWriterFolded, ev)
	})

	// The expired Lease is deleted; the live one stays.
	eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "w-expired"}, &coordinationv1.Lease{})
		return apierrors.IsNotFound(err), fmt.Sprintf("expired Lease: %v", err)
	})
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "w-live"}, &coordinationv1.Lease{}); err != nil {
		t.Errorf("live Lease: %v", err)
	}

	// A late apply of a folded writer with the values that were folded adds nothing; it is
	// folded again once its grace has passed.
	flush(t, ns, "crash-a", "w-expired", 7, 3)
	waitFolded(t, ns, "crash-a", []string{"w-live"}, promptsv1alpha1.RewardCount{Successes: 12, Failures: 9}, 22, 14)
	// A late apply with higher values adds only the increase.
	flush(t, ns, "crash-a", "w-expired", 9, 3)
	waitFolded(t, ns, "crash-a", []string{"w-live"}, promptsv1alpha1.RewardCount{Successes: 14, Failures: 9}, 24, 14)
}

// createWriterLease creates a selector writer's Lease last renewed at renewed.
func createWriterLease(t *testing.T, ns, writer string, renewed time.Time, seconds int32) {
	t.Helper()
	at := metav1.NewMicroTime(renewed)
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: counters.LeaseName(writer), Namespace: ns, Labels: map[string]string{counters.LeaseLabel: "true"}},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To(writer), LeaseDurationSeconds: ptr.To(seconds), AcquireTime: &at, RenewTime: &at,
		},
	}
	if err := env.Client.Create(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
}

// waitFolded waits until arm's writer entries are exactly writers and its base is base, and
// checks that the totals the controller wrote are successes and failures. Totals written while
// waiting must never exceed them: a fold that counted twice would show there.
func waitFolded(t *testing.T, ns, arm string, writers []string, base promptsv1alpha1.RewardCount, successes, failures int64) {
	t.Helper()
	eventually(t, 30*time.Second, func() (bool, string) {
		a := armsOf(t, ns, "crash")[arm]
		st := a.Status
		if st.Successes > successes || st.Failures > failures {
			t.Fatalf("%s: totals %d/%d exceed %d/%d: counted twice", arm, st.Successes, st.Failures, successes, failures)
		}
		var got []string
		var gotBase promptsv1alpha1.RewardCount
		if st.Counters != nil {
			gotBase = st.Counters.Base
			for _, w := range st.Counters.Writers {
				got = append(got, w.Writer)
			}
		}
		ok := slices.Equal(got, writers) && gotBase == base && st.Successes == successes && st.Failures == failures
		return ok, fmt.Sprintf("%s: writers %v base %+v totals %d/%d; want writers %v base %+v totals %d/%d",
			arm, got, gotBase, st.Successes, st.Failures, writers, base, successes, failures)
	})
}
