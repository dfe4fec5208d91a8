package controllers

import (
	"context"
	"fmt"
	"sync"
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
	// CounterWriteBudget is the counter report writes per second that the selectors of one
	// portfolio send together; the report interval grows with the number of writers to keep it.
	// Default DefaultCounterWriteBudget.
	CounterWriteBudget float64
	// ReportFloor is the shortest report interval. Default DefaultReportFloor.
	ReportFloor time.Duration
	// TrafficWindow is the least duration of a traffic window, over which arms' trafficShare is
	// counted. Default traffic.DefaultMinDuration.
	TrafficWindow time.Duration
	// OpenAI tunes the retries of the OpenAI-compatible mutator.
	OpenAI OpenAITuning
	// WatchHealth, installed into the manager's cache options, tells the controller when the
	// cache's watch of the counter reports fails. Nil: not checked.
	WatchHealth *WatchHealth
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
	opts.CounterWriteBudget = orDefault(opts.CounterWriteBudget, DefaultCounterWriteBudget)
	opts.ReportFloor = orDefault(opts.ReportFloor, DefaultReportFloor)
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
	r := &PortfolioReconciler{
		Client:             c,
		APIReader:          mgr.GetAPIReader(),
		Scheme:             mgr.GetScheme(),
		Recorder:           mgr.GetEventRecorder(promptsv1alpha1.FieldManagerController),
		NewMutator:         opts.NewMutator,
		Now:                opts.Now,
		CycleTimeout:       opts.CycleTimeout,
		ReconcileTimeout:   opts.ReconcileTimeout,
		TrafficWindow:      opts.TrafficWindow,
		CounterWriteBudget: opts.CounterWriteBudget,
		ReportFloor:        opts.ReportFloor,
		Watches:            opts.WatchHealth,
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("promptportfolio").
		For(&promptsv1alpha1.PromptPortfolio{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, runCycleRequested{}))).
		Watches(&promptsv1alpha1.PromptArm{}, armEventHandler()).
		Watches(&promptsv1alpha1.PromptCounterReport{}, reportEventHandler(opts.StatisticsInterval)).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles})
	if opts.WatchHealth != nil {
		b = b.WatchesRawSource(opts.WatchHealth.changes(mgr.GetCache()))
	}
	return b.Complete(r)
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

// enqueuePortfolio adds the portfolio named by obj's portfolio label to q, after delay when
// it is positive.
func enqueuePortfolio(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request], after time.Duration) {
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

// armEventHandler maps arm events to the arm's portfolio (by its label, so that arms waiting to
// be adopted count too). Creations and deletions reconcile at once; updates only when the arm's
// labels or owners changed — never for the controller's own status writes.
func armEventHandler() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueuePortfolio(e.Object, q, 0)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectOld == nil || e.ObjectNew == nil {
				return
			}
			if !equality.Semantic.DeepEqual(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) {
				enqueuePortfolio(e.ObjectOld, q, 0)
				enqueuePortfolio(e.ObjectNew, q, 0)
				return
			}
			if !equality.Semantic.DeepEqual(e.ObjectOld.GetOwnerReferences(), e.ObjectNew.GetOwnerReferences()) {
				enqueuePortfolio(e.ObjectNew, q, 0)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueuePortfolio(e.Object, q, 0)
		},
	}
}

// reportEventHandler maps counter report events to their portfolio at a bounded rate: a
// portfolio is aggregated at once when its last aggregation was at least interval ago, else at
// that point, and every report written meanwhile joins that reconcile. So a portfolio's arms get
// at most one statistics write per interval however many writers report, and a report waits at
// most one interval for it. A report being deleted reconciles at once, so its fold does not hold
// the garbage collector up.
func reportEventHandler(interval time.Duration) handler.EventHandler {
	rl := &aggregationPacer{interval: interval, next: map[types.NamespacedName]time.Time{}, now: time.Now}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			rl.enqueue(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectNew == nil {
				return
			}
			if !e.ObjectNew.GetDeletionTimestamp().IsZero() {
				enqueuePortfolio(e.ObjectNew, q, 0)
				return
			}
			rl.enqueue(e.ObjectNew, q)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			rl.enqueue(e.Object, q)
		},
	}
}

// aggregationPacer schedules the aggregations of portfolios, no two of one portfolio closer
// than interval.
type aggregationPacer struct {
	interval time.Duration
	now      func() time.Time
	mu       sync.Mutex
	// next is, by portfolio, when its last scheduled aggregation is due.
	next map[types.NamespacedName]time.Time
}

// enqueue schedules the aggregation of obj's portfolio that takes obj's change in: the one
// already scheduled when it is still ahead, else the earliest one interval after it.
func (p *aggregationPacer) enqueue(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	name := obj.GetLabels()[promptsv1alpha1.LabelPortfolio]
	if name == "" {
		return
	}
	key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}
	p.mu.Lock()
	now := p.now()
	due, scheduled := p.next[key]
	if scheduled && due.After(now) {
		p.mu.Unlock()
		return
	}
	if scheduled {
		due = maxTime(now, due.Add(p.interval))
	} else {
		due = now
	}
	p.next[key] = due
	p.mu.Unlock()
	enqueuePortfolio(obj, q, due.Sub(now))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
