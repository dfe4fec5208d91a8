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

// RetirementRule names the test that decides which arms a cycle retires.
type RetirementRule string

const (
	// RuleProbBetterThanBest retires an arm when the exact probability that it beats the best arm,
	// P(X_arm > X_best), is below the threshold.
	RuleProbBetterThanBest RetirementRule = "ProbBetterThanBest"
	// RuleProbBest retires an arm when the probability that it is the best of the active arms,
	// P(X_arm = max over the active arms), is below the threshold.
	RuleProbBest RetirementRule = "ProbBest"
	// RuleExpectedLoss retires an arm when the expected loss of retiring it,
	// E[max(X_arm − X_best, 0)] (how much better than the best arm it may be, weighted by how
	// likely that is), is below the threshold. It is computed from the normal approximation of
	// the difference of the two posteriors (exact means and variances).
	RuleExpectedLoss RetirementRule = "ExpectedLoss"
)

// RetirementRules lists the rules in the order the API documents them.
var RetirementRules = []RetirementRule{RuleProbBetterThanBest, RuleProbBest, RuleExpectedLoss}

// RetirementPolicy is the rule that frees slots: which arms a cycle retires.
type RetirementPolicy struct {
	// Rule is the test an arm fails to be retired.
	Rule RetirementRule `json:"rule"`
	// Threshold is the rule's probability bound, in [0, 1]; 0 never retires.
	Threshold float64 `json:"threshold"`
	// MinTrials is the number of trials (successes + failures) an arm needs before it may be
	// retired. Must be ≥ 0.
	MinTrials int64 `json:"minTrials"`
}

// Payoff is how a portfolio judges whether mutation pays off, and slows down when it does not.
//
// The evidence is the realized gain of the children: over every child whose line of parents is
// known back to its founder (the seed or hand-written arm it descends from), successes − trials ×
// the founder's posterior mean, the rewards the children earned beyond what the portfolio would
// have earned without mutation on the same traffic. Exploration of children that turn out worse
// counts against it, the traffic won by children that turn out better for it. With its variance
// (binomial noise plus the uncertainty of the founders' means) it gives
// P(mutation pays) = Φ(gain / sd), 0.5 before any child has a trial.
type Payoff struct {
	// PauseBelow pauses mutation while P(mutation pays) is below it: a cycle then creates at most
	// one child, and only every ProbeEvery generations. 0 never pauses. In [0, 1).
	PauseBelow float64 `json:"pauseBelow"`
	// MinChildren is the number of children with trials the portfolio needs before it may pause:
	// the first generations of a mutator that pays off through selection (most children worse,
	// a few much better) must not stop it. ≥ 0.
	MinChildren int `json:"minChildren"`
	// ProbeEvery is the spacing, in generations, of the single child a paused portfolio still
	// tries, so that it notices when mutation pays off again. 0 tries none while paused. ≥ 0.
	ProbeEvery int64 `json:"probeEvery"`
}

// Newborn is how a portfolio treats children before the traffic has judged them: which best arm
// may have children, and how fast a newborn child that looks worse is cut.
//
// At low traffic a cycle brings few trials, and a child needs several cycles to reach
// ChildPriorStrength trials; meanwhile it holds a mutation slot and takes traffic. The early cut
// retires an active child with at least MinTrials and fewer than ChildPriorStrength trials when
// P(child > best) is below RetireBelow · min(1, √(ChildPriorStrength / trials per cycle)), where
// trials per cycle are the trials of all the arms given (retired ones included) over the cycles
// so far (Input.Generation). Where one cycle brings ChildPriorStrength trials or fewer the bound
// is RetireBelow; with more traffic it shrinks, and once it is below the retirement threshold it no
// longer changes anything: traffic then judges children within a cycle, and every early cut of a
// child that is in fact better would be a loss paid for nothing.
type Newborn struct {
	// RetireBelow is the early cut's bound on P(child > best) at low traffic. 0 never cuts early.
	// In [0, 1).
	RetireBelow float64 `json:"retireBelow"`
	// MinTrials is the number of trials a child needs before the early cut may judge it. ≥ 0.
	MinTrials int64 `json:"minTrials"`
	// MinParentTrials: a cycle creates children only of a best arm with at least this many
	// trials, so that mutation does not start from an arm that is best by luck. ≥ 0.
	MinParentTrials int64 `json:"minParentTrials"`
}

