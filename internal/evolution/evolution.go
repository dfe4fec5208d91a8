package evolution

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/promptfolio/promptfolio/internal/bandit"
)

// ReasonWorseThanBest is the reason of every retirement this package plans. It is the same word as
// the API's RetiredWorseThanBest, repeated here so that this package needs no Kubernetes imports.
const ReasonWorseThanBest = "WorseThanBest"

// MaxNameLength is the longest arm name Decide produces: the limit of a Kubernetes label value,
// since arm names are also written into labels.
const MaxNameLength = 63

// MaxPortfolioNameLength is the longest portfolio name the API admits. With it, a child name fits
// MaxNameLength for every generation the API can count (an int32: at most 10 digits) and every
// index up to 99 (the API allows at most 20 mutations a cycle):
// 40 + len("-g") + 10 + len("-") + 2 = 55 characters, 8 to spare.
const MaxPortfolioNameLength = 40

// priorDecimals is the number of decimal places child priors are rounded to.
const priorDecimals = 6

// minPrior is the smallest child prior parameter Decide writes: one unit in the last decimal place
// kept, so that rounding never yields an improper Beta(0, β) prior.
const minPrior = 1e-6

// Policy is a portfolio's evolution policy, the numbers of spec.evolution.
type Policy struct {
	// RetirementThreshold retires an arm when P(arm > best) falls below it. 0 never retires;
	// DefaultPolicy uses 0.05. Must be in [0, 1].
	RetirementThreshold float64
	// MinTrials is the number of trials (successes + failures) an arm needs before it may be
	// retired, so that no arm is judged on a handful of rewards. Must be ≥ 0.
	MinTrials int64
	// MinActiveArms is a floor: retirement never leaves fewer active arms. Must be ≥ 1.
	MinActiveArms int
	// MaxActiveArms is a ceiling: a cycle creates no child that would make more active arms.
	// Must be ≥ MinActiveArms.
	MaxActiveArms int
	// MutationsPerCycle is the number of children a cycle asks for when MaxActiveArms leaves room.
	// Must be ≥ 0; 0 turns mutation off and keeps retirement.
	MutationsPerCycle int
	// ChildPriorStrength is n0, the effective number of trials a child's prior is worth
	// (α0 + β0 = n0). Must be finite and > 0.
	ChildPriorStrength float64
}

// DefaultPolicy returns the policy used where a portfolio sets nothing: retire below 5%, after 100
// trials, keep 2 to 8 active arms, 2 children a cycle, children's priors worth 10 trials.
func DefaultPolicy() Policy {
	return Policy{
		RetirementThreshold: 0.05,
		MinTrials:           100,
		MinActiveArms:       2,
		MaxActiveArms:       8,
		MutationsPerCycle:   2,
		ChildPriorStrength:  10,
	}
}

// Validate reports the first rule of Policy's field comments that p breaks.
func (p Policy) Validate() error {
	switch {
	case math.IsNaN(p.RetirementThreshold) || p.RetirementThreshold < 0 || p.RetirementThreshold > 1:
		return fmt.Errorf("retirementThreshold %v is not in [0, 1]", p.RetirementThreshold)
	case p.MinTrials < 0:
		return fmt.Errorf("minTrials %d is negative", p.MinTrials)
	case p.MinActiveArms < 1:
		return fmt.Errorf("minActiveArms %d is less than 1", p.MinActiveArms)
	case p.MaxActiveArms < p.MinActiveArms:
		return fmt.Errorf("maxActiveArms %d is less than minActiveArms %d", p.MaxActiveArms, p.MinActiveArms)
	case p.MutationsPerCycle < 0:
		return fmt.Errorf("mutationsPerCycle %d is negative", p.MutationsPerCycle)
	case !(p.ChildPriorStrength > 0) || math.IsInf(p.ChildPriorStrength, 1):
		return fmt.Errorf("childPriorStrength %v is not a positive finite number", p.ChildPriorStrength)
	}
	return nil
}

// Arm is what the policy knows of one arm of the portfolio, active or retired.
type Arm struct {
	// Name identifies the arm; names are unique within a portfolio.
	Name string
	// PriorAlpha and PriorBeta are the arm's prior Beta(α0, β0); both must be finite and > 0.
	PriorAlpha, PriorBeta float64
	// Successes and Failures are the arm's reward counts; both must be ≥ 0.
	Successes, Failures int64
	// Active is false once the arm is retired. Retired arms are ignored by every rule.
	Active bool
	// Created orders arms by age for tie-breaking: an earlier time is older. Callers without
	// clocks (the simulator) may use any increasing sequence of instants.
	Created time.Time
	// Generation is the evolution generation that created the arm (0 for seeds and hand-written
	// arms). The policy does not use it; it is carried so that callers can report lineage.
	Generation int64
}

