package controllers_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/counters"
)

// TestLedgerSeededFromPublishedTotals checks the rule for totals from before the ledger existed.
// A controller that starts where the arms' status holds totals but no ledger exists (a cluster
// upgraded from the data path in which arm status held the counts) keeps those totals: it
// creates the ledger seeded with them, once, says so in an event, and counts the rewards that
// reports add afterwards on top, exactly, through a fold too. A ledger deleted by hand while
// writers report is created again, seeded with what the totals hold beyond the live reports; a
// report that grew while no controller ran and no ledger existed has its growth taken into the
// seed, not on top (the documented price of the rule), and the next rewards count on top.
// A real watch on the arms checks that no total ever goes down meanwhile.
func TestLedgerSeededFromPublishedTotals(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	m := startManager(t, ns, controllers.Options{})
	createPortfolio(t, ns, "up", seeds("a", "Answer briefly.", "b", "Answer with an example."), nil)
	waitActiveArms(t, ns, "up", 2)
	// A brand-new portfolio: everything is 0, and its ledger is created empty.
	if ledger := waitLedger(t, ns, ""); len(ledger.Spec.Arms) != 0 {
		t.Errorf("the ledger of a new portfolio holds %+v, want nothing", ledger.Spec.Arms)
	}
	m.stop(t)

	// What an earlier data path leaves: the totals in the arms' status, and no ledger.
	deleteLedger(t, ns, "up")
	setPublishedTotals(t, ns, "up-a", 100, 40)
	setPublishedTotals(t, ns, "up-b", 7, 0)
	watchA := watchTotals(t, ns, "up-a")
	watchB := watchTotals(t, ns, "up-b")

	m = startManager(t, ns, controllers.Options{})
	waitLedger(t, ns, "")
	waitReady(t, ns, "up", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)
	waitTotalsOf(t, ns, "up", "up-a", 100, 40)
	waitTotalsOf(t, ns, "up", "up-b", 7, 0)
	assertLedgerArms(t, ns, map[string]counters.Counts{"up-a": {Successes: 100, Failures: 40}, "up-b": {Successes: 7, Failures: 0}})
	eventually(t, 30*time.Second, func() (bool, string) {
		ev := eventsOf(t, ns, "up")[promptsv1alpha1.EventLedgerSeeded]
		return hasAny(ev, "up-a 100/40 (published 100/40, reports 0/0)") && hasAny(ev, "up-b 7/0 (published 7/0, reports 0/0)"),
			fmt.Sprintf("%s events %q", promptsv1alpha1.EventLedgerSeeded, ev)
	})

	// New rewards count on top, exactly, and a fold of their report leaves the totals alone.
	flush(t, ns, "up-a", "w-1", 3, 2)
	flush(t, ns, "up-b", "w-1", 1, 1)
	waitTotalsOf(t, ns, "up", "up-a", 103, 42)
	waitTotalsOf(t, ns, "up", "up-b", 8, 1)
	if err := env.Client.Delete(ctx, getReport(t, ns, counters.ReportName("w-1", "up"))); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, counters.ReportName("w-1", "up"))
	waitTotalsOf(t, ns, "up", "up-a", 103, 42)
	waitTotalsOf(t, ns, "up", "up-b", 8, 1)
	// The seed is not taken again: the ledger holds it plus the fold.
	assertLedgerArms(t, ns, map[string]counters.Counts{"up-a": {Successes: 103, Failures: 42}, "up-b": {Successes: 8, Failures: 1}})

	// A ledger deleted by hand while a writer reports: the new one holds what the totals hold
	// beyond that writer's report, and the writer's next rewards count on top.
	flush(t, ns, "up-a", "w-2", 10, 5)
	waitTotalsOf(t, ns, "up", "up-a", 113, 47)
	old := getReport(t, ns, counters.LedgerName("up")).UID
	deleteLedger(t, ns, "up")
	waitLedger(t, ns, old)
	assertLedgerArms(t, ns, map[string]counters.Counts{"up-a": {Successes: 103, Failures: 42}, "up-b": {Successes: 8, Failures: 1}})
	flush(t, ns, "up-a", "w-2", 12, 6)
	waitTotalsOf(t, ns, "up", "up-a", 115, 48)
	waitTotalsOf(t, ns, "up", "up-b", 8, 1)
	assertLedgerArms(t, ns, map[string]counters.Counts{"up-a": {Successes: 103, Failures: 42}, "up-b": {Successes: 8, Failures: 1}})
	eventually(t, 30*time.Second, func() (bool, string) {
		ev := eventsOf(t, ns, "up")[promptsv1alpha1.EventLedgerSeeded]
		return hasAny(ev, "up-a 103/42 (published 113/47, reports 10/5)"), fmt.Sprintf("%s events %q", promptsv1alpha1.EventLedgerSeeded, ev)
	})

	// A report that grew after the totals were published, with no ledger: the growth goes into
	// the seed, not on top of it. The totals stay; nothing is counted twice.
	m.stop(t)
	flush(t, ns, "up-a", "w-2", 20, 10)
	old = getReport(t, ns, counters.LedgerName("up")).UID
	deleteLedger(t, ns, "up")
	startManager(t, ns, controllers.Options{})
	waitLedger(t, ns, old)
	assertLedgerArms(t, ns, map[string]counters.Counts{"up-a": {Successes: 95, Failures: 38}, "up-b": {Successes: 8, Failures: 1}})
	waitReady(t, ns, "up", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)
	waitTotalsOf(t, ns, "up", "up-a", 115, 48)
	flush(t, ns, "up-a", "w-2", 21, 10)
	waitTotalsOf(t, ns, "up", "up-a", 116, 48)
	watchA()
	watchB()
}

