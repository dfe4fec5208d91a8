package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/metrics"
)

// Defaults of the counter aggregation.
const (
	// DefaultCounterWriteBudget is the default of Options.CounterWriteBudget.
	DefaultCounterWriteBudget = 50.0
	// DefaultReportFloor is the default of Options.ReportFloor.
	DefaultReportFloor = time.Second
)

// EventWriterFolded is the reason of the event that reports the counter reports of gone
// writers folded into the portfolio's ledger.
const EventWriterFolded = "WriterFolded"

// The controller sums the selectors' counter reports, keeps each portfolio's ledger and folds
// deleted reports into it before it releases their finalizer.
// +kubebuilder:rbac:groups=prompts.promptfolio.dev,resources=promptcounterreports,verbs=get;list;watch;create;update;patch

// counterState is what one reconcile read of a portfolio's counter reports.
type counterState struct {
	ledger  *promptsv1alpha1.PromptCounterReport   // nil when the portfolio has none
	reports []*promptsv1alpha1.PromptCounterReport // the writer reports
}

// reconcileWriters creates the portfolio's ledger when there is none (seeded, see seedLedger),
// folds the deleted counter reports of the portfolio into it, releases them, sums the ledger and
// the reports into every arm's status.successes and status.failures, and sets every arm's
// status.reportInterval: the portfolio's write budget spread over its live writers.
//
// A fold is one write of the ledger (optimistically locked), then the release of each folded
// report's finalizer; the ledger's folded records make a fold that is repeated after a crash in
// between a no-op, and are dropped once their report is gone.
//
// It returns err when the reports cannot be read, or when the cache's watch of them has failed
// for longer than the WatchHealth's bound: the totals would be stale, so the reconcile fails
// (Ready=False, CountersUnavailable) and nothing is written. A failed fold does not change
// the totals, which are computed from what was read, so the reconcile goes on and writes them;
// foldErr reports it, for the reconcile to fail once it has (the next one retries the fold).
func (r *PortfolioReconciler) reconcileWriters(ctx context.Context, s *portfolioState) (foldErr, err error) {
	// The cache keeps serving the reports it had when its watch fails: past the bound, they are
	// not current, and the totals are left as published.
	failing, due := r.Watches.failure(s.now)
	if failing != nil {
		return nil, failing
	}
	if !due.IsZero() {
		s.writerCheckAt(due)
	}
	cs, err := r.readCounters(ctx, s.pf.Namespace, s.pf.Name)
	if err != nil {
		return nil, &errCounters{err: err}
	}
	if cs.ledger == nil {
		// Totals are never summed without a ledger: a ledger that could not be created leaves
		// the published totals as they are.
		if err := r.seedLedger(ctx, s, cs); err != nil {
			return nil, err
		}
	}
	if err := r.foldReports(ctx, s, cs); err != nil {
		foldErr = &errCounters{err: fmt.Errorf("folding the counter reports of gone writers: %w", err)}
	}
	totals := counters.Totals(cs.ledger, cs.reports)
	live := 0
	for _, rep := range cs.reports {
		if rep.DeletionTimestamp.IsZero() {
			live++
		}
	}
	interval := &metav1.Duration{Duration: counters.Interval(live, r.CounterWriteBudget, r.ReportFloor)}
	for _, arm := range s.arms {
		t := totals[arm.Name]
		arm.Status.Successes, arm.Status.Failures = t.Successes, t.Failures
		arm.Status.ReportInterval = interval
	}
	return foldErr, nil
}

// errCounters is a failure to read or fold a portfolio's counter reports. Its condition reason
// is CountersUnavailable.
type errCounters struct{ err error }

func (e *errCounters) Error() string { return e.err.Error() }
func (e *errCounters) Unwrap() error { return e.err }

// readCounters lists the counter reports of a portfolio from the cache.
func (r *PortfolioReconciler) readCounters(ctx context.Context, namespace, portfolio string) (*counterState, error) {
	var list promptsv1alpha1.PromptCounterReportList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace),
		client.MatchingLabels{promptsv1alpha1.LabelPortfolio: portfolio}); err != nil {
		return nil, fmt.Errorf("listing counter reports: %w", err)
	}
	cs := &counterState{}
	for i := range list.Items {
		rep := &list.Items[i]
		switch {
		case rep.Spec.Portfolio != portfolio:
		case counters.IsLedger(rep):
			if rep.Name == counters.LedgerName(portfolio) {
				cs.ledger = rep
			}
		default:
			cs.reports = append(cs.reports, rep)
		}
	}
	return cs, nil
}

