package selector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/counters"
)

// flusher writes this process's cumulative counts into the arms' status.counters.writers with
// server-side apply, and folds them into the base when the process stops.
type flusher struct {
	kube     *kubeClient
	reg      *registry
	api      *api
	metrics  *metrics
	writer   string
	manager  string
	timeout  time.Duration
	parallel int
	now      func() time.Time
}

// writerApply is the apply configuration a selector sends: its own counter entry and nothing
// else, so that it owns no other field of the status.
type writerApply struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   writerApplyMeta   `json:"metadata"`
	Status     writerApplyStatus `json:"status"`
}

type writerApplyMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type writerApplyStatus struct {
	Counters struct {
		Writers [1]v1alpha1.WriterCount `json:"writers"`
	} `json:"counters"`
}

// applyPatch returns the server-side apply body that sets writer's entry of arm to the given
// cumulative counts.
func applyPatch(arm *armState, writer string, successes, failures int64, at time.Time) ([]byte, error) {
	p := writerApply{
		APIVersion: v1alpha1.GroupVersion.String(),
		Kind:       "PromptArm",
		Metadata:   writerApplyMeta{Name: arm.name, Namespace: arm.namespace},
	}
	t := metav1.NewTime(at.UTC().Truncate(time.Second))
	p.Status.Counters.Writers[0] = v1alpha1.WriterCount{Writer: writer, Successes: successes, Failures: failures, UpdateTime: &t}
	return json.Marshal(p)
}

// flushAll writes every arm whose acknowledged counts are ahead of what was written. It returns
// the first error; arms that failed are retried by the next flush, and writing cumulative values
// makes a retry of a write that did land harmless.
func (f *flusher) flushAll(ctx context.Context) error {
	f.api.sinceFlush.Store(0)
	start := time.Now()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, f.parallel)
	)
	f.reg.each(func(_ *portfolioState, a *armState) {
		if a.pending() == 0 || a.deleted.Load() {
			return
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f.flushArm(ctx, a); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	})
	wg.Wait()
	f.metrics.flushDuration.Observe(time.Since(start).Seconds())
	return firstErr
}

// flushArm applies the arm's current cumulative counts.
func (f *flusher) flushArm(ctx context.Context, a *armState) error {
	s, fl := a.ackedS.Load(), a.ackedF.Load()
	body, err := applyPatch(a, f.writer, s, fl, f.now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	f.metrics.writes.WithLabelValues("apply").Inc()
	err = f.kube.patchArmStatus(ctx, a.name, f.manager, types.ApplyPatchType, body)
	if apierrors.IsNotFound(err) {
		a.deleted.Store(true)
		logr.FromContextOrDiscard(ctx).Error(err, "arm was deleted; its acknowledged rewards cannot be written",
			"arm", a.name, "pendingSuccesses", s-a.flushedS.Load(), "pendingFailures", fl-a.flushedF.Load())
		return nil
	}
	if err != nil {
		f.metrics.flushErrors.Inc()
		return fmt.Errorf("applying counters of arm %s: %w", a.name, err)
	}
	raise(&a.flushedS, s)
	raise(&a.flushedF, fl)
	return nil
}

// raise sets v to n unless it is already larger.
func raise(v interface {
	Load() int64
	CompareAndSwap(old, new int64) bool
}, n int64) {
	for {
		old := v.Load()
		if old >= n || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// run flushes on every interval (with jitter) and whenever the API kicks, until ctx ends.
func (f *flusher) run(ctx context.Context, interval time.Duration, jitter float64) {
	logger := logr.FromContextOrDiscard(ctx)
	backoff := time.Duration(0)
	for {
		wait := jittered(interval, jitter)
		if backoff > 0 {
			wait = backoff
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-f.api.kick:
			t.Stop()
		}
		if err := f.flushAll(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, 100*time.Millisecond), interval)
			logger.V(1).Info("flush failed; retrying", "error", err.Error(), "retryIn", backoff)
			continue
		}
		backoff = 0
	}
}

// jittered returns d changed by a random fraction of at most ±jitter.
func jittered(d time.Duration, jitter float64) time.Duration {
	if jitter <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + jitter*(2*rand.Float64()-1)))
}

// foldAll folds this writer's entry into the base of every arm it wrote to, each in one
// optimistically locked patch that first raises the entry to everything this process
// acknowledged, so it carries the counts even if the last apply did not land. It returns the arms whose fold
// did not succeed.
func (f *flusher) foldAll(ctx context.Context, attempts int) []string {
	var failed []string
	f.reg.each(func(_ *portfolioState, a *armState) {
		if a.ackedS.Load() == 0 && a.ackedF.Load() == 0 && a.seenS.Load() == 0 && a.seenF.Load() == 0 {
			return
		}
		if a.deleted.Load() {
			return
		}
		if err := f.foldArm(ctx, a, attempts); err != nil {
			logr.FromContextOrDiscard(ctx).Error(err, "could not fold counters; the controller folds them once this writer's Lease expires", "arm", a.name)
			failed = append(failed, a.name)
		}
	})
	return failed
}

// errFoldIncomplete is returned when every fold attempt failed.
var errFoldIncomplete = errors.New("fold did not complete")

func (f *flusher) foldArm(ctx context.Context, a *armState, attempts int) error {
	var last error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(errFoldIncomplete, ctx.Err(), last)
			case <-time.After(jittered(time.Duration(min(i, 6))*50*time.Millisecond, 0.5)):
			}
		}
		err := f.foldOnce(ctx, a)
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		last = err
	}
	return errors.Join(errFoldIncomplete, last)
}

// foldOnce reads the arm and sends a fold patch (counters.FoldPatch) that raises this writer's
// entry to the acknowledged counts and folds it. The patch is guarded by test operations on the
// values it read, so a concurrent fold makes it fail and the caller retries, while the other
// writers' frequent applies do not.
func (f *flusher) foldOnce(ctx context.Context, a *armState) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	arm, err := f.kube.getArm(ctx, a.name)
	if err != nil {
		return err
	}
	s, fl := a.ackedS.Load(), a.ackedF.Load()
	patch, ok, err := counters.FoldPatch(arm, f.writer, v1alpha1.RewardCount{Successes: s, Failures: fl}, f.now())
	if err != nil || !ok {
		return err
	}
	f.metrics.writes.WithLabelValues("fold").Inc()
	if err := f.kube.patchArmStatus(ctx, a.name, f.manager, types.JSONPatchType, patch); err != nil {
		return err
	}
	raise(&a.flushedS, s)
	raise(&a.flushedF, fl)
	return nil
}
