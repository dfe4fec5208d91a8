// Package demo drives a simulated workload through a selector's HTTP API, the way an application
// would: draw a prompt, "serve" it, report whether it worked. Every prompt has a hidden true
// success rate; children of mutations inherit their parent's rate plus Gaussian noise, so
// evolution can find better prompts than the seeds. While it runs it prints what the cluster has
// learned next to the hidden truth.
package demo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	selectorclient "github.com/promptfolio/promptfolio/pkg/client"
)

// Options configure a workload run.
type Options struct {
	// SelectorURL is the base URL of the selector, e.g. http://127.0.0.1:8088.
	SelectorURL string
	// Namespace and Portfolio name the portfolio to drive.
	Namespace, Portfolio string
	// SeedRates are the hidden success rates of the seed prompts, by prompt name (the arm name
	// without the "<portfolio>-" prefix). Seeds not listed get DefaultRate.
	SeedRates map[string]float64
	// DefaultRate is the rate of arms without a known parent or seed rate.
	DefaultRate float64
	// Sigma is the standard deviation of a child's rate around its parent's.
	Sigma float64
	// Duration bounds the run; RequestsPerSecond paces it (0: as fast as the selector answers).
	Duration          time.Duration
	RequestsPerSecond float64
	// Workers is the number of concurrent simulated clients.
	Workers int
	// Seed makes the hidden rates and outcomes reproducible.
	Seed uint64
	// Progress is how often a table is printed to Out; 0 turns it off.
	Progress time.Duration
	// Out receives progress tables; nil discards them.
	Out io.Writer
}

// ArmResult is what the workload saw of one arm.
type ArmResult struct {
	Name       string
	TrueRate   float64
	Served     int64
	Successes  int64
	Phase      v1.ArmPhase
	Generation int32
	Mean       float64
	ProbBest   float64
	// RetiredReason and RetiredGeneration say why and in which evolution generation a retired arm
	// was retired; empty and 0 for active arms and retirements outside a cycle.
	RetiredReason     string
	RetiredGeneration int32
}

// Result summarises a run.
type Result struct {
	Draws, Rewards, Successes int64
	// Errors counts draws or rewards that failed (the selector stayed unreachable past retries).
	Errors int64
	// BestArm and Generation are read from the portfolio's status at the end.
	BestArm    string
	Generation int32
	// BestShareLastHalf is the share of the second half of the draws made so far that went to
	// BestArm (so a run stopped early by a signal still reports it).
	BestShareLastHalf float64
	// Elapsed is how long the run drove traffic.
	Elapsed time.Duration
	// OracleArm is the arm with the highest hidden rate among the Active arms at the end.
	OracleArm string
	Arms      []ArmResult
}

// rates holds the hidden success rate of every arm seen so far.
type rates struct {
	mu    sync.Mutex
	byArm map[string]float64
}

// Workload is one run against a selector.
type Workload struct {
	opts   Options
	kube   client.Client
	sel    *selectorclient.Client
	rates  rates
	served sync.Map // arm -> *armCounts
	draws  atomic.Int64
	order  drawOrder
}

type armCounts struct {
	served, successes atomic.Int64
}

// drawOrder records which arm served each draw, in order, as small indexes (two bytes a draw), so
// that shares over the later draws can be computed however long the run lasts.
type drawOrder struct {
	mu    sync.Mutex
	index map[string]uint16
	names []string
	seq   []uint16
}

func (o *drawOrder) add(arm string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, ok := o.index[arm]
	if !ok {
		if o.index == nil {
			o.index = map[string]uint16{}
		}
		i = uint16(len(o.names))
		o.index[arm] = i
		o.names = append(o.names, arm)
	}
	o.seq = append(o.seq, i)
}

// shareOfSecondHalf is the share of the second half of the draws recorded so far served by arm.
func (o *drawOrder) shareOfSecondHalf(arm string) float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	late := o.seq[len(o.seq)/2:]
	i, ok := o.index[arm]
	if !ok || len(late) == 0 {
		return 0
	}
	n := 0
	for _, j := range late {
		if j == i {
			n++
		}
	}
	return float64(n) / float64(len(late))
}

