package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/metrics"
)

// DefaultWriterGrace is the default of Options.WriterGrace.
const DefaultWriterGrace = 2 * time.Minute

// EventWriterFolded is the reason of the event that reports the counter entries of a gone
// writer folded into their arms' bases.
const EventWriterFolded = "WriterFolded"

// foldFieldManager is the field manager of the controller's folds. They are JSON patches of
// status.counters, which the controller's server-side applies never mention; a separate manager
// keeps the two apart in managedFields.
const foldFieldManager = promptsv1alpha1.FieldManagerController + "-fold"

// maxFoldAttempts bounds the read-and-patch rounds of one fold that races with other folds of
// the same arm.
const maxFoldAttempts = 5

// The controller reads the selectors' writer Leases and deletes the expired ones.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;delete

// newWriterLeaseCache returns an informer cache, started by mgr, that holds only the Leases
// labelled counters.LeaseLabel: the writer Leases of selectors, not the many other Leases of a
// cluster (nodes, leader elections).
func newWriterLeaseCache(mgr ctrl.Manager) (cache.Cache, error) {
	selector, err := labels.Parse(counters.LeaseLabel)
	if err != nil {
		return nil, fmt.Errorf("parsing the writer Lease selector: %w", err)
	}
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient: mgr.GetHTTPClient(),
		Scheme:     mgr.GetScheme(),
		Mapper:     mgr.GetRESTMapper(),
		ByObject:   map[client.Object]cache.ByObject{&coordinationv1.Lease{}: {Label: selector}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the writer Lease cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, fmt.Errorf("adding the writer Lease cache: %w", err)
	}
	return c, nil
}

// writerFold sums up what one reconcile folded of one writer, for its event.
type writerFold struct {
	arms  int
	moved promptsv1alpha1.RewardCount
}

// add returns the sum of f and g.
func (f writerFold) add(g writerFold) writerFold {
	f.arms += g.arms
	f.moved.Successes += g.moved.Successes
	f.moved.Failures += g.moved.Failures
	return f
}

// reconcileWriters folds the counter entries of writers that are gone (counters.Gone: Lease
// missing or expired for longer than WriterGrace) into their arms' bases, and deletes writer
// Leases of the portfolio's namespace that expired longer than WriterGrace ago. Folding never
// changes an arm's totals. It keeps s.arms' counters current and sets s.nextWriterCheck when an
// entry is about to be gone.
//
// Failures are logged and retried later; they never stop the statistics or an evolution cycle.
func (r *PortfolioReconciler) reconcileWriters(ctx context.Context, s *portfolioState) {
	if r.WriterGrace <= 0 || r.Leases == nil {
		return
	}
	logger := log.FromContext(ctx)
	var list coordinationv1.LeaseList
	if err := r.Leases.List(ctx, &list, client.InNamespace(s.pf.Namespace), client.HasLabels{counters.LeaseLabel}); err != nil {
		logger.Error(err, "could not list writer Leases; gone writers are folded later")
		return
	}
	leases := make(map[string]*coordinationv1.Lease, len(list.Items))
	for i := range list.Items {
		leases[list.Items[i].Name] = &list.Items[i]
	}

	folds := map[string]writerFold{}
	for _, arm := range s.arms {
		if arm.Status.Counters == nil {
			continue
		}
		for _, entry := range slices.Clone(arm.Status.Counters.Writers) {
			lease := leases[counters.LeaseName(entry.Writer)]
			if !counters.Gone(entry, lease, s.now, r.WriterGrace) {
				if lease == nil || counters.Gone(entry, lease, s.now, 0) {
					// Without a Lease or with an expired one, the writer is gone once the grace
					// has passed: look again then, even if nothing else changes.
					s.writerCheckAt(s.now.Add(r.WriterGrace))
				}
				continue
			}
			moved, ok, err := r.foldWriter(ctx, arm, entry.Writer)
			if err != nil {
				logger.Error(err, "could not fold the counters of a gone writer; retrying later", "arm", arm.Name, "writer", entry.Writer)
				s.writerCheckAt(s.now.Add(r.WriterGrace))
				continue
			}
			if !ok {
				continue
			}
			logger.Info("folded the counters of a gone writer", "arm", arm.Name, "writer", entry.Writer,
				"successes", moved.Successes, "failures", moved.Failures)
			metrics.WriterFolded()
			folds[entry.Writer] = folds[entry.Writer].add(writerFold{arms: 1, moved: moved})
		}
	}
	r.foldedEvent(s.pf, folds)

	for _, name := range slices.Sorted(maps.Keys(leases)) {
		lease := leases[name]
		if !counters.Gone(promptsv1alpha1.WriterCount{Writer: name}, lease, s.now, r.WriterGrace) {
			continue
		}
		if err := r.deleteLease(ctx, lease); err != nil {
			logger.Error(err, "could not delete an expired writer Lease", "lease", name)
			continue
		}
		logger.Info("deleted an expired writer Lease", "lease", name)
	}
}

