package selector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
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
	// instance names this process in the reports it creates (annotationInstance).
	instance string
	// stateDir is the state directory of disk acknowledgement ("" with memory acknowledgement),
	// where a marker records each report this writer created (createdMarker).
	stateDir string
}

// annotationInstance is the annotation of a report naming the process that created it: a first
// write that finds the report existing tells by it whether the report is its own (its create
// landed, the answer was lost) or an earlier process's.
const annotationInstance = "selector.promptfolio.dev/instance"

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
	Spec reportSpec `json:"spec"`
}

// reportSpec is what a write sets: every arm's cumulative counts and the time.
type reportSpec struct {
	Arms       []v1alpha1.ArmCount `json:"arms"`
	UpdateTime metav1.Time         `json:"updateTime"`
}

// interval returns the portfolio's report interval.
func (f *flusher) interval(p *portfolioState) time.Duration {
	return max(f.floor, time.Duration(p.report.interval.Load()))
}

// run loads and writes the reports until ctx ends. A failed write is retried with a growing
// backoff (schedule); it is logged at the default level once per failing spell, so that an
// unreachable API server shows without flooding the log.
//
// The end of ctx does not cancel the requests of a pass in flight, which end within their
// timeout: a graceful stop lets the write it finds under way finish and then writes once more
// (Selector.Run), rather than abandoning it with its outcome unknown (the API server answers a
// request whose client went away with a 504 and may still have applied it). No new write
// starts after the end.
func (f *flusher) run(ctx context.Context) {
	logger := logr.FromContextOrDiscard(ctx)
	requests := context.WithoutCancel(ctx)
	tick := time.NewTicker(min(f.floor/4, 250*time.Millisecond))
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := f.pass(requests, ctx.Done(), false)
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
// when final), with bounded parallelism, and starts none once stop is closed (nil: never). It
// returns the first error.
func (f *flusher) pass(ctx context.Context, stop <-chan struct{}, final bool) error {
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
		if p.report.lost.Load() || closed(stop) {
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
		if closed(stop) {
			<-sem
			wg.Done()
			continue
		}
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

// closed reports whether c is closed; a nil c never is.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
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

// load reads the writer's report of p and raises the arms' acknowledged counts to it, so that a
// writer restarted without its state record (memory acknowledgement) counts on from what it had
// written. A missing report is not created here but by the writer's first write (write), which
// falls at a random point of the first interval: a writer that starts costs no write beyond its
// cadence, so that a restart storm's starts stay within the budget (counters.ChurnReserve), and a
// writer that takes no reward writes nothing.
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
		if len(f.restoredOf(p.name)) > 0 && f.created(p.name) {
			// The state record holds counts of a report that this writer created and that no
			// longer exists: it was deleted and folded while this writer lived.
			f.markLost(ctx, p, "the writer's report was deleted; its state record's counts were already folded")
			return nil
		}
		// Never created (a state record's counts are those of a process stopped before its
		// first write): the first write creates it.
		report, err = &v1alpha1.PromptCounterReport{Spec: v1alpha1.PromptCounterReportSpec{Writer: f.writer}}, nil
	}
	if err != nil {
		return fmt.Errorf("loading report %s: %w", name, err)
	}
	if !f.ours(ctx, p, report) {
		return nil
	}
	if report.UID != "" {
		f.markCreated(ctx, p.name)
	}
	f.reg.mu.Lock()
	f.setReported(p, report)
	f.rebaseArms(p, func(_ string, a *armState, c walCounts) {
		raise(&a.ackedS, c.successes)
		raise(&a.ackedF, c.failures)
	})
	r.ready.Store(true)
	f.reg.mu.Unlock()
	f.spread(p)
	return nil
}

// ours reports whether report is this writer's; when it is not, counting for p stops.
func (f *flusher) ours(ctx context.Context, p *portfolioState, report *v1alpha1.PromptCounterReport) bool {
	if report.Spec.Writer != f.writer || counters.IsLedger(report) {
		f.markLost(ctx, p, "a report of this name belongs to another writer")
		return false
	}
	return true
}

// setReported records report as what p's report holds: its uid (empty: not created yet), its
// counts, and the baseline of arms seen later. The caller holds the report's and the registry's
// locks.
func (f *flusher) setReported(p *portfolioState, report *v1alpha1.PromptCounterReport) {
	r := &p.report
	r.uid = report.UID
	r.reported = map[string]walCounts{}
	for _, a := range report.Spec.Arms {
		r.reported[a.Arm] = walCounts{a.Successes, a.Failures}
	}
	baseline := maps.Clone(r.reported)
	r.baseline.Store(&baseline)
}

// adopt takes over report, which the first write found existing although load had found none.
// When this process created it (its create landed and the answer was lost), the report holds
// what that write carried. Else it is an earlier process's create that the API server applied
// late: its counts were acknowledged by that process, of which this one restored only what the
// state record held, so each arm counts on from the larger of the two plus what this process
// acknowledged since it started. The arms' written counts become the report's; the next write
// carries the rest.
func (f *flusher) adopt(ctx context.Context, p *portfolioState, report *v1alpha1.PromptCounterReport) {
	if !f.ours(ctx, p, report) {
		return
	}
	own := report.Annotations[annotationInstance] == f.instance
	f.reg.mu.Lock()
	defer f.reg.mu.Unlock()
	f.setReported(p, report)
	if own {
		f.rebaseArms(p, func(string, *armState, walCounts) {})
	} else {
		f.rebaseArms(p, func(name string, a *armState, c walCounts) {
			r := f.restored[walKey(p.name, name)]
			a.ackedS.Add(max(0, c.successes-r.successes))
			a.ackedF.Add(max(0, c.failures-r.failures))
		})
	}
	f.markCreated(ctx, p.name)
}

// rebaseArms makes what p's report holds the written counts of each of p's arms, after credit
// has added to the arm's acknowledged counts what the report holds beyond them, and keeps the
// selector's count of pending rewards in step. The caller holds the registry's lock.
func (f *flusher) rebaseArms(p *portfolioState, credit func(arm string, a *armState, reported walCounts)) {
	for name, a := range *p.all.Load() {
		before := a.pending()
		c := p.report.reported[name]
		credit(name, a, c)
		a.flushedS.Store(c.successes)
		a.flushedF.Store(c.failures)
		f.api.pending.Add(a.pending() - before)
	}
}

// createdMarker returns the path of the marker of the writer's report of portfolio in the state
// directory.
func (f *flusher) createdMarker(portfolio string) string {
	return filepath.Join(f.stateDir, "report-"+portfolio)
}

// created reports whether this writer created its report of portfolio: a marker in the state
// directory says so. Without a state directory there are no counts to restore, and a missing
// report was never created as far as this process knows.
func (f *flusher) created(portfolio string) bool {
	if f.stateDir == "" {
		return false
	}
	_, err := os.Stat(f.createdMarker(portfolio))
	return err == nil
}

// markCreated records durably that the writer's report of portfolio exists, so that a later
// start that restores counts and finds no report knows it was deleted (and folded), not never
// written. A failure is logged: what it risks is a report deleted by hand while its writer lives
// being counted again.
func (f *flusher) markCreated(ctx context.Context, portfolio string) {
	if f.stateDir == "" || f.created(portfolio) {
		return
	}
	if err := writeFileSynced(f.createdMarker(portfolio), nil); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "could not record the creation of the writer's report in the state directory",
			"portfolio", portfolio)
	}
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