// New returns a workload reading arms with kube and calling the selector at opts.SelectorURL.
func New(kube client.Client, opts Options) *Workload {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.DefaultRate == 0 {
		opts.DefaultRate = 0.3
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	return &Workload{
		opts:  opts,
		kube:  kube,
		sel:   selectorclient.New(opts.SelectorURL, selectorclient.WithTimeout(5*time.Second), selectorclient.WithRetries(5, 100*time.Millisecond)),
		rates: rates{byArm: map[string]float64{}},
	}
}

// rateOf returns the hidden rate of an arm, deriving it on first sight: a seed's from SeedRates,
// a child's from its parent's plus Normal(0, Sigma), clipped to [0.01, 0.99].
func (w *Workload) rateOf(ctx context.Context, arm string) float64 {
	w.rates.mu.Lock()
	r, ok := w.rates.byArm[arm]
	w.rates.mu.Unlock()
	if ok {
		return r
	}
	r = w.deriveRate(ctx, arm, 0)
	w.rates.mu.Lock()
	defer w.rates.mu.Unlock()
	if existing, ok := w.rates.byArm[arm]; ok {
		return existing
	}
	w.rates.byArm[arm] = r
	return r
}

func (w *Workload) deriveRate(ctx context.Context, arm string, depth int) float64 {
	if name, ok := strings.CutPrefix(arm, w.opts.Portfolio+"-"); ok {
		if r, ok := w.opts.SeedRates[name]; ok {
			return r
		}
	}
	var pa v1.PromptArm
	if depth > 50 || w.kube.Get(ctx, client.ObjectKey{Namespace: w.opts.Namespace, Name: arm}, &pa) != nil || pa.Spec.Origin.Parent == "" {
		return w.opts.DefaultRate
	}
	w.rates.mu.Lock()
	parent, ok := w.rates.byArm[pa.Spec.Origin.Parent]
	w.rates.mu.Unlock()
	if !ok {
		parent = w.deriveRate(ctx, pa.Spec.Origin.Parent, depth+1)
	}
	// The noise is a function of the seed and the arm's name alone, so every replica of a
	// workload, and every restart of one, gives a child the same hidden rate.
	h := fnv.New64a()
	_, _ = h.Write([]byte(arm))
	noise := rand.New(rand.NewPCG(w.opts.Seed, h.Sum64())).NormFloat64() * w.opts.Sigma
	return math.Min(0.99, math.Max(0.01, parent+noise))
}

// Run drives the workload until opts.Duration passes or ctx ends, then reads the portfolio.
func (w *Workload) Run(ctx context.Context) (Result, error) {
	runCtx, cancel := context.WithTimeout(ctx, w.opts.Duration)
	defer cancel()
	var (
		errs      atomic.Int64
		rewards   atomic.Int64
		successes atomic.Int64
		wg        sync.WaitGroup
		start     = time.Now()
	)
	var tick <-chan time.Time
	if w.opts.RequestsPerSecond > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / w.opts.RequestsPerSecond))
		defer t.Stop()
		tick = t.C
	}
	for i := range w.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(w.opts.Seed+uint64(i)+1, uint64(i)))
			for runCtx.Err() == nil {
				if tick != nil {
					select {
					case <-tick:
					case <-runCtx.Done():
						return
					}
				}
				d, err := w.sel.Draw(runCtx, w.opts.Portfolio)
				if err != nil {
					if runCtx.Err() == nil {
						errs.Add(1)
						time.Sleep(50 * time.Millisecond)
					}
					continue
				}
				w.draws.Add(1)
				counts := w.countsOf(d.Arm)
				counts.served.Add(1)
				w.order.add(d.Arm)
				ok := rng.Float64() < w.rateOf(runCtx, d.Arm)
				// A reward is reported even as the run ends, so no served decision goes unrewarded.
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				err = w.sel.Reward(rctx, d.Decision, ok)
				rcancel()
				if err != nil {
					errs.Add(1)
					continue
				}
				rewards.Add(1)
				if ok {
					successes.Add(1)
					counts.successes.Add(1)
				}
			}
		}()
	}
	if w.opts.Progress > 0 {
		t := time.NewTicker(w.opts.Progress)
		defer t.Stop()
	progress:
		for {
			select {
			case <-runCtx.Done():
				break progress
			case <-t.C:
				if res, err := w.snapshot(ctx); err == nil {
					w.printTable(res, rewards.Load())
				}
			}
		}
	}
	wg.Wait()
	// The final read outlives ctx, so a run stopped by a signal still reports what it did.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer scancel()
	res, err := w.snapshot(sctx)
	res.Rewards, res.Successes, res.Errors = rewards.Load(), successes.Load(), errs.Load()
	res.Elapsed = time.Since(start)
	return res, err
}

func (w *Workload) countsOf(arm string) *armCounts {
	c, _ := w.served.LoadOrStore(arm, &armCounts{})
	return c.(*armCounts)
}

