package selector

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/bandit"
)

// armState is what this process knows about one PromptArm: the watched totals, and the rewards it
// acknowledged itself. Fields that change are atomics, so draws and rewards take no lock.
type armState struct {
	namespace, name, portfolio string
	priorAlpha, priorBeta      float64
	// entry is the JSON fragment `"portfolio":"…","arm":"…","prompt":…` of draw answers.
	entry []byte

	active atomic.Bool
	// watched are the totals of the last observed object (status.successes and failures).
	watchedS, watchedF atomic.Int64
	// acked are the rewards this writer acknowledged: cumulative since the writer's first start
	// (restored from its state record or its report), only rising.
	ackedS, ackedF atomic.Int64
	// flushed are the cumulative counts last written to the writer's report.
	flushedS, flushedF atomic.Int64
	// deleted is set when the PromptArm disappeared.
	deleted atomic.Bool
}

// posterior returns the arm's posterior from the watched totals plus what this process
// acknowledged and has not yet reported. Rewards reported but not yet summed by the controller
// are missing from it for a moment; exact counts are the controller's, not the posterior's.
func (a *armState) posterior() bandit.Posterior {
	s := a.watchedS.Load() + max(0, a.ackedS.Load()-a.flushedS.Load())
	f := a.watchedF.Load() + max(0, a.ackedF.Load()-a.flushedF.Load())
	return bandit.NewPosterior(a.priorAlpha, a.priorBeta, s, f)
}

// pending returns the acknowledged rewards not yet written.
func (a *armState) pending() int64 {
	return a.ackedS.Load() - a.flushedS.Load() + a.ackedF.Load() - a.flushedF.Load()
}

// portfolioState holds one portfolio's arms.
type portfolioState struct {
	name string
	keys *Keyring
	// active is the list draws sample from; all is every arm by name. Both are replaced, never
	// changed, under registry.mu.
	active atomic.Pointer[[]*armState]
	all    atomic.Pointer[map[string]*armState]

	draws            prometheus.Counter
	successes, fails prometheus.Counter

	// report is the writer's PromptCounterReport of this portfolio; see flush.go.
	report reportState
}

// registry is the set of portfolios this process serves. Readers never lock; the informer's
// handlers change it under mu by replacing maps and lists.
type registry struct {
	writer     string
	mu         sync.Mutex
	portfolios atomic.Pointer[map[string]*portfolioState]
	// newPortfolio builds the state of a portfolio seen for the first time.
	newPortfolio func(name string) *portfolioState
	// initArm, when set, sets the counts of an arm seen for the first time.
	initArm func(p *portfolioState, a *armState)
}

func newRegistry(writer string, newPortfolio func(name string) *portfolioState) *registry {
	r := &registry{writer: writer, newPortfolio: newPortfolio}
	empty := map[string]*portfolioState{}
	r.portfolios.Store(&empty)
	return r
}

// portfolio returns the named portfolio, or nil.
func (r *registry) portfolio(name string) *portfolioState {
	return (*r.portfolios.Load())[name]
}

// observe records the current state of a PromptArm from the informer.
func (r *registry) observe(arm *v1alpha1.PromptArm) {
	portfolio := arm.Spec.Portfolio
	if portfolio == "" || arm.Name == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.portfolio(portfolio)
	if p == nil {
		p = r.newPortfolio(portfolio)
		next := cloneMap(*r.portfolios.Load())
		next[portfolio] = p
		r.portfolios.Store(&next)
	}
	a := (*p.all.Load())[arm.Name]
	if a == nil {
		a = newArmState(arm)
		if r.initArm != nil {
			r.initArm(p, a)
		}
		next := cloneMap(*p.all.Load())
		next[arm.Name] = a
		p.all.Store(&next)
	}
	a.watchedS.Store(arm.Status.Successes)
	a.watchedF.Store(arm.Status.Failures)
	if iv := arm.Status.ReportInterval; iv != nil {
		p.report.interval.Store(int64(iv.Duration))
	}
	a.deleted.Store(false)
	active := arm.Status.Phase != v1alpha1.ArmRetired
	if a.active.Swap(active) != active || len(*p.active.Load()) == 0 {
		p.rebuildActive()
	}
}

// forget records that a PromptArm was deleted. Its state stays, so rewards it acknowledged but
// has not written are still reported as pending, but it is no longer served or rewarded.
func (r *registry) forget(namespace, name, portfolio string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.portfolio(portfolio)
	if p == nil {
		return
	}
	if a := (*p.all.Load())[name]; a != nil && a.namespace == namespace {
		a.deleted.Store(true)
		a.active.Store(false)
		p.rebuildActive()
	}
}

// rebuildActive replaces the list of arms draws sample from. Callers hold registry.mu.
func (p *portfolioState) rebuildActive() {
	var list []*armState
	for _, a := range *p.all.Load() {
		if a.active.Load() && !a.deleted.Load() {
			list = append(list, a)
		}
	}
	// A stable order keeps draws reproducible for a seeded sampler.
	sortArms(list)
	p.active.Store(&list)
}

func newArmState(arm *v1alpha1.PromptArm) *armState {
	a := &armState{
		namespace: arm.Namespace,
		name:      arm.Name,
		portfolio: arm.Spec.Portfolio,
	}
	a.priorAlpha, a.priorBeta = arm.Spec.Prior.Params()
	a.entry = appendJSONField(a.entry, "portfolio", arm.Spec.Portfolio)
	a.entry = append(a.entry, ',')
	a.entry = appendJSONField(a.entry, "arm", arm.Name)
	a.entry = append(a.entry, ',')
	a.entry = appendJSONField(a.entry, "prompt", arm.Spec.Prompt)
	return a
}

// appendJSONField appends `"key":"value"` with value escaped as JSON.
func appendJSONField(dst []byte, key, value string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	v, _ := json.Marshal(value) // a string always marshals
	return append(dst, v...)
}

func cloneMap[V any](m map[string]V) map[string]V {
	next := maps.Clone(m)
	if next == nil {
		next = map[string]V{}
	}
	return next
}

func sortArms(list []*armState) {
	slices.SortFunc(list, func(a, b *armState) int { return strings.Compare(a.name, b.name) })
}
