package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/humanize"
	"github.com/promptfolio/promptfolio/internal/metrics"
	"github.com/promptfolio/promptfolio/internal/posterior"
)

// PortfolioReconciler reconciles a PromptPortfolio with its PromptArms.
type PortfolioReconciler struct {
	// Client reads from the manager's cache with read-your-writes consistency and writes to the
	// API server.
	Client client.Client
	// APIReader reads around the cache: Secrets (which the controller does not cache) and objects
	// that a Create found to exist already.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  recorder.EventRecorder
	// NewMutator builds the mutator of one cycle. Nil means the built-in factory.
	NewMutator MutatorFactory
	// Now reads the clock. Nil means time.Now.
	Now func() time.Time
	// CycleTimeout bounds the mutator's work in one cycle; it must be well below
	// ReconcileTimeout, so that a slow LLM ends the cycle (MutatorFailing) instead of the
	// reconcile.
	CycleTimeout time.Duration
	// ReconcileTimeout is the deadline of one reconcile, status write excluded. Zero means
	// DefaultReconcileTimeout.
	ReconcileTimeout time.Duration
	// TrafficWindow is the least duration of a traffic window (internal/traffic). Zero means
	// traffic.DefaultMinDuration.
	TrafficWindow time.Duration
	// CounterWriteBudget is the counter report writes per second a portfolio's selectors send
	// together: each writer reports every CounterWriteBudget/writers seconds (see
	// status.reportInterval of the arms), never more often than ReportFloor.
	CounterWriteBudget float64
	// ReportFloor is the shortest report interval.
	ReportFloor time.Duration
	// Watches tells whether the cache's watch of the counter reports is failing. Nil means that
	// it is not checked.
	Watches *WatchHealth
}

// +kubebuilder:rbac:groups=prompts.promptfolio.dev,resources=promptportfolios,verbs=get;list;watch
// +kubebuilder:rbac:groups=prompts.promptfolio.dev,resources=promptportfolios/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=prompts.promptfolio.dev,resources=promptarms,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=prompts.promptfolio.dev,resources=promptarms/status,verbs=get;patch;update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// portfolioState is one reconcile's working copy of a portfolio and its arms.
type portfolioState struct {
	pf *promptsv1alpha1.PromptPortfolio
	// arms are the portfolio's arms, sorted by name; their status holds what the controller
	// will write.
	arms []*promptsv1alpha1.PromptArm
	// armSnapshots are the controller's fields of each arm as last read or written.
	armSnapshots map[string]armStatusApply
	now          time.Time
	summary      portfolioSummary
	// nextCycle is when the schedule makes the next cycle due; zero when none is scheduled.
	nextCycle time.Time
	// nextWriterCheck is when the reports of gone writers left unreleased by a reconcile are
	// released; zero when none are left.
	nextWriterCheck time.Time
}

// totalTrials is the number of rewards counted over all the portfolio's arms, from their counters.
func (s *portfolioState) totalTrials() int64 {
	var n int64
	for _, arm := range s.arms {
		successes, failures := posterior.Counts(arm)
		n += successes + failures
	}
	return n
}

// writerCheckAt asks for another look at the writers no later than t.
func (s *portfolioState) writerCheckAt(t time.Time) {
	s.nextWriterCheck = earliest(s.nextWriterCheck, t)
}

// requeueAt is when the portfolio must be reconciled again though nothing changes: the next
// cycle or the next look at the writers, whichever comes first; zero when neither is due.
func (s *portfolioState) requeueAt() time.Time {
	return earliest(s.nextCycle, s.nextWriterCheck)
}

// earliest returns the earlier of a and b, where zero means none: zero only when both are.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// arm returns the arm with the given name, or nil.
func (s *portfolioState) arm(name string) *promptsv1alpha1.PromptArm {
	i := sort.Search(len(s.arms), func(i int) bool { return s.arms[i].Name >= name })
	if i < len(s.arms) && s.arms[i].Name == name {
		return s.arms[i]
	}
	return nil
}

