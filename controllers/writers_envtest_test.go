package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/metrics"
)

// TestReportsSummedAndFolded checks that the controller sums the writers' counter reports into
// the arms' totals, publishes the report interval of the write budget, folds a deleted report
// into the ledger before it lets it go, and never changes the totals by a fold — not even when
// the deleted report's writer writes again late.
func TestReportsSummedAndFolded(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	startManager(t, ns, controllers.Options{CounterWriteBudget: 1, ReportFloor: 100 * time.Millisecond})
	foldsBefore := metrics.WriterFolds()
	ctx := context.Background()

	createPortfolio(t, ns, "crash", seeds("a", "Answer briefly.", "b", "Answer with an example."), nil)
	eventually(t, 30*time.Second, func() (bool, string) {
		pf := getPortfolio(t, ns, "crash")
		return pf.Status.ActiveArms == 2, fmt.Sprintf("%d active", pf.Status.ActiveArms)
	})

	flush(t, ns, "crash-a", "w-1", 10, 5)
	flush(t, ns, "crash-a", "w-2", 7, 3)
	flush(t, ns, "crash-b", "w-2", 2, 2)
	flush(t, ns, "crash-a", "w-3", 1, 1)
	waitTotals(t, ns, "crash-a", 18, 9)
	waitTotals(t, ns, "crash-b", 2, 2)
	// Three writers at a budget of one write per second: every three seconds each.
	if iv := armsOf(t, ns, "crash")["crash-a"].Status.ReportInterval; iv == nil || iv.Duration != 3*time.Second {
		t.Errorf("report interval %v, want 3s", iv)
	}

	// A deleted report is folded into the ledger and goes; the totals stay.
	rep := getReport(t, ns, counters.ReportName("w-2", "crash"))
	if err := env.Client.Delete(ctx, rep); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: rep.Name}, &promptsv1alpha1.PromptCounterReport{})
		return apierrors.IsNotFound(err), fmt.Sprintf("deleted report: %v", err)
	})
	ledger := getReport(t, ns, counters.LedgerName("crash"))
	if got := counters.Totals(ledger, nil); got["crash-a"] != (counters.Counts{Successes: 7, Failures: 3}) || got["crash-b"] != (counters.Counts{Successes: 2, Failures: 2}) {
		t.Errorf("ledger holds %+v, want crash-a 7/3 and crash-b 2/2", got)
	}
	waitTotals(t, ns, "crash-a", 18, 9)
	waitTotals(t, ns, "crash-b", 2, 2)
	eventually(t, 30*time.Second, func() (bool, string) {
		l := getReport(t, ns, counters.LedgerName("crash"))
		return len(l.Spec.Folded) == 0, fmt.Sprintf("folded records left: %+v", l.Spec.Folded)
	})
	if got := metrics.WriterFolds() - foldsBefore; got < 1 {
		t.Errorf("writer folds metric grew by %v, want at least 1", got)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		ev := eventsOf(t, ns, "crash")[controllers.EventWriterFolded]
		return hasAny(ev, "gone writers w-2"), fmt.Sprintf("%s events: %q", controllers.EventWriterFolded, ev)
	})

	// A writer that keeps writing while its report is being deleted has the increase counted.
	// The finalizer of another name holds the report so the late write can land after the fold;
	// the controller releases its own finalizer only as the last one.
	rep = getReport(t, ns, counters.ReportName("w-1", "crash"))
	rep.Finalizers = append(rep.Finalizers, "test.promptfolio.dev/hold")
	if err := env.Client.Update(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, rep); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		l := getReport(t, ns, counters.LedgerName("crash"))
		return len(l.Spec.Folded) == 1, fmt.Sprintf("folded records %+v", l.Spec.Folded)
	})
	if r := getReport(t, ns, rep.Name); len(r.Finalizers) != 2 {
		t.Errorf("finalizers %v: the fold finalizer was released before the other one", r.Finalizers)
	}
	flush(t, ns, "crash-a", "w-1", 12, 5)
	waitTotals(t, ns, "crash-a", 20, 9)
	r := getReport(t, ns, rep.Name)
	r.Finalizers = []string{promptsv1alpha1.FinalizerCounterFold}
	if err := env.Client.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: rep.Name}, &promptsv1alpha1.PromptCounterReport{})
		return apierrors.IsNotFound(err), fmt.Sprintf("deleted report: %v", err)
	})
	waitTotals(t, ns, "crash-a", 20, 9)
	ledger = getReport(t, ns, counters.LedgerName("crash"))
	if got := counters.Totals(ledger, nil)["crash-a"]; got != (counters.Counts{Successes: 19, Failures: 8}) {
		t.Errorf("ledger crash-a %+v, want 19/8 (w-1 and w-2)", got)
	}
}

// getReport reads a counter report.
func getReport(t *testing.T, ns, name string) *promptsv1alpha1.PromptCounterReport {
	t.Helper()
	rep := &promptsv1alpha1.PromptCounterReport{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// waitTotals waits until the arm's totals are successes and failures; totals written while
// waiting must never exceed them: a fold that counted twice would show there.
func waitTotals(t *testing.T, ns, arm string, successes, failures int64) {
	t.Helper()
	eventually(t, 30*time.Second, func() (bool, string) {
		st := armsOf(t, ns, "crash")[arm].Status
		if st.Successes > successes || st.Failures > failures {
			t.Fatalf("%s: totals %d/%d exceed %d/%d: counted twice", arm, st.Successes, st.Failures, successes, failures)
		}
		return st.Successes == successes && st.Failures == failures,
			fmt.Sprintf("%s: totals %d/%d, want %d/%d", arm, st.Successes, st.Failures, successes, failures)
	})
}
