// Package simulate runs a promptfolio portfolio against simulated traffic whose true success rates
// are known, so that the selection and evolution rules can be judged against an oracle that always
// serves the best prompt. It uses internal/bandit for Thompson sampling and internal/evolution for
// evolution cycles, the same code the selector and the controller run; only the traffic, the
// rewards and the mutator are simulated.
//
// One run (Run) plays Scenario.Trials() calls with one Strategy. RunMany repeats runs with seeds
// derived from one base seed, on a pool of workers, and summarizes them; WritePlots draws one run
// and a summary. Everything is deterministic for a seed, whatever the number of workers.
package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/promptfolio/promptfolio/internal/bandit"
	"github.com/promptfolio/promptfolio/internal/evolution"
)

// Portfolio is the name of the simulated portfolio, the prefix of its arms' names.
const Portfolio = "sim"

// Strategy is a way to choose the arm that serves each call.
type Strategy int

const (
	// Thompson serves the argmax of one draw from every active arm's posterior (bandit.Sampler),
	// as the selector does.
	Thompson Strategy = iota
	// Uniform serves an active arm chosen uniformly at random: a plain A/B/n split.
	Uniform
	// EpsilonGreedy serves, with probability Scenario.Epsilon, a uniformly random active arm and
	// otherwise the active arm with the highest posterior mean (ties broken at random). Using the
	// posterior mean rather than the raw success ratio gives untried arms a defined value.
	EpsilonGreedy
)

// Strategies lists every strategy in the order reports show them.
var Strategies = []Strategy{Thompson, Uniform, EpsilonGreedy}

