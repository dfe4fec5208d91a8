package selector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/counters"
)

// reportState is what a writer knows of its PromptCounterReport of one portfolio.
type reportState struct {
	// ready is set once the report was read (or created) and the arms' counts raised to it;
	// rewards of the portfolio are accepted from then on.
	ready atomic.Bool
	// lost is set when the report disappeared while this writer held it: the controller folded
	// it, so counting on under the same name would count twice.
	lost atomic.Bool
	// interval is the arms' status.reportInterval in nanoseconds; zero means the floor.
	interval atomic.Int64

	// mu serialises the writes of the report; the fields below are guarded by it.
	// baseline holds the report's counts when it was loaded, by arm; arms seen later start
	// from it.
	baseline atomic.Pointer[map[string]walCounts]

	mu       sync.Mutex
	uid      types.UID
	reported map[string]walCounts // by arm: the counts the report holds
	next     time.Time            // the next write is due
	backoff  time.Duration
}

// flusher writes this writer's cumulative counts into its PromptCounterReport of each portfolio,
// about once per report interval: the portfolio's write budget spread over its writers, which the
// controller publishes in the arms' status.reportInterval, and never more often than the floor.
type flusher struct {
	kube     *kubeClient
	reg      *registry
	api      *api
	metrics  *metrics
	writer   string
	owner    *metav1.OwnerReference
	restored map[string]walCounts // the state record's counts at start, by walKey
	timeout  time.Duration
	floor    time.Duration
	jitter   float64
	parallel int
	now      func() time.Time
}

// reportBody is the JSON of a report the writer creates.
type reportBody struct {
	APIVersion string                           `json:"apiVersion"`
	Kind       string                           `json:"kind"`
	Metadata   metav1.ObjectMeta                `json:"metadata"`
	Spec       v1alpha1.PromptCounterReportSpec `json:"spec"`
}

// reportPatch is the JSON merge patch of a write: the counts, on condition that the report is
// still the one this writer created (metadata.uid is a precondition of a patch).
type reportPatch struct {
	Metadata struct {
		UID types.UID `json:"uid"`
	} `json:"metadata"`
	Spec struct {
		Arms       []v1alpha1.ArmCount `json:"arms"`
		UpdateTime metav1.Time         `json:"updateTime"`
	} `json:"spec"`
}

// interval returns the portfolio's report interval.
func (f *flusher) interval(p *portfolioState) time.Duration {
	return max(f.floor, time.Duration(p.report.interval.Load()))
}

// run loads and writes the reports until ctx ends. A failed write is retried with a growing
// backoff (schedule); it is logged at the default level once per failing spell, so that an
// unreachable API server shows without flooding the log.
func (f *flusher) run(ctx context.Context) {
	logger := logr.FromContextOrDiscard(ctx)
	tick := time.NewTicker(min(f.floor/4, 250*time.Millisecond))
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := f.pass(ctx, false)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			logger.Error(err, "could not write counter reports; acknowledged rewards wait and are retried",
				"pending", f.api.pending.Load())
			failing = true
		case err == nil && failing:
			logger.Info("counter reports written again", "pending", f.api.pending.Load())
			failing = false
		}
	}
}