// create creates the writer's report of p with its first counts, with a finalizer that makes the
// controller fold it before it goes, owned by the writer's pod when there is one.
func (f *flusher) create(ctx context.Context, p *portfolioState, name string, spec reportSpec) (*v1alpha1.PromptCounterReport, error) {
	body := reportBody{
		APIVersion: v1alpha1.GroupVersion.String(),
		Kind:       "PromptCounterReport",
		Metadata: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{v1alpha1.LabelPortfolio: p.name},
			Finalizers:  []string{v1alpha1.FinalizerCounterFold},
			Annotations: map[string]string{annotationInstance: f.instance},
		},
		Spec: v1alpha1.PromptCounterReportSpec{Portfolio: p.name, Role: v1alpha1.RoleWriter, Writer: f.writer,
			Arms: spec.Arms, UpdateTime: &spec.UpdateTime},
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

// write writes p's report when its counts are ahead of what it holds, creating it on the first
// write, and reports whether it wrote.
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
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	name := counters.ReportName(f.writer, p.name)
	if r.uid == "" {
		created, err := f.create(ctx, p, name, patch.Spec)
		if apierrors.IsAlreadyExists(err) {
			var cur *v1alpha1.PromptCounterReport
			if cur, err = f.kube.getReport(ctx, name); err == nil {
				f.adopt(ctx, p, cur)
				err = fmt.Errorf("report %s existed at its first write: counting on from its counts", name)
			}
		}
		if err != nil {
			f.metrics.flushErrors.Inc()
			return false, fmt.Errorf("creating report of portfolio %s: %w", p.name, err)
		}
		r.uid = created.UID
		f.settled(p, arms, next)
		f.markCreated(ctx, p.name)
		return true, nil
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return false, err
	}
	f.metrics.writes.WithLabelValues("report").Inc()
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
	f.settled(p, arms, next)
	return true, nil
}

// settled records that p's report now holds next: the arms' written counts rise to it.
func (f *flusher) settled(p *portfolioState, arms map[string]*armState, next map[string]walCounts) {
	p.report.reported = next
	for name, a := range arms {
		c := next[name]
		f.api.settle(&a.flushedS, c.successes)
		f.api.settle(&a.flushedF, c.failures)
	}
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