// String is the strategy's name in reports and flags.
func (s Strategy) String() string {
	switch s {
	case Thompson:
		return "thompson"
	case Uniform:
		return "uniform"
	case EpsilonGreedy:
		return "epsilon-greedy"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Arm is one simulated prompt and what the run learned about it.
type Arm struct {
	// Name is "sim-p<i>" for the i-th seed prompt and evolution.ChildName for children.
	Name string
	// Rate is the arm's true success rate, which only the simulation knows.
	Rate float64
	// PriorAlpha and PriorBeta are the arm's prior; Successes and Failures its rewards.
	PriorAlpha, PriorBeta float64
	Successes, Failures   int64
	// Parent is the arm this one was mutated from, empty for seeds.
	Parent string
	// Generation is 0 for seeds and the evolution cycle's number for children.
	Generation int64
	// Born is the index (from 0) of the first call the arm could serve.
	Born int
	// Retired is the index of the first call after the arm's retirement, -1 while it is active.
	Retired int
	// RetiredBecause is the retirement's message, empty while the arm is active.
	RetiredBecause string
}

// Posterior is the arm's posterior.
func (a Arm) Posterior() bandit.Posterior {
	return bandit.NewPosterior(a.PriorAlpha, a.PriorBeta, a.Successes, a.Failures)
}

// Counts are an arm's rewards at one moment.
type Counts struct {
	Successes, Failures int64
	Active              bool
}

// Trace is the call-by-call record of a run, kept when Run is asked to.
type Trace struct {
	// Choices[t] is the index in Result.Arms of the arm that served call t; Rewards[t] its reward.
	Choices []int
	Rewards []bool
	// EndOfDay[d][i] are the counts of arm i at the end of day d+1, before that day's evolution
	// cycle; arms born later are missing from the slice.
	EndOfDay [][]Counts
}

// Result is the outcome of one run.
type Result struct {
	Strategy Strategy
	// Arms are all arms of the run in order of creation, with their final counts.
	Arms []Arm
	// BestShareEarly is the share of calls 1..EarlyTrials served by a best arm (an active arm with
	// the highest true rate at that call); BestShareLate the share of the calls after those, NaN
	// when there are none.
	BestShareEarly, BestShareLate float64
	// Reward is the number of successes.
	Reward int64
	// OracleReward is the expected number of successes of an oracle that always serves a best
	// arm; Regret is OracleReward minus the expected successes of the arms actually served, a sum
	// of non-negative terms.
	OracleReward, Regret float64
	// DailyBestShare[d] is the share of day d+1's calls served by a best arm; DailyRegret[d] the
	// regret accumulated by the end of day d+1.
	DailyBestShare, DailyRegret []float64
	// FinalBestRate is the highest true rate among the arms active at the end.
	FinalBestRate float64
	// Cycles counts evolution cycles; Created and Retired the arms they created and retired.
	Cycles, Created, Retired int
	// Harmful counts harmful retirements: an arm retired while its true rate was strictly higher
	// than that of every arm the cycle left active (children it creates not counted). HarmfulLoss
	// sums, over them, the retired arm's rate minus the best rate left; HarmfulBig counts those
	// that lost more than HarmfulMargin.
	Harmful, HarmfulBig int
	HarmfulLoss         float64
	// Trace is nil unless Run was asked to keep it.
	Trace *Trace
}

// HarmfulMargin is the loss of true rate above which a harmful retirement counts in
// Result.HarmfulBig.
const HarmfulMargin = 0.02

// epoch orders arms by creation for evolution's tie-break on age; only order matters.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// run is the state of one run in progress.
type run struct {
	sc       Scenario
	strategy Strategy
	rng      *rand.Rand
	sampler  *bandit.Sampler
	arms     []Arm
	active   []int // indices into arms, in creation order
	posts    []bandit.Posterior
}

// Run plays one run of the scenario with a strategy. The same scenario, strategy and seed give the
// same result. With trace, the result keeps every call (Result.Trace) for plotting.
func Run(sc Scenario, strategy Strategy, seed uint64, trace bool) (Result, error) {
	if err := sc.Validate(); err != nil {
		return Result{}, err
	}
	r := &run{
		sc:       sc,
		strategy: strategy,
		rng:      rand.New(rand.NewPCG(bandit.SplitMix64(seed), bandit.SplitMix64(seed+1))),
		sampler:  bandit.NewSampler(bandit.SplitMix64(seed + 2)),
	}
	for i, rate := range sc.Rates {
		r.arms = append(r.arms, Arm{
			Name: fmt.Sprintf("%s-p%d", Portfolio, i+1), Rate: rate,
			PriorAlpha: sc.Prior.Alpha, PriorBeta: sc.Prior.Beta, Retired: -1,
		})
		r.active = append(r.active, i)
	}

	res := Result{
		Strategy:       strategy,
		DailyBestShare: make([]float64, sc.Days),
		DailyRegret:    make([]float64, sc.Days),
	}
	if trace {
		res.Trace = &Trace{
			Choices:  make([]int, 0, sc.Trials()),
			Rewards:  make([]bool, 0, sc.Trials()),
			EndOfDay: make([][]Counts, 0, sc.Days),
		}
	}
	var bestEarly, bestLate, late int
	t := 0
	for day := 0; day < sc.Days; day++ {
		bestToday := 0
		for call := 0; call < sc.CallsPerDay; call, t = call+1, t+1 {
			i := r.choose()
			arm := &r.arms[i]
			success := r.rng.Float64() < arm.Rate
			if success {
				arm.Successes++
				res.Reward++
			} else {
				arm.Failures++
			}
			top := r.bestRate()
			res.OracleReward += top
			res.Regret += top - arm.Rate
			if arm.Rate == top {
				bestToday++
				if t < sc.EarlyTrials {
					bestEarly++
				} else {
					bestLate++
				}
			}
			if t >= sc.EarlyTrials {
				late++
			}
			if trace {
				res.Trace.Choices = append(res.Trace.Choices, i)
				res.Trace.Rewards = append(res.Trace.Rewards, success)
			}
		}
		res.DailyBestShare[day] = float64(bestToday) / float64(sc.CallsPerDay)
		res.DailyRegret[day] = res.Regret
		if trace {
			counts := make([]Counts, len(r.arms))
			for i, a := range r.arms {
				counts[i] = Counts{Successes: a.Successes, Failures: a.Failures, Active: a.Retired < 0}
			}
			res.Trace.EndOfDay = append(res.Trace.EndOfDay, counts)
		}
		if sc.Evolution.Enabled && day < sc.Days-1 {
			if err := r.evolve(int64(day+1), t, &res); err != nil {
				return Result{}, fmt.Errorf("day %d: %w", day+1, err)
			}
		}
	}
	res.BestShareEarly = float64(bestEarly) / float64(min(sc.EarlyTrials, t))
	res.BestShareLate = math.NaN()
	if late > 0 {
		res.BestShareLate = float64(bestLate) / float64(late)
	}
	res.FinalBestRate = r.bestRate()
	res.Arms = r.arms
	return res, nil
}

// choose returns the index in r.arms of the arm that serves the next call.
func (r *run) choose() int {
	switch r.strategy {
	case Thompson:
		r.posts = r.posts[:0]
		for _, i := range r.active {
			r.posts = append(r.posts, r.arms[i].Posterior())
		}
		return r.active[r.sampler.Draw(r.posts)]
	case EpsilonGreedy:
		if r.rng.Float64() >= r.sc.Epsilon {
			return r.greedy()
		}
	}
	return r.active[r.rng.IntN(len(r.active))]
}

// greedy returns the active arm with the highest posterior mean, ties broken uniformly at random.
func (r *run) greedy() int {
	best, ties := -1, 0
	bestMean := math.Inf(-1)
	for _, i := range r.active {
		m := r.arms[i].Posterior().Mean()
		switch {
		case m > bestMean:
			best, bestMean, ties = i, m, 1
		case m == bestMean:
			// Reservoir sampling: the k-th tie replaces the choice with probability 1/k.
			ties++
			if r.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return best
}

// bestRate is the highest true rate among the active arms.
func (r *run) bestRate() float64 {
	top := 0.0
	for _, i := range r.active {
		top = math.Max(top, r.arms[i].Rate)
	}
	return top
}

// evolve runs one evolution cycle through evolution.Decide and applies its plan: retired arms
// stop serving and children, with true rates mutated from their parent's, start serving at call t.
// Retirements are judged against the oracle before the children are born (Result.Harmful).
func (r *run) evolve(generation int64, t int, res *Result) error {
	in := evolution.Input{
		Portfolio:  Portfolio,
		Generation: generation,
		Policy:     r.sc.Evolution.Policy,
		Arms:       make([]evolution.Arm, len(r.arms)),
	}
	index := make(map[string]int, len(r.arms))
	for i, a := range r.arms {
		index[a.Name] = i
		in.Arms[i] = evolution.Arm{
			Name: a.Name, PriorAlpha: a.PriorAlpha, PriorBeta: a.PriorBeta,
			Successes: a.Successes, Failures: a.Failures, Active: a.Retired < 0,
			Created: epoch.Add(time.Duration(i)), Generation: a.Generation, Parent: a.Parent,
		}
	}
	plan, err := evolution.Decide(in)
	if err != nil {
		return err
	}
	res.Cycles++
	for _, ret := range plan.Retire {
		a := &r.arms[index[ret.Arm]]
		a.Retired, a.RetiredBecause = t, ret.Message
		res.Retired++
	}
	if len(plan.Retire) > 0 {
		left := 0.0
		for _, a := range r.arms {
			if a.Retired < 0 {
				left = math.Max(left, a.Rate)
			}
		}
		for _, ret := range plan.Retire {
			if loss := r.arms[index[ret.Arm]].Rate - left; loss > 0 {
				res.Harmful++
				res.HarmfulLoss += loss
				if loss > HarmfulMargin {
					res.HarmfulBig++
				}
			}
		}
	}
	for _, c := range plan.Children {
		parent := r.arms[index[c.Parent]]
		rate := parent.Rate + r.sc.Evolution.MutationBias + r.rng.NormFloat64()*r.sc.Evolution.Sigma
		r.arms = append(r.arms, Arm{
			Name: c.Name, Rate: math.Min(math.Max(rate, 0), 1),
			PriorAlpha: c.PriorAlpha, PriorBeta: c.PriorBeta,
			Parent: c.Parent, Generation: c.Generation, Born: t, Retired: -1,
		})
		res.Created++
	}
	r.active = r.active[:0]
	for i, a := range r.arms {
		if a.Retired < 0 {
			r.active = append(r.active, i)
		}
	}
	return nil
}

// RunSeed is the seed of run number i (from 0) of a batch with base seed seed, and
// StrategySeed the seed one strategy uses within that run. Run 0 of a batch is the run WritePlots
// draws, so `--runs 1` and `--runs 1000` with one --seed plot the same run.
func RunSeed(seed uint64, i int) uint64 {
	return bandit.SplitMix64(seed ^ bandit.SplitMix64(uint64(i)))
}

// StrategySeed is the seed of strategy s within the run whose seed is runSeed.
func StrategySeed(runSeed uint64, s Strategy) uint64 {
	return bandit.SplitMix64(runSeed + uint64(s)*0x632be59bd9b4e019)
}