// snapshot reads the portfolio and its arms and joins them with what the workload served.
func (w *Workload) snapshot(ctx context.Context) (Result, error) {
	var pf v1.PromptPortfolio
	if err := w.kube.Get(ctx, client.ObjectKey{Namespace: w.opts.Namespace, Name: w.opts.Portfolio}, &pf); err != nil {
		return Result{}, fmt.Errorf("reading portfolio: %w", err)
	}
	var arms v1.PromptArmList
	if err := w.kube.List(ctx, &arms, client.InNamespace(w.opts.Namespace), client.MatchingLabels{v1.LabelPortfolio: w.opts.Portfolio}); err != nil {
		return Result{}, fmt.Errorf("listing arms: %w", err)
	}
	res := Result{Draws: w.draws.Load(), BestArm: pf.Status.BestArm, Generation: pf.Status.EvolutionGeneration}
	oracle := -1.0
	for _, a := range arms.Items {
		c := w.countsOf(a.Name)
		r := ArmResult{
			Name: a.Name, TrueRate: w.rateOf(ctx, a.Name), Served: c.served.Load(), Successes: c.successes.Load(),
			Phase: a.Status.Phase, Generation: a.Spec.Origin.Generation, Mean: a.Status.Mean, ProbBest: a.Status.ProbBest,
		}
		if rt := a.Status.Retirement; rt != nil {
			r.RetiredReason, r.RetiredGeneration = rt.Reason, rt.Generation
		}
		if r.Phase != v1.ArmRetired && r.TrueRate > oracle {
			oracle, res.OracleArm = r.TrueRate, r.Name
		}
		res.Arms = append(res.Arms, r)
	}
	res.BestShareLastHalf = w.order.shareOfSecondHalf(res.BestArm)
	sort.Slice(res.Arms, func(i, j int) bool {
		if (res.Arms[i].Phase == v1.ArmRetired) != (res.Arms[j].Phase == v1.ArmRetired) {
			return res.Arms[j].Phase == v1.ArmRetired
		}
		return res.Arms[i].Mean > res.Arms[j].Mean
	})
	return res, nil
}

func (w *Workload) printTable(res Result, rewards int64) {
	fmt.Fprintf(w.opts.Out, "\n%s  rewards=%d  best=%s  generation=%d\n", time.Now().Format("15:04:05"), rewards, res.BestArm, res.Generation)
	tw := tabwriter.NewWriter(w.opts.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARM\tPHASE\tGEN\tSERVED\tTRUE RATE\tLEARNED MEAN\tP(BEST)")
	for _, a := range res.Arms {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.3f\n", a.Name, a.Phase, a.Generation, a.Served, a.TrueRate, a.Mean, a.ProbBest)
	}
	_ = tw.Flush()
}

// ErrNoProgress is returned by Check when a run did not show learning.
var ErrNoProgress = errors.New("the demo did not show learning")

// BestTolerance is how much lower than the hidden best's rate the hidden rate of the arm the
// cluster found best may be: children within it of each other cannot be told apart in a few
// minutes of traffic.
const BestTolerance = 0.05

// JudgedServed is the number of calls an active arm must have served to count as the hidden best
// that Check compares with: a child born in the last seconds of a run has no evidence yet.
const JudgedServed = 100

// Check returns an error unless a best arm was found and at least minGenerations evolution
// generations completed. When evolution was expected (minGenerations > 0) it also requires that
// the arm the cluster found best is the hidden best among the active arms that served at least
// JudgedServed calls (or within BestTolerance of its hidden rate), and that evolution retired a weak arm and used the freed
// slot: some arm retired as WorseThanBest by a cycle, and a child created by a later cycle.
func (r Result) Check(minGenerations int32) error {
	var problems []string
	if r.BestArm == "" {
		problems = append(problems, "no best arm in the portfolio's status")
	}
	if r.Generation < minGenerations {
		problems = append(problems, fmt.Sprintf("%d evolution generations, want at least %d", r.Generation, minGenerations))
	}
	if minGenerations > 0 && r.BestArm != "" {
		problems = append(problems, r.checkBestIsHidden()...)
		problems = append(problems, r.checkSlotsTurnOver()...)
	}
	if r.Rewards == 0 {
		problems = append(problems, "no reward was acknowledged")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrNoProgress, strings.Join(problems, "; "))
	}
	return nil
}

// checkBestIsHidden compares the arm the cluster found best with the hidden best.
func (r Result) checkBestIsHidden() []string {
	best, oracle := -1.0, -1.0
	var oracleArm string
	for _, a := range r.Arms {
		if a.Name == r.BestArm {
			best = a.TrueRate
		}
		if a.Phase != v1.ArmRetired && a.Served >= JudgedServed && a.TrueRate > oracle {
			oracle, oracleArm = a.TrueRate, a.Name
		}
	}
	switch {
	case best < 0:
		return []string{fmt.Sprintf("the best arm %s is not among the arms", r.BestArm)}
	case oracleArm == "":
		return []string{fmt.Sprintf("no active arm served %d calls", JudgedServed)}
	case r.BestArm != oracleArm && best < oracle-BestTolerance:
		return []string{fmt.Sprintf("the cluster's best arm %s has hidden rate %.3f, the hidden best of the arms that served %d calls, %s, has %.3f",
			r.BestArm, best, JudgedServed, oracleArm, oracle)}
	}
	return nil
}

// checkSlotsTurnOver requires a retirement by a cycle followed by a child of a later cycle.
func (r Result) checkSlotsTurnOver() []string {
	first := int32(-1)
	for _, a := range r.Arms {
		if a.RetiredReason == v1.RetiredWorseThanBest && a.RetiredGeneration > 0 && (first < 0 || a.RetiredGeneration < first) {
			first = a.RetiredGeneration
		}
	}
	if first < 0 {
		return []string{"evolution retired no weak arm"}
	}
	for _, a := range r.Arms {
		if a.Generation > first {
			return nil
		}
	}
	return []string{fmt.Sprintf("no child was created after the first retirement (generation %d): the freed slot was not used", first)}
}