// maxEventWriters bounds the writers a WriterFolded event names.
const maxEventWriters = 5

// foldedEvent records one event for the folds of a reconcile. Events of one portfolio that share
// a reason are merged into a series by the API, so one event per reconcile, naming its writers,
// is what a person sees; the log has every fold.
func (r *PortfolioReconciler) foldedEvent(pf *promptsv1alpha1.PromptPortfolio, folds map[string]writerFold) {
	if len(folds) == 0 {
		return
	}
	var total writerFold
	var named []string
	for _, writer := range slices.Sorted(maps.Keys(folds)) {
		f := folds[writer]
		total = total.add(f)
		if len(named) < maxEventWriters {
			named = append(named, fmt.Sprintf("%s (%d arms)", writer, f.arms))
		}
	}
	if more := len(folds) - len(named); more > 0 {
		named = append(named, fmt.Sprintf("and %d more", more))
	}
	r.event(pf, nil, "Normal", EventWriterFolded, "Fold", fmt.Sprintf(
		"folded %d counter entries of gone writers %s into their arms' base (%d successes, %d failures moved; totals unchanged)",
		total.arms, strings.Join(named, ", "), total.moved.Successes, total.moved.Failures))
}

// foldWriter folds writer's entry of arm with counters.FoldPatch, reading the arm from the API
// server and retrying a bounded number of times when a concurrent fold made the patch's test
// operations fail. It returns what moved into base and whether anything was folded (not when the
// entry was folded by someone else meanwhile, nor when the arm is gone), and updates arm's
// counters to the written ones.
func (r *PortfolioReconciler) foldWriter(ctx context.Context, arm *promptsv1alpha1.PromptArm, writer string) (promptsv1alpha1.RewardCount, bool, error) {
	var last error
	for range maxFoldAttempts {
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(promptsv1alpha1.GroupVersion.WithKind("PromptArm"))
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(arm), obj); err != nil {
			return promptsv1alpha1.RewardCount{}, false, client.IgnoreNotFound(err)
		}
		before, err := countersOf(obj)
		if err != nil {
			return promptsv1alpha1.RewardCount{}, false, err
		}
		patch, ok, err := counters.FoldPatch(obj, writer, promptsv1alpha1.RewardCount{}, r.now())
		if err != nil || !ok {
			arm.Status.Counters = before
			return promptsv1alpha1.RewardCount{}, false, err
		}
		err = r.Client.Status().Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch), client.FieldOwner(foldFieldManager))
		switch {
		case err == nil:
			after, err := countersOf(obj)
			if err != nil {
				return promptsv1alpha1.RewardCount{}, false, err
			}
			arm.Status.Counters = after
			was, now := baseOf(before), baseOf(after)
			return promptsv1alpha1.RewardCount{Successes: now.Successes - was.Successes, Failures: now.Failures - was.Failures}, true, nil
		case apierrors.IsNotFound(err):
			return promptsv1alpha1.RewardCount{}, false, nil
		case apierrors.IsConflict(err) || apierrors.IsInvalid(err):
			// A test operation failed: another fold changed base or the writer's records.
			last = err
		default:
			return promptsv1alpha1.RewardCount{}, false, fmt.Errorf("folding writer %s of arm %s: %w", writer, arm.Name, err)
		}
	}
	return promptsv1alpha1.RewardCount{}, false, fmt.Errorf("folding writer %s of arm %s: %w",
		writer, arm.Name, errors.Join(errFoldAttempts, last))
}

// errFoldAttempts says that every attempt of a fold lost a race with another fold.
var errFoldAttempts = fmt.Errorf("gave up after %d attempts", maxFoldAttempts)

// countersOf decodes status.counters of an arm read as unstructured; nil when it has none.
func countersOf(arm *unstructured.Unstructured) (*promptsv1alpha1.RewardCounters, error) {
	raw, ok, err := unstructured.NestedMap(arm.Object, "status", "counters")
	if err != nil || !ok {
		return nil, err
	}
	c := &promptsv1alpha1.RewardCounters{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, c); err != nil {
		return nil, fmt.Errorf("decoding status.counters of arm %s: %w", arm.GetName(), err)
	}
	return c, nil
}

// baseOf returns the base of c; zero when c is nil.
func baseOf(c *promptsv1alpha1.RewardCounters) promptsv1alpha1.RewardCount {
	if c == nil {
		return promptsv1alpha1.RewardCount{}
	}
	return c.Base
}

// deleteLease deletes a writer Lease on condition that it is still the one that was judged
// expired: a Lease renewed or recreated meanwhile stays.
func (r *PortfolioReconciler) deleteLease(ctx context.Context, lease *coordinationv1.Lease) error {
	uid, rv := lease.UID, lease.ResourceVersion
	err := r.Client.Delete(ctx, lease, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return err
	}
	metrics.WriterLeaseDeleted()
	return nil
}