// Policy is a portfolio's evolution policy, the numbers of spec.evolution. Its JSON names are the
// API's, so that scenario files of the simulator read like the PromptPortfolio's spec.
type Policy struct {
	// Retirement decides which arms a cycle retires.
	Retirement RetirementPolicy `json:"retirement"`
	// MinActiveArms is a floor: retirement never leaves fewer active arms. Must be ≥ 1.
	MinActiveArms int `json:"minActiveArms"`
	// MaxActiveArms is a ceiling: a cycle creates no child that would make more active arms.
	// Must be ≥ MinActiveArms.
	MaxActiveArms int `json:"maxActiveArms"`
	// MutationsPerCycle is the number of unproven children a portfolio may have: a cycle asks for
	// MutationsPerCycle minus the active children with fewer trials than ChildPriorStrength, within
	// MaxActiveArms, so that low traffic judges children before more are made. Must be ≥ 0; 0
	// turns mutation off and keeps retirement.
	MutationsPerCycle int `json:"mutationsPerCycle"`
	// ChildPriorStrength is n0, the most trials a child's prior is worth (α0 + β0); a child gets
	// min(n0, its parent's effective trials α + β). Must be finite and > 0.
	ChildPriorStrength float64 `json:"childPriorStrength"`
	// Payoff slows mutation down when it does not pay off.
	Payoff Payoff `json:"payoff"`
	// Newborn judges children before they have ChildPriorStrength trials.
	Newborn Newborn `json:"newborn"`
}

// DefaultPolicy returns the policy used where a portfolio sets nothing; the API's defaults are
// these values (a test compares them).
func DefaultPolicy() Policy {
	return Policy{
		Retirement:         RetirementPolicy{Rule: RuleProbBetterThanBest, Threshold: 0.05, MinTrials: 0},
		MinActiveArms:      2,
		MaxActiveArms:      12,
		MutationsPerCycle:  2,
		ChildPriorStrength: 10,
		Payoff:             Payoff{PauseBelow: 0.1, MinChildren: 16, ProbeEvery: 3},
		Newborn:            Newborn{RetireBelow: 0.35, MinTrials: 2, MinParentTrials: 10},
	}
}