// seedLedger creates the portfolio's ledger, which does not exist, seeded (counters.Seed) with
// what the arms' published totals hold beyond what the reports contribute, so that the totals do
// not go backwards: after an upgrade from a data path in which the arms' status held the counts,
// or when the ledger was deleted or lost in a restore. A brand-new portfolio's ledger is empty.
//
// The ledger's existence marks the seeding done: it happens once per ledger. The create fails
// when a ledger exists that the cache did not show yet; that is returned as a conflict, so the
// reconcile is retried with the ledger read, never seeded twice. It records cs.ledger, and an
// event and a log line when the seed is not empty.
func (r *PortfolioReconciler) seedLedger(ctx context.Context, s *portfolioState, cs *counterState) error {
	published := make(map[string]counters.Counts, len(s.arms))
	for _, arm := range s.arms {
		published[arm.Name] = counters.Counts{Successes: arm.Status.Successes, Failures: arm.Status.Failures}
	}
	ledger := r.newLedger(s.pf)
	ledger.Spec.Arms = counters.Seed(published, cs.reports)
	if len(ledger.Spec.Arms) > 0 {
		ledger.Spec.UpdateTime = &metav1.Time{Time: s.now}
	}
	if err := r.writeLedger(ctx, ledger, true); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return apierrors.NewConflict(promptsv1alpha1.GroupVersion.WithResource("promptcounterreports").GroupResource(), ledger.Name, err)
		}
		return &errCounters{err: fmt.Errorf("creating the missing counter ledger: %w", err)}
	}
	cs.ledger = ledger
	if len(ledger.Spec.Arms) == 0 {
		log.FromContext(ctx).V(1).Info("created the counter ledger", "ledger", ledger.Name)
		return nil
	}
	reported := counters.Totals(nil, cs.reports)
	var seeded []string
	var sum counters.Counts
	logger := log.FromContext(ctx)
	for _, a := range ledger.Spec.Arms {
		p, c := published[a.Arm], reported[a.Arm]
		seeded = append(seeded, fmt.Sprintf("%s %d/%d (published %d/%d, reports %d/%d)",
			a.Arm, a.Successes, a.Failures, p.Successes, p.Failures, c.Successes, c.Failures))
		sum = sum.Add(counters.Counts{Successes: a.Successes, Failures: a.Failures})
		logger.Info("seeded the missing counter ledger from the arm's published totals", "ledger", ledger.Name, "arm", a.Arm,
			"seedSuccesses", a.Successes, "seedFailures", a.Failures,
			"publishedSuccesses", p.Successes, "publishedFailures", p.Failures,
			"reportedSuccesses", c.Successes, "reportedFailures", c.Failures)
	}
	r.event(s.pf, nil, "Normal", promptsv1alpha1.EventLedgerSeeded, "Seed", fmt.Sprintf(
		"created the missing counter ledger seeded with what the arms' published totals held beyond the reports (%d successes, %d failures; totals unchanged): %s",
		sum.Successes, sum.Failures, strings.Join(firstOf(seeded, maxEventItems), ", ")))
	return nil
}

