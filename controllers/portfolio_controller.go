package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
	"github.com/promptfolio/promptfolio/internal/metrics"
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
	// CycleTimeout bounds the mutator's work in one cycle.
	CycleTimeout time.Duration
	// CounterWriteBudget is the counter report writes per second a portfolio's selectors send
	// together: each writer reports every CounterWriteBudget/writers seconds (see
	// status.reportInterval of the arms), never more often than ReportFloor.
	CounterWriteBudget float64
	// ReportFloor is the shortest report interval.
	ReportFloor time.Duration
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
	// nextWriterCheck is when a failed read or fold of the counter reports is retried; zero
	// when none failed.
	nextWriterCheck time.Time
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
// the order of its steps.
func (r *PortfolioReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)

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

	s, err := r.loadState(ctx, pf)
	if err != nil {
		return ctrl.Result{}, err
	}

	cfg, specErr := parseEvolution(&pf.Spec.Evolution)
	if err := r.reconcileArms(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	r.reconcileWriters(ctx, s)
	r.reconcileStatistics(s)
	if specErr == nil {
		if err := r.reconcileEvolution(ctx, s, cfg); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.applyArmStatuses(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	metrics.RecordArms(pf.Namespace, pf.Name, s.summary.samples)

	r.summarize(s, specErr)
	if !equality.Semantic.DeepEqual(snapshot, &pf.Status) {
		if err := r.applyPortfolioStatus(ctx, pf); err != nil {
			if apierrors.IsConflict(err) {
				logger.V(1).Info("portfolio changed while reconciling; retrying", "error", err.Error())
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, err
		}
	}

	if specErr != nil {
		r.event(pf, nil, "Warning", promptsv1alpha1.EventInvalidSpec, "Validate", scrubMessage(specErr.Error(), ""))
		logger.Error(specErr, "invalid evolution spec; evolution is stalled until the spec changes")
		return ctrl.Result{}, reconcile.TerminalError(specErr)
	}
	next := s.requeueAt()
	if next.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(r.now()), time.Second)}, nil
}

// loadState lists the portfolio's arms (by label) and snapshots the controller's fields of each.
func (r *PortfolioReconciler) loadState(ctx context.Context, pf *promptsv1alpha1.PromptPortfolio) (*portfolioState, error) {
	var list promptsv1alpha1.PromptArmList
	if err := r.Client.List(ctx, &list, client.InNamespace(pf.Namespace),
		client.MatchingLabels{promptsv1alpha1.LabelPortfolio: pf.Name}); err != nil {
		return nil, fmt.Errorf("listing arms: %w", err)
	}
	s := &portfolioState{pf: pf, armSnapshots: make(map[string]armStatusApply, len(list.Items)), now: r.now()}
	for i := range list.Items {
		arm := &list.Items[i]
		if arm.Spec.Portfolio != pf.Name {
			continue
		}
		s.armSnapshots[arm.Name] = controllerArmStatus(&arm.Status)
		s.arms = append(s.arms, arm)
	}
	sort.Slice(s.arms, func(i, j int) bool { return s.arms[i].Name < s.arms[j].Name })
	return s, nil
}

// reconcileStatistics recomputes every arm's derived statistics and the portfolio's summary.
func (r *PortfolioReconciler) reconcileStatistics(s *portfolioState) {
	s.summary = computeStatistics(s.arms)
	st := &s.pf.Status
	st.ActiveArms, st.RetiredArms, st.TotalTrials = s.summary.active, s.summary.retired, s.summary.totalTrials
	st.BestArm, st.BestMean = s.summary.best, nil
	if s.summary.best != "" {
		m := s.summary.bestMean
		st.BestMean = &m
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