// addArm adds an arm the controller created or found, keeping the order.
func (s *portfolioState) addArm(arm *promptsv1alpha1.PromptArm) {
	if s.arm(arm.Name) != nil {
		return
	}
	s.arms = append(s.arms, arm)
	sort.Slice(s.arms, func(i, j int) bool { return s.arms[i].Name < s.arms[j].Name })
}

// Reconcile brings one portfolio's arms and status to its spec; see the package documentation for
// the order of its steps. Whatever happens after the portfolio is read, the deferred finalize
// reports it in status: Ready, Reconciling and Stalled follow from the outcome, and the status is
// written once, when it changed.
func (r *PortfolioReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.reconcileTimeout())
	defer cancel()

	pf := &promptsv1alpha1.PromptPortfolio{}
	if err := r.Client.Get(ctx, req.NamespacedName, pf); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ForgetPortfolio(req.Namespace, req.Name)
			return ctrl.Result{}, r.releaseOrphanReports(ctx, req.Namespace, req.Name)
		}
		return ctrl.Result{}, err
	}
	if !pf.DeletionTimestamp.IsZero() {
		// The garbage collector deletes the arms through their owner references.
		return ctrl.Result{}, r.releaseOrphanReports(ctx, req.Namespace, req.Name)
	}
	snapshot := pf.Status.DeepCopy()
	s := &portfolioState{pf: pf, now: r.now()}
	var specErr error
	defer func() {
		result, err = r.finalize(ctx, s, snapshot, specErr, err)
	}()
	specErr, err = r.reconcile(ctx, s)
	return ctrl.Result{}, err
}

// reconcile does the work of one reconcile in order. specErr reports a spec that cannot be acted
// on (evolution is skipped; the rest goes on); err a step that failed (the rest is skipped).
func (r *PortfolioReconciler) reconcile(ctx context.Context, s *portfolioState) (specErr, err error) {
	if err := r.loadArms(ctx, s); err != nil {
		return nil, err
	}
	cfg, specErr := parseEvolution(&s.pf.Spec.Evolution)
	if err := r.reconcileArms(ctx, s); err != nil {
		return specErr, err
	}
	foldErr, err := r.reconcileWriters(ctx, s)
	if err != nil {
		return specErr, err
	}
	if specErr == nil {
		if err := r.reconcileEvolution(ctx, s, cfg); err != nil {
			return specErr, err
		}
	}
	// Once, after evolution retired arms and created children: the statistics are output, and
	// nothing before reads them back (the evolution step takes the totals reconcileWriters summed).
	r.reconcileStatistics(s)
	if err := r.applyArmStatuses(ctx, s); err != nil {
		return specErr, err
	}
	metrics.RecordArms(s.pf.Namespace, s.pf.Name, s.summary.samples)
	// A failed fold left the totals exact, and they are written; the reconcile fails now.
	return specErr, foldErr
}

// finalizeTimeout bounds the status write of finalize, which runs even when the reconcile's own
// deadline has passed.
const finalizeTimeout = 15 * time.Second

