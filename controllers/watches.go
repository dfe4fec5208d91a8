package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/metrics"
	"github.com/promptfolio/promptfolio/internal/watchhealth"
)

// Defaults of WatchHealthOptions.
const (
	// DefaultWatchFailureBound is the default of WatchHealthOptions.FailureBound: long enough
	// for an API server to restart without portfolios turning unready, short next to the
	// interval at which people look at rewards.
	DefaultWatchFailureBound = 30 * time.Second
	// DefaultWatchTimeout is the default of WatchHealthOptions.WatchTimeout.
	DefaultWatchTimeout = time.Minute
)

// kindCounterReport is the kind of the counter reports and of the ledger.
const kindCounterReport = "PromptCounterReport"

// WatchHealthOptions configure a WatchHealth.
type WatchHealthOptions struct {
	// FailureBound is how long the watch of the counter reports may fail before the portfolios
	// turn Ready=False (CountersUnavailable): the totals they show stopped moving. Default
	// DefaultWatchFailureBound.
	FailureBound time.Duration
	// WatchTimeout is the longest a watch request of the cache lasts before the cache starts
	// another (from where it left off, without a list). client-go's own timeout is 5 to 10
	// minutes; since the API server authorizes a watch only when it starts, a permission taken
	// away shows only at the next one, so this bounds how long that takes. Default
	// DefaultWatchTimeout.
	WatchTimeout time.Duration
	// Now reads the clock. Nil means time.Now.
	Now func() time.Time
}

// WatchHealth records, per kind the manager's cache watches, whether the cache's list and watch
// of it fail, so that the controller can tell when the counter reports it reads from the cache
// are no longer current. Install it into the manager's cache options and pass it to
// SetupWithManager in Options.WatchHealth.
type WatchHealth struct {
	scheme  *runtime.Scheme
	opts    WatchHealthOptions
	tracker *watchhealth.Tracker
}

// NewWatchHealth returns a WatchHealth for the kinds of scheme, with no failure recorded.
func NewWatchHealth(scheme *runtime.Scheme, opts WatchHealthOptions) *WatchHealth {
	opts.FailureBound = orDefault(opts.FailureBound, DefaultWatchFailureBound)
	opts.WatchTimeout = orDefault(opts.WatchTimeout, DefaultWatchTimeout)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &WatchHealth{scheme: scheme, opts: opts, tracker: watchhealth.New()}
}

// Install sets the cache options' watch error handler, which records failures, and informer
// constructor, which names each informer by its kind, records the lists and watches the API
// server accepts and bounds each watch request by WatchTimeout.
func (h *WatchHealth) Install(o *cache.Options) {
	o.DefaultWatchErrorHandler = h.watchError
	o.NewInformer = h.newInformer
}

// watchError records a failed list or watch of an informer, named by its type description
// (newInformer sets it to the kind), and logs it as client-go does. A watch that ends because
// its resource version expired or its connection closed is not a failure: the informer lists
// again at once.
func (h *WatchHealth) watchError(ctx context.Context, r *toolscache.Reflector, err error) {
	toolscache.DefaultWatchErrorHandler(ctx, r, err)
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return
	}
	kind := r.TypeDescription()
	metrics.WatchFailed(kind)
	if h.tracker.Failed(kind, err, h.opts.Now()) {
		log.FromContext(ctx).Info("the cache's list or watch failed; its objects are not current until it succeeds",
			"kind", kind, "error", scrubMessage(err.Error(), ""))
	}
}

// newInformer builds the shared informer of one kind as controller-runtime does, with the kind
// as its type description and lw wrapped by watchedLW.
func (h *WatchHealth) newInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	kind := fmt.Sprintf("%T", obj)
	if gvk, err := apiutil.GVKForObject(obj, h.scheme); err == nil {
		kind = gvk.Kind
	}
	return toolscache.NewSharedIndexInformerWithOptions(&watchedLW{parent: lw, kind: kind, health: h}, obj,
		toolscache.SharedIndexInformerOptions{ResyncPeriod: resync, Indexers: indexers, ObjectDescription: kind})
}

// failure returns the failure of the counter reports' watch that has lasted FailureBound, if
// any; otherwise, while the watch fails, due is when it will have.
func (h *WatchHealth) failure(now time.Time) (f *errWatchFailing, due time.Time) {
	if h == nil {
		return nil, time.Time{}
	}
	streak, failing := h.tracker.Failure(kindCounterReport)
	if !failing {
		return nil, time.Time{}
	}
	if unavailable, at := streak.Unavailable(now, h.opts.FailureBound); !unavailable {
		return nil, at
	}
	return &errWatchFailing{failure: streak}, time.Time{}
}

// changes is the source that reconciles every portfolio of the cache when a watch starts
// failing or works again, since no event of the failing kind arrives meanwhile.
func (h *WatchHealth) changes(c client.Reader) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-h.tracker.Changes():
				}
				var list promptsv1alpha1.PromptPortfolioList
				if err := c.List(ctx, &list); err != nil {
					log.FromContext(ctx).Error(err, "listing the portfolios to reconcile after a change of a watch's health")
					continue
				}
				for _, pf := range list.Items {
					q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pf.Namespace, Name: pf.Name}})
				}
			}
		}()
		return nil
	})
}

// errWatchFailing is the failure of the counter reports' watch for FailureBound or longer. Its
// condition reason is CountersUnavailable.
type errWatchFailing struct{ failure watchhealth.Failure }

// Error names the kind, when the failure began, and its latest error. The part before the
// error stays the same for the whole failure: see transition.
func (e *errWatchFailing) Error() string {
	return e.transition() + ", so the arms' totals are not current: " + e.failure.Err.Error()
}

func (e *errWatchFailing) Unwrap() error { return e.failure.Err }

// transition is what stays the same in the message while one failure lasts: one event is
// recorded per failure, whatever the retries of the list say.
func (e *errWatchFailing) transition() string {
	return fmt.Sprintf("the watch of %s has failed since %s", e.failure.Kind, e.failure.Since.UTC().Format(time.RFC3339))
}

// watchedLW is an informer's ListerWatcher that records each list and watch that the API server
// accepted as the end of a failure, and bounds each watch request to the WatchTimeout.
type watchedLW struct {
	parent toolscache.ListerWatcher
	kind   string
	health *WatchHealth
}

// List lists with the parent.
func (l *watchedLW) List(opts metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), opts)
}

// Watch watches with the parent.
func (l *watchedLW) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), opts)
}

// ListWithContext lists with the parent and records a success.
func (l *watchedLW) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	obj, err := toolscache.ToListerWatcherWithContext(l.parent).ListWithContext(ctx, opts)
	if err == nil {
		l.health.tracker.Succeeded(l.kind)
	}
	return obj, err
}

// WatchWithContext starts a watch of at most WatchTimeout with the parent and records a success.
func (l *watchedLW) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	limit := int64(l.health.opts.WatchTimeout / time.Second)
	if limit > 0 && (opts.TimeoutSeconds == nil || *opts.TimeoutSeconds > limit) {
		opts.TimeoutSeconds = &limit
	}
	w, err := toolscache.ToListerWatcherWithContext(l.parent).WatchWithContext(ctx, opts)
	if err == nil {
		l.health.tracker.Succeeded(l.kind)
	}
	return w, err
}

// IsWatchListSemanticsUnSupported passes on what the parent says of streaming lists.
func (l *watchedLW) IsWatchListSemanticsUnSupported() bool {
	return watchlist.DoesClientNotSupportWatchListSemantics(l.parent)
}