// Trials is the number of rewards the arm has received.
func (a Arm) Trials() int64 { return a.Successes + a.Failures }

// Posterior is the arm's posterior Beta(α0 + successes, β0 + failures).
func (a Arm) Posterior() bandit.Posterior {
	return bandit.NewPosterior(a.PriorAlpha, a.PriorBeta, a.Successes, a.Failures)
}

func (a Arm) validate() error {
	switch {
	case a.Name == "":
		return errors.New("an arm has no name")
	case !(a.PriorAlpha > 0) || math.IsInf(a.PriorAlpha, 1) || !(a.PriorBeta > 0) || math.IsInf(a.PriorBeta, 1):
		return fmt.Errorf("arm %s: prior Beta(%v, %v) needs finite positive parameters", a.Name, a.PriorAlpha, a.PriorBeta)
	case a.Successes < 0 || a.Failures < 0:
		return fmt.Errorf("arm %s: negative counts (%d successes, %d failures)", a.Name, a.Successes, a.Failures)
	}
	return nil
}

// Input is everything one evolution cycle decides from.
type Input struct {
	// Portfolio is the portfolio's name, the prefix of child names. At most MaxPortfolioNameLength
	// characters are guaranteed to give child names that fit MaxNameLength.
	Portfolio string
	// Generation is the generation number this cycle's children get (the portfolio's last
	// generation + 1). Must be ≥ 1.
	Generation int64
	// Arms are the portfolio's arms, in any order; retired arms may be included.
	Arms []Arm
	// Policy is the portfolio's evolution policy.
	Policy Policy
}

// Retirement is one arm the cycle retires.
type Retirement struct {
	// Arm is the name of the arm to retire.
	Arm string
	// ProbBetter is P(X_arm > X_best), the exact probability that the arm beats the best arm.
	ProbBetter float64
	// Reason is ReasonWorseThanBest.
	Reason string
	// Message says why in a sentence, with the probability, for status and events.
	Message string
}

// Child is one arm the cycle creates by mutating Parent.
type Child struct {
	// Name is ChildName(portfolio, Generation, Index).
	Name string
	// Parent is the name of the arm to mutate (the best arm).
	Parent string
	// Generation is Input.Generation.
	Generation int64
	// Index numbers the cycle's children from 1.
	Index int
	// PriorAlpha and PriorBeta are the cautious prior m·n0, (1−m)·n0, rounded to 6 decimals.
	PriorAlpha, PriorBeta float64
}

// Plan is what an evolution cycle does.
type Plan struct {
	// Best is the name of the best active arm, empty when the portfolio has no active arm.
	Best string
	// BestMean is the best arm's posterior mean (0 when Best is empty).
	BestMean float64
	// Retire lists the arms to retire, lowest ProbBetter first.
	Retire []Retirement
	// Children lists the arms to create, by Index.
	Children []Child
	// ActiveBefore is the number of active arms the cycle started with; ActiveAfter the number
	// left after Retire, before Children are created.
	ActiveBefore, ActiveAfter int
}

// Summary is a one-line account of the plan for status and events.
func (p Plan) Summary() string {
	if p.Best == "" {
		return "no active arm"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "best %s (mean %.4f); retired %d", p.Best, p.BestMean, len(p.Retire))
	if len(p.Retire) > 0 {
		names := make([]string, len(p.Retire))
		for i, r := range p.Retire {
			names[i] = r.Arm
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(names, ", "))
	}
	fmt.Fprintf(&b, "; %d new children of %s", len(p.Children), p.Best)
	return b.String()
}

// ChildName is the name of the index-th child of a generation: "<portfolio>-g<generation>-<index>".
// It is deterministic, so a cycle that is retried after a failure creates (or finds) the same
// objects instead of duplicates. Its length is len(portfolio) + 4 + the digits of generation and
// index; see MaxPortfolioNameLength for the bounds that keep it within MaxNameLength.
func ChildName(portfolio string, generation int64, index int) string {
	return portfolio + "-g" + strconv.FormatInt(generation, 10) + "-" + strconv.Itoa(index)
}

// ChildPrior is the cautious prior of a child whose parent has posterior mean m, worth n0 trials:
// Beta(m·n0, (1−m)·n0), each parameter rounded to 6 decimal places and kept ≥ 0.000001. A mean
// outside (0, 1) is clamped into it first.
func ChildPrior(m, n0 float64) (alpha, beta float64) {
	m = math.Min(math.Max(m, 0), 1)
	return tidy(m * n0), tidy((1 - m) * n0)
}