// finalize ends every reconcile that read its portfolio. It sets observedGeneration and the
// kstatus conditions from the outcome, writes the portfolio status once if it changed, and turns
// the outcome into the reconcile's result:
//
//   - success: Ready=True; requeue at the next cycle or writer check.
//   - invalid spec: Stalled=True and Ready=False (InvalidSpec), with the statistics of this
//     reconcile; an event and a terminal error once per generation and message, so that the
//     statistics reconciles that follow do not repeat them.
//   - failure: Ready=False with the failure's reason, and Stalled=True (a person must act) or
//     Reconciling=True (it may pass by itself); the error goes back to the work queue, which
//     retries with backoff. The other fields keep what the API server holds — they are re-read,
//     because the failed reconcile's working copy may be ahead of the arms it failed to write.
//     An event is recorded when the failure differs from the last one.
//   - a conflict (the portfolio or an arm changed meanwhile): retried after a second, status
//     untouched, since the next reconcile sees the change.
func (r *PortfolioReconciler) finalize(ctx context.Context, s *portfolioState, snapshot *promptsv1alpha1.PromptPortfolioStatus, specErr, err error) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalizeTimeout)
	defer cancel()
	if apierrors.IsConflict(err) {
		logger.V(1).Info("portfolio or arm changed while reconciling; retrying", "error", err.Error())
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if err != nil {
		return ctrl.Result{}, r.reportFailure(wctx, s.pf, specErr, err)
	}

	pf := s.pf
	r.summarize(s, specErr)
	if old := meta.FindStatusCondition(snapshot.Conditions, promptsv1alpha1.ConditionReady); specErr == nil && old != nil &&
		old.Status == metav1.ConditionFalse && old.Reason == promptsv1alpha1.ReasonCountersUnavailable {
		logger.Info("the counter reports are read and folded again; the totals are current")
		r.event(pf, nil, "Normal", promptsv1alpha1.EventCountersAvailable, "Reconcile", "the counter reports are read and folded again; the arms' totals are current")
	}
	if !equality.Semantic.DeepEqual(snapshot, &pf.Status) {
		if err := r.applyPortfolioStatus(wctx, pf); err != nil {
			if apierrors.IsConflict(err) {
				logger.V(1).Info("portfolio changed while reconciling; retrying", "error", err.Error())
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, err
		}
	}
	if specErr != nil {
		if reported := meta.FindStatusCondition(snapshot.Conditions, promptsv1alpha1.ConditionStalled); reported != nil &&
			reported.Status == metav1.ConditionTrue && reported.Reason == promptsv1alpha1.ReasonInvalidSpec &&
			reported.ObservedGeneration == pf.Generation && reported.Message == stalledMessage(pf) {
			return r.requeue(s), nil
		}
		msg := scrubMessage(specErr.Error(), "")
		r.event(pf, nil, "Warning", promptsv1alpha1.EventInvalidSpec, "Validate", msg)
		logger.Error(specErr, "invalid evolution spec; evolution is stalled until the spec changes")
		return ctrl.Result{}, reconcile.TerminalError(specErr)
	}
	return r.requeue(s), nil
}

// requeue asks for the next reconcile when the schedule or a writer check is due.
func (r *PortfolioReconciler) requeue(s *portfolioState) ctrl.Result {
	next := s.requeueAt()
	if next.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(r.now()), time.Second)}
}

// stalledMessage is the message of the portfolio's Stalled condition, "" without one.
func stalledMessage(pf *promptsv1alpha1.PromptPortfolio) string {
	if c := meta.FindStatusCondition(pf.Status.Conditions, promptsv1alpha1.ConditionStalled); c != nil {
		return c.Message
	}
	return ""
}

// failureReason maps a failed reconcile's error to its condition reason, and tells whether it
// needs a person's action (Stalled) rather than time (Reconciling).
func failureReason(err error) (reason string, stalled bool) {
	var taken *errArmNameTaken
	var secret *errSecretRead
	var reports *errCounters
	var watching *errWatchFailing
	switch {
	case errors.As(err, &taken):
		return promptsv1alpha1.ReasonArmNameTaken, true
	case errors.As(err, &watching):
		return promptsv1alpha1.ReasonCountersUnavailable, apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
	case errors.As(err, &reports):
		return promptsv1alpha1.ReasonCountersUnavailable, false
	case errors.As(err, &secret):
		return promptsv1alpha1.ReasonSecretUnreadable, apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
	default:
		return promptsv1alpha1.ReasonReconcileFailed, false
	}
}