// foldReports folds every deleted report that still holds the fold finalizer into the ledger,
// drops the ledger's records of reports that are gone, writes the ledger once and releases the
// folded reports whose only finalizer is the fold's. It keeps cs current.
func (r *PortfolioReconciler) foldReports(ctx context.Context, s *portfolioState, cs *counterState) error {
	var deleting []*promptsv1alpha1.PromptCounterReport
	exists := map[string]types.UID{}
	for _, rep := range cs.reports {
		exists[rep.Name] = rep.UID
		if !rep.DeletionTimestamp.IsZero() && slices.Contains(rep.Finalizers, promptsv1alpha1.FinalizerCounterFold) {
			deleting = append(deleting, rep)
		}
	}
	ledger := cs.ledger.DeepCopy()
	changed := counters.Prune(ledger, func(name string, uid types.UID) bool { return exists[name] == uid })
	var moved counters.Counts
	var writers []string
	for _, rep := range deleting {
		m, ok := counters.Fold(ledger, rep, s.now)
		changed = changed || ok
		moved = moved.Add(m)
		writers = append(writers, rep.Spec.Writer)
	}
	if changed {
		if err := r.writeLedger(ctx, ledger, false); err != nil {
			return err
		}
		cs.ledger = ledger
	}
	// The releases are independent writes, sent in parallel and at most maxReleases per
	// reconcile: a restart storm deletes many reports at once.
	var releasable []*promptsv1alpha1.PromptCounterReport
	for _, rep := range deleting {
		if len(releasable) == maxReleases {
			// The rest go in the next reconciles, soon: releasing them all here would hold up
			// this reconcile's aggregation for as long. Their counts stay in the totals, folded
			// or not.
			s.writerCheckAt(s.now.Add(time.Second))
			break
		}
		// Another finalizer holds the report: release it only as the last one, so that the
		// release is what deletes it and a write after the fold fails the release's
		// precondition instead of going unfolded.
		if len(rep.Finalizers) == 1 {
			releasable = append(releasable, rep)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelReleases)
	for _, rep := range releasable {
		g.Go(func() error {
			if err := r.releaseReport(gctx, rep); err != nil {
				return err
			}
			log.FromContext(ctx).Info("folded the counter report of a gone writer", "report", rep.Name, "writer", rep.Spec.Writer)
			metrics.WriterFolded()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if len(deleting) > 0 {
		r.foldedEvent(s.pf, writers, moved)
	}
	return nil
}

// newLedger returns an empty ledger of the portfolio, owned by it so it goes with it.
func (r *PortfolioReconciler) newLedger(pf *promptsv1alpha1.PromptPortfolio) *promptsv1alpha1.PromptCounterReport {
	return &promptsv1alpha1.PromptCounterReport{
		ObjectMeta: metav1.ObjectMeta{
			Name: counters.LedgerName(pf.Name), Namespace: pf.Namespace,
			Labels: map[string]string{promptsv1alpha1.LabelPortfolio: pf.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: promptsv1alpha1.GroupVersion.String(), Kind: "PromptPortfolio",
				Name: pf.Name, UID: pf.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: promptsv1alpha1.PromptCounterReportSpec{Portfolio: pf.Name, Role: promptsv1alpha1.RoleLedger},
	}
}

// writeLedger creates the ledger or updates it on condition that it did not change since it was
// read (its resourceVersion).
func (r *PortfolioReconciler) writeLedger(ctx context.Context, ledger *promptsv1alpha1.PromptCounterReport, create bool) error {
	var err error
	if create {
		err = r.Client.Create(ctx, ledger, client.FieldOwner(promptsv1alpha1.FieldManagerController))
	} else {
		err = r.Client.Update(ctx, ledger, client.FieldOwner(promptsv1alpha1.FieldManagerController))
	}
	if err != nil {
		return fmt.Errorf("writing the counter ledger %s: %w", ledger.Name, err)
	}
	metrics.StatusWrite("PromptCounterReport")
	return nil
}

// releaseReport removes the fold finalizer of a folded report, on condition that the report did
// not change since it was read: a late write of its writer makes the release fail, and the next
// reconcile folds what it added.
func (r *PortfolioReconciler) releaseReport(ctx context.Context, rep *promptsv1alpha1.PromptCounterReport) error {
	rest := slices.DeleteFunc(slices.Clone(rep.Finalizers), func(f string) bool { return f == promptsv1alpha1.FinalizerCounterFold })
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": rep.ResourceVersion, "finalizers": rest,
	}})
	if err != nil {
		return err
	}
	err = r.Client.Patch(ctx, rep.DeepCopy(), client.RawPatch(types.MergePatchType, patch))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing counter report %s: %w", rep.Name, err)
	}
	return nil
}

// releaseOrphanReports releases the deleted reports of a portfolio that no longer exists (or is
// being deleted): there is no arm left to count them into.
func (r *PortfolioReconciler) releaseOrphanReports(ctx context.Context, namespace, portfolio string) error {
	cs, err := r.readCounters(ctx, namespace, portfolio)
	if err != nil {
		return err
	}
	for _, rep := range cs.reports {
		if !rep.DeletionTimestamp.IsZero() && slices.Contains(rep.Finalizers, promptsv1alpha1.FinalizerCounterFold) {
			if err := r.releaseReport(ctx, rep); err != nil {
				return err
			}
		}
	}
	return nil
}

// Bounds of the releases of folded reports: in one reconcile, and at once.
const (
	maxReleases         = 32
	maxParallelReleases = 8
)

// maxEventItems bounds the writers or arms an event names.
const maxEventItems = 5

// firstOf returns the first n of items, and how many more there are as a last item.
func firstOf(items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	return append(slices.Clone(items[:n]), fmt.Sprintf("and %d more", len(items)-n))
}

// foldedEvent records one event for the folds of a reconcile. Events of one portfolio that share
// a reason are merged into a series by the API, so one event per reconcile, naming its writers,
// is what a person sees; the log has every fold.
func (r *PortfolioReconciler) foldedEvent(pf *promptsv1alpha1.PromptPortfolio, writers []string, moved counters.Counts) {
	slices.Sort(writers)
	r.event(pf, nil, "Normal", EventWriterFolded, "Fold", fmt.Sprintf(
		"folded the counter reports of gone writers %s into the ledger (%d successes, %d failures moved; totals unchanged)",
		strings.Join(firstOf(writers, maxEventItems), ", "), moved.Successes, moved.Failures))
}
