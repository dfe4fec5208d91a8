package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
)

// Defaults of Options.
const (
	DefaultStatisticsInterval = 5 * time.Second
	// DefaultCycleTimeout bounds the mutator's work (LLM calls and their retries) in one cycle,
	// so that a slow or hanging provider holds a worker for at most this long.
	DefaultCycleTimeout = 40 * time.Second
	// DefaultReconcileTimeout is the deadline of one reconcile, three times the cycle's bound so
	// that the cycle's other steps (creating children, writing status) have time after it.
	DefaultReconcileTimeout        = 2 * time.Minute
	DefaultMaxConcurrentReconciles = 4
)

// Options configure the controllers; the manager's flags set them.
type Options struct {
	// StatisticsInterval is the least time between two recomputations of a portfolio's
	// statistics caused by counter flushes: arm status changes enqueue the portfolio after this
	// delay, and every change within it joins the same reconcile. Default
	// DefaultStatisticsInterval.
	StatisticsInterval time.Duration
	// CycleTimeout bounds the mutator's work in one evolution cycle. Default DefaultCycleTimeout;
	// it must be below ReconcileTimeout.
	CycleTimeout time.Duration
	// ReconcileTimeout is the deadline of one reconcile of a portfolio. Default
	// DefaultReconcileTimeout.
	ReconcileTimeout time.Duration
	// MaxConcurrentReconciles is the number of portfolios reconciled at once. Default
	// DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// WriterGrace is how long a selector's writer Lease must be missing or expired before the
	// controller folds the writer's counter entries into their arms' bases and deletes the Lease.
	// Default DefaultWriterGrace; negative turns folding off.
	WriterGrace time.Duration
	// TrafficWindow is the least duration of a traffic window, over which arms' trafficShare is
	// counted. Default traffic.DefaultMinDuration.
	TrafficWindow time.Duration
	// OpenAI tunes the retries of the OpenAI-compatible mutator.
	OpenAI OpenAITuning
	// NewMutator replaces the built-in mutator factory (tests use it to inject faults).
	NewMutator MutatorFactory
	// Now replaces the clock.
	Now func() time.Time
}

// The manager's leader election holds a Lease and records events with the core API.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// SetupWithManager registers the PromptPortfolio reconciler with mgr.
//
// Its client reads the manager's cache with read-your-writes consistency: a reconcile that
// follows one which wrote an arm or a portfolio status sees that write, so it never plans a
// second cycle from a stale lastCycleTime nor re-applies a phase from a stale arm.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	opts.StatisticsInterval = orDefault(opts.StatisticsInterval, DefaultStatisticsInterval)
	opts.CycleTimeout = orDefault(opts.CycleTimeout, DefaultCycleTimeout)
	opts.ReconcileTimeout = orDefault(opts.ReconcileTimeout, DefaultReconcileTimeout)
	if opts.CycleTimeout >= opts.ReconcileTimeout {
		return fmt.Errorf("the cycle timeout (%s) must be below the reconcile timeout (%s): the mutator's work is one step of a reconcile", opts.CycleTimeout, opts.ReconcileTimeout)
	}
	opts.MaxConcurrentReconciles = orDefault(opts.MaxConcurrentReconciles, DefaultMaxConcurrentReconciles)
	opts.WriterGrace = orDefault(opts.WriterGrace, DefaultWriterGrace)
	if opts.NewMutator == nil {
		opts.NewMutator = NewMutatorFactory(opts.OpenAI)
	}
	c, err := client.New(mgr.GetConfig(), client.Options{
		HTTPClient: mgr.GetHTTPClient(),
		Scheme:     mgr.GetScheme(),
		Mapper:     mgr.GetRESTMapper(),
		Cache: &client.CacheOptions{
			Reader:                          mgr.GetCache(),
			EnableReadYourWritesConsistency: ptr.To(true),
		},
	})
	if err != nil {
		return fmt.Errorf("creating the controller's client: %w", err)
	}
	leases, err := newWriterLeaseCache(mgr)
	if err != nil {
		return err
	}
	r := &PortfolioReconciler{
		Client:           c,
		APIReader:        mgr.GetAPIReader(),
		Scheme:           mgr.GetScheme(),
		Recorder:         mgr.GetEventRecorder(promptsv1alpha1.FieldManagerController),
		NewMutator:       opts.NewMutator,
		Now:              opts.Now,
		CycleTimeout:     opts.CycleTimeout,
		ReconcileTimeout: opts.ReconcileTimeout,
		TrafficWindow:    opts.TrafficWindow,
		Leases:           leases,
		WriterGrace:      opts.WriterGrace,
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("promptportfolio").
		For(&promptsv1alpha1.PromptPortfolio{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, runCycleRequested{}))).
		Watches(&promptsv1alpha1.PromptArm{}, armEventHandler(opts.StatisticsInterval)).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
}

// runCycleRequested passes portfolio updates that change the run-cycle annotation, so that a
// request reconciles at once while status writes (which change neither the generation nor the
// annotation) do not reconcile at all.
type runCycleRequested struct{ predicate.Funcs }

// Update reports whether the run-cycle annotation changed.
func (runCycleRequested) Update(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return false
	}
	return e.ObjectOld.GetAnnotations()[promptsv1alpha1.AnnotationRunCycle] != e.ObjectNew.GetAnnotations()[promptsv1alpha1.AnnotationRunCycle]
}

// armEventHandler maps arm events to the arm's portfolio (by its label, so that arms waiting to
// be adopted count too). Creations and deletions reconcile at once. Updates reconcile only when
// the selectors' counters or the arm's labels or owners changed — never for the controller's own
// status writes — and only after delay: every change in that window joins one reconcile, so a
// flood of counter flushes becomes at most one statistics write per portfolio per delay.
func armEventHandler(delay time.Duration) handler.EventHandler {
	enqueue := func(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request], after time.Duration) {
		name := obj.GetLabels()[promptsv1alpha1.LabelPortfolio]
		if name == "" {
			return
		}
		req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}
		if after > 0 {
			q.AddAfter(req, after)
			return
		}
		q.Add(req)
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q, 0)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldArm, okOld := e.ObjectOld.(*promptsv1alpha1.PromptArm)
			newArm, okNew := e.ObjectNew.(*promptsv1alpha1.PromptArm)
			if !okOld || !okNew {
				return
			}
			if !equality.Semantic.DeepEqual(oldArm.Labels, newArm.Labels) {
				enqueue(oldArm, q, 0)
				enqueue(newArm, q, 0)
				return
			}
			if equality.Semantic.DeepEqual(oldArm.Status.Counters, newArm.Status.Counters) &&
				equality.Semantic.DeepEqual(oldArm.OwnerReferences, newArm.OwnerReferences) {
				return
			}
			enqueue(newArm, q, delay)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q, 0)
		},
	}
}