// reportFailure writes a failed reconcile's conditions onto the status the API server holds and
// returns err, for the work queue's backoff (joined with the write's error when that failed too).
// An invalid spec found by the same reconcile keeps its Stalled condition.
func (r *PortfolioReconciler) reportFailure(ctx context.Context, pf *promptsv1alpha1.PromptPortfolio, specErr, err error) error {
	reason, stalled := failureReason(err)
	msg := scrubMessage(err.Error(), "")
	stalledReason, stalledMsg := reason, msg
	if specErr != nil {
		stalled, stalledReason, stalledMsg = true, promptsv1alpha1.ReasonInvalidSpec, scrubMessage(specErr.Error(), "")
	}
	current := &promptsv1alpha1.PromptPortfolio{}
	if getErr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pf), current); getErr != nil {
		return errors.Join(err, fmt.Errorf("reading the portfolio to report the failure: %w", getErr))
	}
	before := current.Status.DeepCopy()
	st := &current.Status
	st.ObservedGeneration = current.Generation
	r.setCondition(current, promptsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	// Stalled and Reconciling are never True together: kstatus would report whichever it meets
	// first. A cycle in progress that waits for a person is stalled, not progressing.
	switch {
	case stalled:
		r.setCondition(current, promptsv1alpha1.ConditionStalled, metav1.ConditionTrue, stalledReason, stalledMsg)
		meta.RemoveStatusCondition(&st.Conditions, promptsv1alpha1.ConditionReconciling)
	case st.CycleInProgress != nil:
		meta.RemoveStatusCondition(&st.Conditions, promptsv1alpha1.ConditionStalled)
		r.setCondition(current, promptsv1alpha1.ConditionReconciling, metav1.ConditionTrue, promptsv1alpha1.ReasonCycleInProgress,
			fmt.Sprintf("evolution cycle %d in progress; retrying after: %s", st.CycleInProgress.Generation, msg))
	default:
		meta.RemoveStatusCondition(&st.Conditions, promptsv1alpha1.ConditionStalled)
		r.setCondition(current, promptsv1alpha1.ConditionReconciling, metav1.ConditionTrue, promptsv1alpha1.ReasonProgressing, "retrying after: "+msg)
	}
	if equality.Semantic.DeepEqual(before, st) {
		return err
	}
	if !sameFailure(meta.FindStatusCondition(before.Conditions, promptsv1alpha1.ConditionReady), reason, msg, err) {
		log.FromContext(ctx).Info("the portfolio is not ready", "reason", reason, "message", msg)
		r.event(current, nil, "Warning", promptsv1alpha1.EventReconcileFailed, "Reconcile", msg)
	}
	if applyErr := r.applyPortfolioStatus(ctx, current); applyErr != nil {
		return errors.Join(err, fmt.Errorf("reporting the failure in status: %w", applyErr))
	}
	return err
}

// sameFailure reports whether the Ready condition old already reports the failure err (reason
// and message msg), so that its event was recorded: the same reason and message, or for a
// failing watch the same watch failure, whatever its latest error.
func sameFailure(old *metav1.Condition, reason, msg string, err error) bool {
	if old == nil || old.Status != metav1.ConditionFalse || old.Reason != reason {
		return false
	}
	var watching *errWatchFailing
	if errors.As(err, &watching) {
		return strings.HasPrefix(old.Message, scrubMessage(watching.transition(), ""))
	}
	return old.Message == msg
}

// loadArms lists the portfolio's arms (by label) and snapshots the controller's fields of each.
func (r *PortfolioReconciler) loadArms(ctx context.Context, s *portfolioState) error {
	pf := s.pf
	var list promptsv1alpha1.PromptArmList
	if err := r.Client.List(ctx, &list, client.InNamespace(pf.Namespace),
		client.MatchingLabels{promptsv1alpha1.LabelPortfolio: pf.Name}); err != nil {
		return fmt.Errorf("listing arms: %w", err)
	}
	s.armSnapshots = make(map[string]armStatusApply, len(list.Items))
	for i := range list.Items {
		arm := &list.Items[i]
		if arm.Spec.Portfolio != pf.Name {
			continue
		}
		s.armSnapshots[arm.Name] = controllerArmStatus(&arm.Status)
		s.arms = append(s.arms, arm)
	}
	sort.Slice(s.arms, func(i, j int) bool { return s.arms[i].Name < s.arms[j].Name })
	return nil
}