// waitLedger waits until portfolio "up"'s ledger exists with another uid than old, and returns it.
func waitLedger(t *testing.T, ns string, old types.UID) *promptsv1alpha1.PromptCounterReport {
	t.Helper()
	var l *promptsv1alpha1.PromptCounterReport
	eventually(t, 30*time.Second, func() (bool, string) {
		l = &promptsv1alpha1.PromptCounterReport{}
		err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: counters.LedgerName("up")}, l)
		return err == nil && l.UID != old, fmt.Sprintf("ledger: %v", err)
	})
	return l
}

// deleteLedger deletes a portfolio's ledger and waits until it is gone.
func deleteLedger(t *testing.T, ns, portfolio string) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), getReport(t, ns, counters.LedgerName(portfolio))); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, counters.LedgerName(portfolio))
}

// waitGone waits until the counter report ns/name no longer exists.
func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &promptsv1alpha1.PromptCounterReport{})
		return apierrors.IsNotFound(err), fmt.Sprintf("report %s: %v", name, err)
	})
}

// setPublishedTotals writes an arm's status.successes and status.failures, as a controller of
// the earlier data path published them.
func setPublishedTotals(t *testing.T, ns, arm string, successes, failures int64) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"status":{"successes":%d,"failures":%d}}`, successes, failures)
	obj := get(t, ns, arm, &promptsv1alpha1.PromptArm{})
	if err := env.Client.Status().Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
}

// assertLedgerArms checks the counts of portfolio "up"'s ledger.
func assertLedgerArms(t *testing.T, ns string, want map[string]counters.Counts) {
	t.Helper()
	if got := counters.Totals(getReport(t, ns, counters.LedgerName("up")), nil); !reflect.DeepEqual(got, want) {
		t.Errorf("ledger holds %+v, want %+v", got, want)
	}
}

// watchTotals watches an arm on the API server and fails the test when its successes or
// failures ever go down; call the returned function to stop and check.
func watchTotals(t *testing.T, ns, arm string) (stop func()) {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	start := get(t, ns, arm, &promptsv1alpha1.PromptArm{})
	w, err := wc.Watch(context.Background(), &promptsv1alpha1.PromptArmList{}, client.InNamespace(ns),
		client.MatchingFields{"metadata.name": arm}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: start.ResourceVersion}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		errs   []string
		events int
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := start.Status
		for ev := range w.ResultChan() {
			a, ok := ev.Object.(*promptsv1alpha1.PromptArm)
			if !ok {
				continue
			}
			mu.Lock()
			events++
			if a.Status.Successes < last.Successes || a.Status.Failures < last.Failures {
				errs = append(errs, fmt.Sprintf("%d/%d after %d/%d", a.Status.Successes, a.Status.Failures, last.Successes, last.Failures))
			}
			mu.Unlock()
			last = a.Status
		}
	}()
	return func() {
		t.Helper()
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(errs) > 0 {
			t.Errorf("%s: totals went down: %v", arm, errs)
		}
		if events == 0 {
			t.Errorf("%s: the watch saw no write", arm)
		}
	}
}