func tidy(x float64) float64 {
	scale := math.Pow10(priorDecimals)
	return math.Max(math.Round(x*scale)/scale, minPrior)
}

// Decide computes the plan of one evolution cycle. It returns an error, and no plan, when the
// input breaks a documented rule: an empty portfolio name, an invalid policy, an arm with an invalid prior or counts, two
// arms with one name, a generation below 1, or a child name longer than MaxNameLength.
func Decide(in Input) (Plan, error) {
	if err := in.Policy.Validate(); err != nil {
		return Plan{}, fmt.Errorf("invalid policy: %w", err)
	}
	if in.Portfolio == "" {
		return Plan{}, errors.New("the portfolio has no name")
	}
	if in.Generation < 1 {
		return Plan{}, fmt.Errorf("generation %d is less than 1", in.Generation)
	}
	seen := make(map[string]bool, len(in.Arms))
	var active []Arm
	for _, a := range in.Arms {
		if err := a.validate(); err != nil {
			return Plan{}, err
		}
		if seen[a.Name] {
			return Plan{}, fmt.Errorf("two arms are named %s", a.Name)
		}
		seen[a.Name] = true
		if a.Active {
			active = append(active, a)
		}
	}

	plan := Plan{ActiveBefore: len(active), ActiveAfter: len(active)}
	if len(active) == 0 {
		return plan, nil
	}
	best := bestArm(active)
	bestPost := best.Posterior()
	plan.Best, plan.BestMean = best.Name, bestPost.Mean()

	plan.Retire = retirements(active, best, in.Policy)
	plan.ActiveAfter = len(active) - len(plan.Retire)

	n := min(in.Policy.MutationsPerCycle, in.Policy.MaxActiveArms-plan.ActiveAfter)
	alpha, beta := ChildPrior(plan.BestMean, in.Policy.ChildPriorStrength)
	for i := 1; i <= n; i++ {
		name := ChildName(in.Portfolio, in.Generation, i)
		if len(name) > MaxNameLength {
			return Plan{}, fmt.Errorf("child name %s is longer than %d characters", name, MaxNameLength)
		}
		plan.Children = append(plan.Children, Child{
			Name: name, Parent: best.Name, Generation: in.Generation, Index: i,
			PriorAlpha: alpha, PriorBeta: beta,
		})
	}
	return plan, nil
}

// bestArm returns the best of a non-empty list of active arms (see the package comment).
func bestArm(active []Arm) Arm {
	best := active[0]
	bestMean := best.Posterior().Mean()
	for _, a := range active[1:] {
		m := a.Posterior().Mean()
		if m != bestMean {
			if m > bestMean {
				best, bestMean = a, m
			}
			continue
		}
		switch {
		case a.Trials() != best.Trials():
			if a.Trials() > best.Trials() {
				best = a
			}
		case !a.Created.Equal(best.Created):
			if a.Created.Before(best.Created) {
				best = a
			}
		case a.Name < best.Name:
			best = a
		}
	}
	return best
}

// retirements returns the arms that retire, lowest probability first, respecting MinActiveArms.
func retirements(active []Arm, best Arm, p Policy) []Retirement {
	type candidate struct {
		arm  Arm
		prob float64
		mean float64
	}
	bestPost := best.Posterior()
	var cands []candidate
	for _, a := range active {
		if a.Name == best.Name || a.Trials() < p.MinTrials {
			continue
		}
		post := a.Posterior()
		if prob := bandit.ProbGreater(post, bestPost); prob < p.RetirementThreshold {
			cands = append(cands, candidate{arm: a, prob: prob, mean: post.Mean()})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		ci, cj := cands[i], cands[j]
		if ci.prob != cj.prob {
			return ci.prob < cj.prob
		}
		if ci.mean != cj.mean {
			return ci.mean < cj.mean
		}
		return ci.arm.Name < cj.arm.Name
	})
	room := max(len(active)-p.MinActiveArms, 0)
	if len(cands) > room {
		cands = cands[:room]
	}
	out := make([]Retirement, len(cands))
	for i, c := range cands {
		out[i] = Retirement{
			Arm:        c.arm.Name,
			ProbBetter: c.prob,
			Reason:     ReasonWorseThanBest,
			Message: fmt.Sprintf("P(%s > %s) = %.3g is below the retirement threshold %g after %d trials",
				c.arm.Name, best.Name, c.prob, p.RetirementThreshold, c.arm.Trials()),
		}
	}
	return out
}