// reconcileStatistics recomputes every arm's derived statistics, its recent traffic share, their
// display strings and the portfolio's summary.
func (r *PortfolioReconciler) reconcileStatistics(s *portfolioState) {
	s.summary = computeStatistics(s.arms)
	r.reconcileTraffic(s)
	for _, arm := range s.arms {
		arm.Status.Display = armDisplay(&arm.Status)
	}
	st := &s.pf.Status
	st.ActiveArms, st.RetiredArms, st.TotalTrials = s.summary.active, s.summary.retired, s.summary.totalTrials
	st.BestArm, st.BestMean, st.BestMeanDisplay = s.summary.best, nil, ""
	if s.summary.best != "" {
		m := s.summary.bestMean
		st.BestMean, st.BestMeanDisplay = &m, humanize.Probability(m)
	}
}

// armDisplay rounds an arm's statistics for kubectl's columns. P(best) of a Retired arm, 0 by
// definition, shows as "-".
func armDisplay(st *promptsv1alpha1.PromptArmStatus) *promptsv1alpha1.ArmDisplay {
	probBest := "-"
	if st.Phase != promptsv1alpha1.ArmRetired {
		probBest = humanize.Probability(st.ProbBest)
	}
	return &promptsv1alpha1.ArmDisplay{
		Mean:         humanize.Probability(st.Mean),
		ProbBest:     probBest,
		TrafficShare: humanize.Percent(st.TrafficShare),
		Alpha:        humanize.Number(st.Alpha),
		Beta:         humanize.Number(st.Beta),
	}
}

// summarize sets observedGeneration, the kstatus conditions and the next cycle time.
func (r *PortfolioReconciler) summarize(s *portfolioState, specErr error) {
	pf := s.pf
	st := &pf.Status
	st.ObservedGeneration = pf.Generation
	st.NextCycleTime = nil
	if !s.nextCycle.IsZero() {
		st.NextCycleTime = &metav1.Time{Time: s.nextCycle}
	}
	meta.RemoveStatusCondition(&st.Conditions, promptsv1alpha1.ConditionReconciling)
	if specErr != nil {
		msg := scrubMessage(specErr.Error(), "")
		r.setCondition(pf, promptsv1alpha1.ConditionStalled, metav1.ConditionTrue, promptsv1alpha1.ReasonInvalidSpec, msg)
		r.setCondition(pf, promptsv1alpha1.ConditionReady, metav1.ConditionFalse, promptsv1alpha1.ReasonInvalidSpec, msg)
		return
	}
	meta.RemoveStatusCondition(&st.Conditions, promptsv1alpha1.ConditionStalled)
	msg := fmt.Sprintf("%d active arms", st.ActiveArms)
	if st.BestArm != "" {
		msg += fmt.Sprintf("; best %s (mean %g)", st.BestArm, *st.BestMean)
	}
	r.setCondition(pf, promptsv1alpha1.ConditionReady, metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, msg)
}

// setCondition sets one condition with the portfolio's generation as its observedGeneration.
func (r *PortfolioReconciler) setCondition(pf *promptsv1alpha1.PromptPortfolio, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&pf.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message,
		ObservedGeneration: pf.Generation, LastTransitionTime: metav1.NewTime(r.now()),
	})
}

// event records an event on the portfolio, related to an arm when one is given.
func (r *PortfolioReconciler) event(pf *promptsv1alpha1.PromptPortfolio, arm *promptsv1alpha1.PromptArm, eventType, reason, action, note string) {
	if r.Recorder == nil {
		return
	}
	var related runtime.Object
	if arm != nil {
		related = arm
	}
	r.Recorder.Eventf(pf, related, eventType, reason, action, "%s", note)
}

// reconcileTimeout is the deadline of one reconcile: ReconcileTimeout, or
// DefaultReconcileTimeout when unset.
func (r *PortfolioReconciler) reconcileTimeout() time.Duration {
	return orDefault(r.ReconcileTimeout, DefaultReconcileTimeout)
}

// now returns the time of the clock, truncated to seconds as the API stores it.
func (r *PortfolioReconciler) now() time.Time {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return now().UTC().Truncate(time.Second)
}

// errCycleInterrupted marks a cycle stopped by the end of the reconcile's context; the cycle
// stays in progress and the next reconcile (of this or another controller process) finishes it.
var errCycleInterrupted = errors.New("evolution cycle interrupted")