// pass loads the reports not yet loaded and writes those that are due (all with pending counts
// when final), with bounded parallelism. It returns the first error.
func (f *flusher) pass(ctx context.Context, final bool) error {
	start := time.Now()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, f.parallel)
		wrote    atomic.Bool
	)
	now := f.now()
	for _, p := range *f.reg.portfolios.Load() {
		if p.report.lost.Load() {
			continue
		}
		p.report.mu.Lock()
		due := final || !now.Before(p.report.next)
		p.report.mu.Unlock()
		if !due {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var err error
			if !p.report.ready.Load() {
				err = f.load(ctx, p)
			} else {
				var w bool
				w, err = f.write(ctx, p)
				if w {
					wrote.Store(true)
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wrote.Load() {
		f.metrics.flushDuration.Observe(time.Since(start).Seconds())
	}
	return firstErr
}

// maxBackoff bounds the wait after repeated failed writes when the interval is shorter.
const maxBackoff = 30 * time.Second

// schedule sets when the portfolio's next write is due.
//
// After a success, one interval after the write was due: the writes keep a fixed cadence, whose
// phase spread chose at random, so that a write's own duration and the flusher's tick do not
// lengthen the gap between two writes, and no reward waits more than one interval for the write
// that carries it. A writer that fell behind (a write that took longer than the interval, the
// first success after failures) starts a new cadence from now.
//
// After a failure (a timeout, 429, 504: an API server that cannot keep up), never sooner than
// one interval: a failing writer sends no more writes than its share of the budget, retries
// included, so that an overloaded API server is not sent more than the budget, which would only
// make more writes time out. Repeated failures double the wait up to maxBackoff (or the
// interval, when longer), with jitter so that writers that failed together do not retry together.
func (f *flusher) schedule(p *portfolioState, err error) {
	r := &p.report
	now, interval := f.now(), f.interval(p)
	if err == nil {
		next := r.next.Add(interval)
		if r.backoff > 0 || !next.After(now) {
			next = now.Add(interval)
		}
		r.backoff, r.next = 0, next
		return
	}
	r.backoff = min(max(2*r.backoff, interval), max(maxBackoff, interval))
	r.next = now.Add(jittered(r.backoff, f.jitter))
}

// spread sets the first write after the report was loaded at a random point of one interval,
// so that writers that start together (a rollout, a restart storm) do not write together.
func (f *flusher) spread(p *portfolioState) {
	p.report.next = f.now().Add(time.Duration(rand.Int64N(int64(f.interval(p)) + 1)))
}

// load reads the writer's report of p, creating it when missing, and raises the arms'
// acknowledged counts to it, so that a writer restarted without its state record (memory
// acknowledgement) counts on from what it had written.
func (f *flusher) load(ctx context.Context, p *portfolioState) (err error) {
	r := &p.report
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		if err != nil {
			f.schedule(p, err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	name := counters.ReportName(f.writer, p.name)
	report, err := f.kube.getReport(ctx, name)
	if apierrors.IsNotFound(err) {
		restored := f.restoredOf(p.name)
		if len(restored) > 0 {
			// The state record holds counts of a report that no longer exists: it was deleted
			// and folded while this writer lived.
			f.markLost(ctx, p, "the writer's report was deleted; its state record's counts were already folded")
			return nil
		}
		report, err = f.create(ctx, p, name)
	}
	if err != nil {
		return fmt.Errorf("loading report %s: %w", name, err)
	}
	if report.Spec.Writer != f.writer || counters.IsLedger(report) {
		f.markLost(ctx, p, "a report of this name belongs to another writer")
		return nil
	}
	r.uid = report.UID
	r.reported = map[string]walCounts{}
	for _, a := range report.Spec.Arms {
		r.reported[a.Arm] = walCounts{a.Successes, a.Failures}
	}
	baseline := maps.Clone(r.reported)
	f.reg.mu.Lock()
	r.baseline.Store(&baseline)
	for name, a := range *p.all.Load() {
		before := a.pending()
		c := r.reported[name]
		raise(&a.ackedS, c.successes)
		raise(&a.ackedF, c.failures)
		a.flushedS.Store(c.successes)
		a.flushedF.Store(c.failures)
		f.api.pending.Add(a.pending() - before)
	}
	r.ready.Store(true)
	f.reg.mu.Unlock()
	f.spread(p)
	return nil
}

// initArm sets the counts of an arm seen for the first time: what the state record and the
// loaded report hold of it. The registry calls it under its lock.
func (f *flusher) initArm(p *portfolioState, a *armState) {
	c := f.restored[walKey(p.name, a.name)]
	var reported walCounts
	if b := p.report.baseline.Load(); b != nil {
		reported = (*b)[a.name]
	}
	a.ackedS.Store(max(c.successes, reported.successes))
	a.ackedF.Store(max(c.failures, reported.failures))
	a.flushedS.Store(reported.successes)
	a.flushedF.Store(reported.failures)
	f.api.pending.Add(a.pending())
}

// restoredOf returns the state record's counts of portfolio p at start, by arm.
func (f *flusher) restoredOf(portfolio string) map[string]walCounts {
	out := map[string]walCounts{}
	for k, c := range f.restored {
		if arm, ok := cutPortfolio(k, portfolio); ok && (c.successes > 0 || c.failures > 0) {
			out[arm] = c
		}
	}
	return out
}

// cutPortfolio returns the arm of a walKey of portfolio.
func cutPortfolio(key, portfolio string) (string, bool) {
	if len(key) > len(portfolio) && key[:len(portfolio)] == portfolio && key[len(portfolio)] == '/' {
		return key[len(portfolio)+1:], true
	}
	return "", false
}

// create creates the writer's report of p, with a finalizer that makes the controller fold it
// before it goes, owned by the writer's pod when there is one.
func (f *flusher) create(ctx context.Context, p *portfolioState, name string) (*v1alpha1.PromptCounterReport, error) {
	body := reportBody{
		APIVersion: v1alpha1.GroupVersion.String(),
		Kind:       "PromptCounterReport",
		Metadata: metav1.ObjectMeta{
			Name:       name,
			Labels:     map[string]string{v1alpha1.LabelPortfolio: p.name},
			Finalizers: []string{v1alpha1.FinalizerCounterFold},
		},
		Spec: v1alpha1.PromptCounterReportSpec{Portfolio: p.name, Role: v1alpha1.RoleWriter, Writer: f.writer},
	}
	if f.owner != nil {
		body.Metadata.OwnerReferences = []metav1.OwnerReference{*f.owner}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	f.metrics.writes.WithLabelValues("create").Inc()
	return f.kube.createReport(ctx, raw)
}

// markLost stops counting for p: no reward of it is acknowledged from now on.
func (f *flusher) markLost(ctx context.Context, p *portfolioState, why string) {
	if !p.report.lost.Swap(true) {
		logr.FromContextOrDiscard(ctx).Error(errReportLost, why, "portfolio", p.name,
			"report", counters.ReportName(f.writer, p.name))
	}
}

var errReportLost = errors.New("the writer's report is gone; rewards of its portfolio are refused until the selector restarts under a new writer id")

// write writes p's report when its counts are ahead of what it holds, and reports whether it
// wrote.
func (f *flusher) write(ctx context.Context, p *portfolioState) (wrote bool, err error) {
	r := &p.report
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() { f.schedule(p, err) }()

	next := maps.Clone(r.reported)
	// Arms of the state record that are not watched (deleted meanwhile) keep their counts.
	for arm, c := range f.restoredOf(p.name) {
		old := next[arm]
		next[arm] = walCounts{max(old.successes, c.successes), max(old.failures, c.failures)}
	}
	arms := *p.all.Load()
	changed := false
	for name, a := range arms {
		c := walCounts{a.ackedS.Load(), a.ackedF.Load()}
		old := next[name]
		c.successes, c.failures = max(c.successes, old.successes), max(c.failures, old.failures)
		next[name] = c
	}
	for name, c := range next {
		if c != r.reported[name] {
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	var patch reportPatch
	patch.Metadata.UID = r.uid
	patch.Spec.UpdateTime = metav1.NewTime(f.now().UTC().Truncate(time.Second))
	for _, name := range slices.Sorted(maps.Keys(next)) {
		c := next[name]
		patch.Spec.Arms = append(patch.Spec.Arms, v1alpha1.ArmCount{Arm: name, Successes: c.successes, Failures: c.failures})
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	f.metrics.writes.WithLabelValues("report").Inc()
	name := counters.ReportName(f.writer, p.name)
	err = f.kube.patchReport(ctx, name, body)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone, or its uid no longer matches: look before giving it up, a conflict can be
		// something else.
		cur, getErr := f.kube.getReport(ctx, name)
		if apierrors.IsNotFound(getErr) || (getErr == nil && cur.UID != r.uid) {
			f.markLost(ctx, p, "the writer's report was deleted or replaced while the selector ran")
			return false, nil
		}
	}
	if err != nil {
		f.metrics.flushErrors.Inc()
		return false, fmt.Errorf("writing report of portfolio %s: %w", p.name, err)
	}
	r.reported = next
	for name, a := range arms {
		c := next[name]
		f.api.settle(&a.flushedS, c.successes)
		f.api.settle(&a.flushedF, c.failures)
	}
	return true, nil
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

// jittered returns d changed by a random fraction of at most ±jitter.
func jittered(d time.Duration, jitter float64) time.Duration {
	if jitter <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + jitter*(2*rand.Float64()-1)))
}
