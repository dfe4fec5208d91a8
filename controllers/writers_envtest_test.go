package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

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
	ns := newNamespace(t)
	startManager(t, ns, controllers.Options{CounterWriteBudget: 1, ReportFloor: 100 * time.Millisecond})
	foldsBefore := metrics.WriterFolds()
	ctx := context.Background()

	createPortfolio(t, ns, "crash", seeds("a", "Answer briefly.", "b", "Answer with an example."), nil)
	waitActiveArms(t, ns, "crash", 2)

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
	waitTotalsOf(t, ns, "crash", arm, successes, failures)
}

// waitTotalsOf is waitTotals for an arm of any portfolio.
func waitTotalsOf(t *testing.T, ns, portfolio, arm string, successes, failures int64) {
	t.Helper()
	eventually(t, 30*time.Second, func() (bool, string) {
		st := armsOf(t, ns, portfolio)[arm].Status
		if st.Successes > successes || st.Failures > failures {
			t.Fatalf("%s: totals %d/%d exceed %d/%d: counted twice", arm, st.Successes, st.Failures, successes, failures)
		}
		return st.Successes == successes && st.Failures == failures,
			fmt.Sprintf("%s: totals %d/%d, want %d/%d", arm, st.Successes, st.Failures, successes, failures)
	})
}

// TestFoldFailureReachesStatus checks that a fold the API server refuses makes the portfolio
// Ready=False (CountersUnavailable, with the refusal in the message) while the totals, which a
// fold does not change, go on being summed; and that the portfolio turns Ready again, the fold
// done, once the refusal is lifted. The refusal is a real ValidatingAdmissionPolicy of the API
// server that denies writes of the namespace's ledger.
func TestFoldFailureReachesStatus(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, ns, controllers.Options{})
	ctx := context.Background()

	createPortfolio(t, ns, "held", seeds("a", "Answer briefly.", "b", "Answer with an example."), nil)
	waitActiveArms(t, ns, "held", 2)
	flush(t, ns, "held-a", "w-1", 5, 5)
	waitTotalsOf(t, ns, "held", "held-a", 5, 5)
	waitReady(t, ns, "held", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)

	const refusal = "ledger writes are refused in this namespace"
	lift := refuseLedgerWrites(t, ns, refusal)
	rep := getReport(t, ns, counters.ReportName("w-1", "held"))
	if err := env.Client.Delete(ctx, rep); err != nil {
		t.Fatal(err)
	}
	pf := waitReady(t, ns, "held", metav1.ConditionFalse, promptsv1alpha1.ReasonCountersUnavailable, 30*time.Second)
	if c := condition(pf, promptsv1alpha1.ConditionReady); !strings.Contains(c.Message, refusal) || !strings.Contains(c.Message, "folding") {
		t.Errorf("Ready message %q does not say that the fold was refused", c.Message)
	}
	if c := condition(pf, promptsv1alpha1.ConditionReconciling); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling is %+v while the fold is retried, want True", c)
	}
	// The totals are still summed: the deleted report's counts and a new writer's.
	flush(t, ns, "held-a", "w-2", 3, 1)
	waitTotalsOf(t, ns, "held", "held-a", 8, 6)
	if r := getReport(t, ns, rep.Name); !slices.Contains(r.Finalizers, promptsv1alpha1.FinalizerCounterFold) {
		t.Fatalf("the report was released without its fold: finalizers %v", r.Finalizers)
	}

	lift()
	eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: rep.Name}, &promptsv1alpha1.PromptCounterReport{})
		return apierrors.IsNotFound(err), fmt.Sprintf("deleted report: %v", err)
	})
	waitReady(t, ns, "held", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)
	waitTotalsOf(t, ns, "held", "held-a", 8, 6)
	if got := counters.Totals(getReport(t, ns, counters.LedgerName("held")), nil)["held-a"]; got != (counters.Counts{Successes: 5, Failures: 5}) {
		t.Errorf("ledger holds %+v of held-a, want 5/5", got)
	}
}