// Validate reports the first rule of Policy's field comments that p breaks.
func (p Policy) Validate() error {
	r := p.Retirement
	for _, err := range []error{
		breaks(!validRule(r.Rule), "retirement.rule %q is not one of %v", r.Rule, RetirementRules),
		inUnit("retirement.threshold", r.Threshold, true),
		nonNegative("retirement.minTrials", r.MinTrials),
		breaks(p.MinActiveArms < 1, "minActiveArms %d is less than 1", p.MinActiveArms),
		breaks(p.MaxActiveArms < p.MinActiveArms,
			"maxActiveArms %d is less than minActiveArms %d", p.MaxActiveArms, p.MinActiveArms),
		nonNegative("mutationsPerCycle", p.MutationsPerCycle),
		breaks(!(p.ChildPriorStrength > 0) || math.IsInf(p.ChildPriorStrength, 1),
			"childPriorStrength %v is not a positive finite number", p.ChildPriorStrength),
		inUnit("payoff.pauseBelow", p.Payoff.PauseBelow, false),
		nonNegative("payoff.minChildren", p.Payoff.MinChildren),
		nonNegative("payoff.probeEvery", p.Payoff.ProbeEvery),
		inUnit("newborn.retireBelow", p.Newborn.RetireBelow, false),
		nonNegative("newborn.minTrials", p.Newborn.MinTrials),
		nonNegative("newborn.minParentTrials", p.Newborn.MinParentTrials),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// breaks is the error of a broken rule: nil unless broken, else the message format gives.
func breaks(broken bool, format string, args ...any) error {
	if !broken {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// nonNegative is the rule of a count field: ≥ 0.
func nonNegative[T int | int64](field string, v T) error {
	return breaks(v < 0, "%s %d is negative", field, v)
}

// inUnit is the rule of a probability field: in [0, 1] when closed, else in [0, 1). NaN breaks it.
func inUnit(field string, v float64, closed bool) error {
	if closed {
		return breaks(!(v >= 0 && v <= 1), "%s %v is not in [0, 1]", field, v)
	}
	return breaks(!(v >= 0 && v < 1), "%s %v is not in [0, 1)", field, v)
}

func validRule(r RetirementRule) bool {
	for _, known := range RetirementRules {
		if r == known {
			return true
		}
	}
	return false
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
	// Parent is the name of the arm this one was mutated from, empty for seeds and hand-written
	// arms. Children whose parent is among the arms are the evidence of Payoff.
	Parent string
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
	// Rule is the rule that retired it, and Prob the number the rule tested: P(X_arm >
	// X_best) for RuleProbBetterThanBest, P(arm is best) for RuleProbBest, the expected loss
	// for RuleExpectedLoss. An early cut of a newborn child (Newborn) tests P(X_arm > X_best)
	// and names RuleProbBetterThanBest, with Newborn set.
	Rule RetirementRule
	Prob float64
	// Newborn is true when the early cut of Newborn retired the arm rather than the policy's rule.
	Newborn bool
	// Reason is ReasonWorseThanBest.
	Reason string
	// Message says why in a sentence, with the rule and its numbers, for status and events.
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
	// PriorAlpha and PriorBeta are the cautious prior m·n, (1−m)·n, rounded to 6 decimals, with m
	// the parent's posterior mean and n = min(n0, the parent's α + β).
	PriorAlpha, PriorBeta float64
}

// PayoffEstimate is what the cycle knows of whether mutation pays off (see Payoff).
type PayoffEstimate struct {
	// Children counts the children whose parent is known; Trials their trials.
	Children int
	Trials   int64
	// Gain is their realized gain over their parents, in successes; ProbPays = Φ(Gain / sd).
	Gain, ProbPays float64
	// Paused is true when ProbPays is below Payoff.PauseBelow.
	Paused bool
}

// Plan is what an evolution cycle does.
type Plan struct {
	// Best is the name of the best active arm, empty when the portfolio has no active arm.
	Best string
	// BestMean is the best arm's posterior mean (0 when Best is empty).
	BestMean float64
	// Retire lists the arms to retire, lowest Prob first.
	Retire []Retirement
	// Children lists the arms to create, by Index.
	Children []Child
	// ActiveBefore is the number of active arms the cycle started with; ActiveAfter the number
	// left after Retire, before Children are created.
	ActiveBefore, ActiveAfter int
	// Unproven counts the active children, not retired by this plan, with fewer trials than
	// Policy.ChildPriorStrength; each takes the place of one of MutationsPerCycle's children.
	Unproven int
	// Payoff is the evidence on mutation the cycle decided the number of children by.
	Payoff PayoffEstimate
	// TrialsPerCycle is the trials of the arms over the cycles so far, and NewbornBound the
	// early cut's bound on P(child > best) it gives (see Newborn).
	TrialsPerCycle, NewbornBound float64
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

// CautiousPrior is the prior of a child of a parent with posterior Beta(α, β): ChildPrior with the
// parent's mean, worth n = min(n0, α + β) trials, so that it is never bolder than the parent's
// own evidence.
func CautiousPrior(parent bandit.Posterior, n0 float64) (alpha, beta float64) {
	return ChildPrior(parent.Mean(), min(n0, parent.Alpha+parent.Beta))
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
	plan.Payoff = estimatePayoff(in.Arms, in.Policy.Payoff)
	if len(active) == 0 {
		return plan, nil
	}
	best := bestArm(active)
	bestPost := best.Posterior()
	plan.Best, plan.BestMean = best.Name, bestPost.Mean()

	plan.TrialsPerCycle = trialsPerCycle(in.Arms, in.Generation)
	plan.NewbornBound = newbornBound(in.Policy, plan.TrialsPerCycle)
	plan.Retire = retirements(active, best, in.Policy, plan.TrialsPerCycle, plan.NewbornBound)
	plan.ActiveAfter = len(active) - len(plan.Retire)

	plan.Unproven = unproven(active, plan.Retire, in.Policy.ChildPriorStrength)
	n := min(in.Policy.MutationsPerCycle-plan.Unproven, in.Policy.MaxActiveArms-plan.ActiveAfter)
	if best.Trials() < in.Policy.Newborn.MinParentTrials {
		n = 0
	}
	if plan.Payoff.Paused {
		probe := in.Policy.Payoff.ProbeEvery
		n = min(n, 1)
		if probe == 0 || in.Generation%probe != 0 {
			n = 0
		}
	}
	alpha, beta := CautiousPrior(bestPost, in.Policy.ChildPriorStrength)
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

// trialsPerCycle is the trials of arms over the generation cycles so far (this one included).
func trialsPerCycle(arms []Arm, generation int64) float64 {
	var total int64
	for _, a := range arms {
		total += a.Trials()
	}
	return float64(total) / float64(generation)
}

// newbornBound is the early cut's bound on P(child > best) at tpc trials a cycle (see Newborn).
func newbornBound(p Policy, tpc float64) float64 {
	b := p.Newborn.RetireBelow
	if tpc > p.ChildPriorStrength {
		b *= math.Sqrt(p.ChildPriorStrength / tpc)
	}
	return b
}

// unproven counts the active children that stay active and have fewer trials than n0: children
// the traffic has not judged yet.
func unproven(active []Arm, retire []Retirement, n0 float64) int {
	retiring := make(map[string]bool, len(retire))
	for _, r := range retire {
		retiring[r.Arm] = true
	}
	n := 0
	for _, a := range active {
		if a.Parent != "" && !retiring[a.Name] && float64(a.Trials()) < n0 {
			n++
		}
	}
	return n
}

// estimatePayoff weighs the children among arms (active or retired) against the arms they descend
// from: see Payoff.
func estimatePayoff(arms []Arm, p Payoff) PayoffEstimate {
	byName := make(map[string]Arm, len(arms))
	for _, a := range arms {
		byName[a.Name] = a
	}
	var est PayoffEstimate
	var variance float64
	judged := 0
	for _, c := range arms {
		root, ok := founder(byName, c)
		if !ok {
			continue
		}
		est.Children++
		n := float64(c.Trials())
		if n == 0 {
			continue
		}
		judged++
		post := root.Posterior()
		m := post.Mean()
		est.Trials += c.Trials()
		est.Gain += float64(c.Successes) - n*m
		variance += n*m*(1-m) + n*n*post.Variance()
	}
	est.ProbPays = 0.5
	if variance > 0 {
		est.ProbPays = 0.5 * math.Erfc(-est.Gain/math.Sqrt(2*variance))
	}
	est.Paused = judged >= p.MinChildren && est.ProbPays < p.PauseBelow
	return est
}

// founder is the arm that a child descends from through its parents and that has no parent itself
// (a seed or a hand-written arm), and false when a is not a child or its line is broken (an
// ancestor is no longer among the arms).
func founder(byName map[string]Arm, a Arm) (Arm, bool) {
	if a.Parent == "" {
		return Arm{}, false
	}
	for steps := 0; a.Parent != "" && steps <= len(byName); steps++ {
		parent, ok := byName[a.Parent]
		if !ok {
			return Arm{}, false
		}
		a = parent
	}
	return a, a.Parent == ""
}

// Best returns the best of the active arms among arms (see the package comment: highest
// posterior mean; ties: more trials, then older, then name) and its posterior mean; "" and 0 when
// no arm is active. Decide's plan names the same arm.
func Best(arms []Arm) (name string, mean float64) {
	var active []Arm
	for _, a := range arms {
		if a.Active {
			active = append(active, a)
		}
	}
	if len(active) == 0 {
		return "", 0
	}
	b := bestArm(active)
	return b.Name, b.Posterior().Mean()
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

// retirements returns the arms that retire under p's retirement rule or, for newborn children, its
// early cut with bound newbornBound (at tpc trials a cycle), lowest probability first, leaving at
// least p.MinActiveArms active arms. The best arm is never a candidate.
func retirements(active []Arm, best Arm, p Policy, tpc, newbornBound float64) []Retirement {
	type candidate struct {
		arm     Arm
		prob    float64
		mean    float64
		newborn bool
	}
	r := p.Retirement
	bestPost := best.Posterior()
	var probBest []float64
	if r.Rule == RuleProbBest {
		posts := make([]bandit.Posterior, len(active))
		for i, a := range active {
			posts[i] = a.Posterior()
		}
		probBest = bandit.ProbBest(posts)
	}
	var cands []candidate
	for i, a := range active {
		if a.Name == best.Name || a.Trials() < r.MinTrials {
			continue
		}
		post := a.Posterior()
		var prob float64
		switch r.Rule {
		case RuleProbBest:
			prob = probBest[i]
		case RuleExpectedLoss:
			prob = ExpectedLoss(post, bestPost)
		default:
			prob = bandit.ProbGreater(post, bestPost)
		}
		if prob < r.Threshold {
			cands = append(cands, candidate{arm: a, prob: prob, mean: post.Mean()})
			continue
		}
		if a.Parent != "" && a.Trials() >= p.Newborn.MinTrials && float64(a.Trials()) < p.ChildPriorStrength {
			if pg := bandit.ProbGreater(post, bestPost); pg < newbornBound {
				cands = append(cands, candidate{arm: a, prob: pg, mean: post.Mean(), newborn: true})
			}
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
		if c.newborn {
			out[i] = Retirement{
				Arm: c.arm.Name, Rule: RuleProbBetterThanBest, Prob: c.prob, Reason: ReasonWorseThanBest, Newborn: true,
				Message: fmt.Sprintf("newborn child: P(%s > %s) = %.3g is below the early bound %.3g (newborn.retireBelow %g at %.1f trials a cycle) after %d trials (best %s, mean %.3f)",
					c.arm.Name, best.Name, c.prob, newbornBound, p.Newborn.RetireBelow, tpc, c.arm.Trials(), best.Name, bestPost.Mean()),
			}
			continue
		}
		var test string
		switch r.Rule {
		case RuleProbBest:
			test = fmt.Sprintf("P(%s is best of %d active arms) = %.3g", c.arm.Name, len(active), c.prob)
		case RuleExpectedLoss:
			test = fmt.Sprintf("E[max(%s − %s, 0)] = %.3g", c.arm.Name, best.Name, c.prob)
		default:
			test = fmt.Sprintf("P(%s > %s) = %.3g", c.arm.Name, best.Name, c.prob)
		}
		out[i] = Retirement{
			Arm: c.arm.Name, Rule: r.Rule, Prob: c.prob, Reason: ReasonWorseThanBest,
			Message: fmt.Sprintf("rule %s: %s is below the threshold %g after %d trials (best %s, mean %.3f)",
				r.Rule, test, r.Threshold, c.arm.Trials(), best.Name, bestPost.Mean()),
		}
	}
	return out
}

// ExpectedLoss is E[max(X − Y, 0)] for independent X ~ x and Y ~ y: what is lost, in success rate,
// by dropping x in favour of y, weighted by how likely x is the better one. It uses the normal
// approximation N(μx − μy, σx² + σy²) of the difference: E = σ·φ(μ/σ) + μ·Φ(μ/σ).
func ExpectedLoss(x, y bandit.Posterior) float64 {
	mu := x.Mean() - y.Mean()
	sd := math.Sqrt(x.Variance() + y.Variance())
	if !(sd > 0) {
		return math.Max(mu, 0)
	}
	z := mu / sd
	return sd*math.Exp(-z*z/2)/math.Sqrt(2*math.Pi) + mu*0.5*math.Erfc(-z/math.Sqrt2)
}