// TestReportListFailureReachesStatus checks that a reconcile that cannot read the counter
// reports fails: Ready=False (CountersUnavailable) and the arms' totals are left as they were
// rather than written from nothing; and that the next reconcile that reads them is Ready with the
// current totals. The reconciler runs against the real API server; only the list of the reports
// fails, by a client interceptor, as a cache that cannot answer would.
func TestReportListFailureReachesStatus(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	direct, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	r := &controllers.PortfolioReconciler{
		Client: interceptor.NewClient(direct, interceptor.Funcs{
			List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				if _, ok := list.(*promptsv1alpha1.PromptCounterReportList); ok && failing.Load() {
					return errors.New("the cache did not answer")
				}
				return c.List(ctx, list, opts...)
			},
		}),
		APIReader: direct, Scheme: env.Scheme, CounterWriteBudget: 50, ReportFloor: time.Second,
	}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "blind"}}
	reconcileOK := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}

	createPortfolio(t, ns, "blind", seeds("a", "Answer briefly.", "b", "Answer with an example."), nil)
	reconcileOK()
	flush(t, ns, "blind-a", "w-1", 4, 2)
	reconcileOK()
	if st := armsOf(t, ns, "blind")["blind-a"].Status; st.Successes != 4 || st.Failures != 2 {
		t.Fatalf("totals %d/%d, want 4/2", st.Successes, st.Failures)
	}

	failing.Store(true)
	flush(t, ns, "blind-a", "w-1", 6, 3)
	if _, err := r.Reconcile(ctx, req); err == nil || !strings.Contains(err.Error(), "the cache did not answer") {
		t.Fatalf("reconcile without the reports returned %v, want their error", err)
	}
	pf := getPortfolio(t, ns, "blind")
	ready := condition(pf, promptsv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != promptsv1alpha1.ReasonCountersUnavailable ||
		!strings.Contains(ready.Message, "listing counter reports: the cache did not answer") {
		t.Fatalf("Ready is %+v, want False, %s, with the list's error", ready, promptsv1alpha1.ReasonCountersUnavailable)
	}
	if st := armsOf(t, ns, "blind")["blind-a"].Status; st.Successes != 4 || st.Failures != 2 {
		t.Errorf("totals %d/%d written without the reports, want 4/2 left alone", st.Successes, st.Failures)
	}

	failing.Store(false)
	reconcileOK()
	pf = getPortfolio(t, ns, "blind")
	if ready := condition(pf, promptsv1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionTrue {
		t.Errorf("Ready is %+v after the reports were read again, want True", ready)
	}
	if st := armsOf(t, ns, "blind")["blind-a"].Status; st.Successes != 6 || st.Failures != 3 {
		t.Errorf("totals %d/%d, want 6/3", st.Successes, st.Failures)
	}
}

// refuseLedgerWrites installs a ValidatingAdmissionPolicy that denies creating or updating a
// ledger report in namespace ns with message, waits until the API server enforces it, and
// returns the function that removes it.
func refuseLedgerWrites(t *testing.T, ns, message string) (lift func()) {
	t.Helper()
	ctx := context.Background()
	name := "refuse-ledger-" + ns
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
					Rule: admissionv1.Rule{
						APIGroups: []string{promptsv1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
						Resources: []string{"promptcounterreports"},
					},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: "object.spec.role != 'Ledger'", Message: message}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns},
			}},
		},
	}
	lift = func() {
		_ = env.Client.Delete(ctx, binding)
		_ = env.Client.Delete(ctx, policy)
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := env.Client.Create(ctx, obj); err != nil {
			lift()
			t.Fatal(err)
		}
	}
	t.Cleanup(lift)
	// The policy takes effect asynchronously: probe with a dry-run ledger until it is denied.
	probe := &promptsv1alpha1.PromptCounterReport{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		Spec:       promptsv1alpha1.PromptCounterReportSpec{Portfolio: "probe", Role: promptsv1alpha1.RoleLedger},
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), message), fmt.Sprintf("dry-run ledger write: %v", err)
	})
	return lift
}
