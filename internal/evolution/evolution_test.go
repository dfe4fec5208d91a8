package evolution

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promptfolio/promptfolio/internal/bandit"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// arm is an active seed arm with a Beta(1, 1) prior, created age minutes after epoch.
func arm(name string, successes, failures int64, age int) Arm {
	return Arm{
		Name: name, PriorAlpha: 1, PriorBeta: 1, Successes: successes, Failures: failures,
		Active: true, Created: epoch.Add(time.Duration(age) * time.Minute),
	}
}

func retired(a Arm) Arm { a.Active = false; return a }

func policy(edit func(*Policy)) Policy {
	p := DefaultPolicy()
	if edit != nil {
		edit(&p)
	}
	return p
}

func names(p Plan) (retire, children []string) {
	for _, r := range p.Retire {
		retire = append(retire, r.Arm)
	}
	for _, c := range p.Children {
		children = append(children, c.Name)
	}
	return retire, children
}

// outcome is what TestDecide expects of a plan: the best arm, the arms retired and the children
// planned (both in order), and the active arms after retirement.
type outcome struct {
	best             string
	retire, children []string
	after            int
}

// twoChildren are the children a cycle of generation 4 plans with DefaultPolicy's two mutations.
var twoChildren = []string{"pf-g4-1", "pf-g4-2"}

func TestDecide(t *testing.T) {
	tests := []struct {
		name string
		arms []Arm
		edit func(*Policy) // of DefaultPolicy; nil keeps it
		want outcome
	}{
		{
			name: "no arms plans nothing",
			want: outcome{},
		},
		{
			name: "only retired arms plans nothing",
			arms: []Arm{retired(arm("pf-a", 90, 10, 0))},
			want: outcome{},
		},
		{
			name: "no trials yet: equal means and trials, the oldest is best",
			arms: []Arm{arm("pf-b", 0, 0, 1), arm("pf-c", 0, 0, 2), arm("pf-a", 0, 0, 3)},
			edit: func(p *Policy) { p.Newborn.MinParentTrials = 0 },
			want: outcome{best: "pf-b", children: twoChildren, after: 3},
		},
		{
			name: "a best arm with fewer than newborn.minParentTrials trials has no children",
			arms: []Arm{arm("pf-b", 5, 4, 1), arm("pf-c", 0, 0, 2)},
			want: outcome{best: "pf-b", after: 2},
		},
		{
			name: "all arms equal and created together: the first name is best",
			arms: []Arm{arm("pf-c", 50, 50, 0), arm("pf-a", 50, 50, 0), arm("pf-b", 50, 50, 0)},
			want: outcome{best: "pf-a", children: twoChildren, after: 3},
		},
		{
			name: "equal means: more trials is best, before age",
			arms: []Arm{arm("pf-old", 5, 5, 0), arm("pf-new", 50, 50, 9)},
			want: outcome{best: "pf-new", children: twoChildren, after: 2},
		},
		{
			name: "a single arm is best, never retired, and mutated",
			arms: []Arm{arm("pf-a", 1, 999, 0)},
			want: outcome{best: "pf-a", children: twoChildren, after: 1},
		},
		{
			name: "a retired arm with a higher mean is not best",
			arms: []Arm{retired(arm("pf-gone", 99, 1, 0)), arm("pf-a", 60, 40, 1), arm("pf-b", 50, 50, 2)},
			want: outcome{best: "pf-a", children: twoChildren, after: 2},
		},
		{
			name: "a clear loser with enough trials retires",
			arms: []Arm{arm("pf-a", 60, 40, 0), arm("pf-b", 30, 70, 1), arm("pf-c", 58, 42, 2)},
			want: outcome{best: "pf-a", retire: []string{"pf-b"}, children: twoChildren, after: 2},
		},
		{
			name: "MinTrials not reached: the loser stays",
			arms: []Arm{arm("pf-a", 60, 40, 0), arm("pf-b", 30, 69, 1), arm("pf-c", 58, 42, 2)},
			edit: func(p *Policy) { p.Retirement.MinTrials = 100 },
			want: outcome{best: "pf-a", children: twoChildren, after: 3},
		},
		{
			name: "MinTrials reached exactly: the loser retires",
			arms: []Arm{arm("pf-a", 60, 40, 0), arm("pf-b", 30, 69, 1), arm("pf-c", 58, 42, 2)},
			edit: func(p *Policy) { p.Retirement.MinTrials = 99 },
			want: outcome{best: "pf-a", retire: []string{"pf-b"}, children: twoChildren, after: 2},
		},
		{
			name: "MinTrials 0 judges arms with no trials",
			arms: []Arm{arm("pf-a", 100, 0, 0), arm("pf-b", 0, 0, 1)},
			edit: func(p *Policy) { p.Retirement.MinTrials = 0; p.MinActiveArms = 1 },
			want: outcome{best: "pf-a", retire: []string{"pf-b"}, children: twoChildren, after: 1},
		},
		{
			name: "close arms are not retired",
			arms: []Arm{arm("pf-a", 52, 48, 0), arm("pf-b", 48, 52, 1), arm("pf-c", 50, 50, 2)},
			want: outcome{best: "pf-a", children: twoChildren, after: 3},
		},
		{
			name: "MinActiveArms: the lowest probabilities retire first, the floor stays",
			arms: []Arm{
				arm("pf-a", 80, 20, 0), arm("pf-b", 10, 90, 1), arm("pf-c", 40, 60, 2),
				arm("pf-d", 20, 80, 3), arm("pf-e", 30, 70, 4),
			},
			edit: func(p *Policy) { p.MinActiveArms = 3 },
			want: outcome{best: "pf-a", retire: []string{"pf-b", "pf-d"}, children: twoChildren, after: 3},
		},
		{
			name: "already below MinActiveArms: nothing retires",
			arms: []Arm{arm("pf-a", 90, 10, 0), arm("pf-b", 10, 90, 1)},
			edit: func(p *Policy) { p.MinActiveArms = 3; p.MaxActiveArms = 3; p.MutationsPerCycle = 0 },
			want: outcome{best: "pf-a", after: 2},
		},
		{
			name: "MaxActiveArms reached: no children",
			arms: []Arm{
				arm("pf-a", 50, 50, 0), arm("pf-b", 50, 50, 1), arm("pf-c", 50, 50, 2), arm("pf-d", 50, 50, 3),
			},
			edit: func(p *Policy) { p.MaxActiveArms = 4 },
			want: outcome{best: "pf-a", after: 4},
		},
		{
			name: "MaxActiveArms leaves room for one child",
			arms: []Arm{arm("pf-a", 50, 50, 0), arm("pf-b", 50, 50, 1), arm("pf-c", 50, 50, 2)},
			edit: func(p *Policy) { p.MaxActiveArms = 4; p.MutationsPerCycle = 3 },
			want: outcome{best: "pf-a", children: []string{"pf-g4-1"}, after: 3},
		},
		{
			name: "more active arms than MaxActiveArms: no children, never negative",
			arms: []Arm{
				arm("pf-a", 50, 50, 0), arm("pf-b", 50, 50, 1), arm("pf-c", 50, 50, 2),
			},
			edit: func(p *Policy) { p.MinActiveArms = 1; p.MaxActiveArms = 2 },
			want: outcome{best: "pf-a", after: 3},
		},
		{
			name: "retirement makes room for children",
			arms: []Arm{arm("pf-a", 60, 40, 0), arm("pf-b", 30, 70, 1), arm("pf-c", 58, 42, 2)},
			edit: func(p *Policy) { p.MaxActiveArms = 3; p.MutationsPerCycle = 5 },
			want: outcome{best: "pf-a", retire: []string{"pf-b"}, children: []string{"pf-g4-1"}, after: 2},
		},
		{
			name: "zero mutations per cycle still retires",
			arms: []Arm{arm("pf-a", 60, 40, 0), arm("pf-b", 30, 70, 1), arm("pf-c", 58, 42, 2)},
			edit: func(p *Policy) { p.MutationsPerCycle = 0 },
			want: outcome{best: "pf-a", retire: []string{"pf-b"}, after: 2},
		},
		{
			name: "threshold 0 never retires",
			arms: []Arm{arm("pf-a", 100, 0, 0), arm("pf-b", 0, 100, 1), arm("pf-c", 0, 100, 2)},
			edit: func(p *Policy) { p.Retirement.Threshold = 0; p.MinActiveArms = 1 },
			want: outcome{best: "pf-a", children: twoChildren, after: 3},
		},
		{
			name: "threshold 1 retires every arm that may go, down to the floor",
			arms: []Arm{arm("pf-a", 51, 49, 0), arm("pf-b", 50, 50, 1), arm("pf-c", 49, 51, 2)},
			edit: func(p *Policy) { p.Retirement.Threshold = 1; p.MinActiveArms = 1 },
			want: outcome{best: "pf-a", retire: []string{"pf-c", "pf-b"}, children: twoChildren, after: 1},
		},
		{
			name: "counts at 1e7 with integer and non-integer priors",
			arms: []Arm{
				arm("pf-a", 6_000_000, 4_000_000, 0), arm("pf-b", 5_990_000, 4_010_000, 1),
				{Name: "pf-c", PriorAlpha: 0.5, PriorBeta: 2.25, Successes: 6_000_000, Failures: 4_000_000, Active: true, Created: epoch},
			},
			want: outcome{best: "pf-a", retire: []string{"pf-b"}, children: twoChildren, after: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Portfolio: "pf", Generation: 4, Arms: tt.arms, Policy: policy(tt.edit)}
			plan, err := Decide(in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if plan.Best != tt.want.best {
				t.Errorf("Best = %q, want %q", plan.Best, tt.want.best)
			}
			retire, children := names(plan)
			if !reflect.DeepEqual(retire, tt.want.retire) {
				t.Errorf("Retire = %v, want %v", retire, tt.want.retire)
			}
			if !reflect.DeepEqual(children, tt.want.children) {
				t.Errorf("Children = %v, want %v", children, tt.want.children)
			}
			if plan.ActiveAfter != tt.want.after {
				t.Errorf("ActiveAfter = %d, want %d", plan.ActiveAfter, tt.want.after)
			}
			checkPlan(t, plan, in)
		})
	}
}

// checkPlan checks the invariants every plan keeps, whatever its input.
func checkPlan(t *testing.T, plan Plan, in Input) {
	t.Helper()
	byName := map[string]Arm{}
	active := 0
	for _, a := range in.Arms {
		byName[a.Name] = a
		if a.Active {
			active++
		}
	}
	if plan.ActiveBefore != active || plan.ActiveAfter != active-len(plan.Retire) {
		t.Errorf("ActiveBefore, ActiveAfter = %d, %d for %d active arms and %d retirements",
			plan.ActiveBefore, plan.ActiveAfter, active, len(plan.Retire))
	}
	if name, mean := Best(in.Arms); name != plan.Best || mean != plan.BestMean {
		t.Errorf("Best = %s (mean %v), the plan's best %s (mean %v)", name, mean, plan.Best, plan.BestMean)
	}
	if len(plan.Retire) > 0 && plan.ActiveAfter < in.Policy.MinActiveArms {
		t.Errorf("retired below MinActiveArms: %d left", plan.ActiveAfter)
	}
	if plan.Best != "" {
		best := byName[plan.Best]
		if got := best.Posterior().Mean(); got != plan.BestMean {
			t.Errorf("BestMean = %v, want %v", plan.BestMean, got)
		}
		for _, a := range in.Arms {
			if a.Active && a.Posterior().Mean() > plan.BestMean {
				t.Errorf("%s has a higher mean than best %s", a.Name, plan.Best)
			}
		}
	}
	for i, r := range plan.Retire {
		a := byName[r.Arm]
		if r.Arm == plan.Best || !a.Active || a.Trials() < in.Policy.Retirement.MinTrials {
			t.Errorf("retirement of %s breaks a rule", r.Arm)
		}
		want := bandit.ProbGreater(a.Posterior(), byName[plan.Best].Posterior())
		if r.Newborn {
			nb := in.Policy.Newborn
			if a.Parent == "" || a.Trials() < nb.MinTrials || float64(a.Trials()) >= in.Policy.ChildPriorStrength ||
				r.Rule != RuleProbBetterThanBest || r.Prob != want || !(r.Prob < plan.NewbornBound) ||
				!strings.Contains(r.Message, "newborn child") {
				t.Errorf("%s: early cut %+v of an arm with %d trials, bound %v", r.Arm, r, a.Trials(), plan.NewbornBound)
			}
		} else if r.Rule == RuleExpectedLoss {
			want = ExpectedLoss(a.Posterior(), byName[plan.Best].Posterior())
		}
		if r.Rule == RuleProbBest {
			var posts []bandit.Posterior
			var at int
			for _, b := range in.Arms {
				if b.Active {
					if b.Name == a.Name {
						at = len(posts)
					}
					posts = append(posts, b.Posterior())
				}
			}
			want = bandit.ProbBest(posts)[at]
		}
		if !r.Newborn && (r.Rule != in.Policy.Retirement.Rule || !strings.Contains(r.Message, string(r.Rule))) {
			t.Errorf("%s: rule %s, message %q; the policy's rule is %s", r.Arm, r.Rule, r.Message, in.Policy.Retirement.Rule)
		}
		if !r.Newborn && (r.Prob != want || !(r.Prob < in.Policy.Retirement.Threshold)) {
			t.Errorf("%s: ProbBetter = %v, want %v below %v", r.Arm, r.Prob, want, in.Policy.Retirement.Threshold)
		}
		if i > 0 && r.Prob < plan.Retire[i-1].Prob && r.Rule == plan.Retire[i-1].Rule {
			t.Errorf("retirements not in increasing probability: %v", plan.Retire)
		}
		if r.Reason != ReasonWorseThanBest || !strings.Contains(r.Message, fmt.Sprintf("%.3g", r.Prob)) {
			t.Errorf("%s: reason %q, message %q", r.Arm, r.Reason, r.Message)
		}
	}
	if n := len(plan.Children); n > in.Policy.MutationsPerCycle || (n > 0 && plan.ActiveAfter+n > in.Policy.MaxActiveArms) ||
		(n > 0 && byName[plan.Best].Trials() < in.Policy.Newborn.MinParentTrials) {
		t.Errorf("%d children with %d active after retirement", n, plan.ActiveAfter)
	}
	for i, c := range plan.Children {
		parent := byName[plan.Best].Posterior()
		wantA, wantB := ChildPrior(plan.BestMean, min(in.Policy.ChildPriorStrength, parent.Alpha+parent.Beta))
		if c.Parent != plan.Best || c.Index != i+1 || c.Generation != in.Generation ||
			c.Name != ChildName(in.Portfolio, in.Generation, i+1) || c.PriorAlpha != wantA || c.PriorBeta != wantB {
			t.Errorf("child %d = %+v", i, c)
		}
	}
}

func TestDecideIgnoresArmOrder(t *testing.T) {
	arms := []Arm{
		arm("pf-a", 80, 20, 0), arm("pf-b", 10, 90, 1), arm("pf-c", 40, 60, 2),
		arm("pf-d", 20, 80, 3), arm("pf-e", 20, 80, 3), arm("pf-f", 80, 20, 0),
	}
	in := Input{Portfolio: "pf", Generation: 2, Arms: arms, Policy: policy(func(p *Policy) { p.MinActiveArms = 3 })}
	want, err := Decide(in)
	if err != nil {
		t.Fatal(err)
	}
	for shift := 1; shift < len(arms); shift++ {
		rotated := append(append([]Arm{}, arms[shift:]...), arms[:shift]...)
		in.Arms = rotated
		got, err := Decide(in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("rotation %d: plan %+v, want %+v", shift, got, want)
		}
	}
	if want.Best != "pf-a" {
		t.Errorf("Best = %s, want pf-a (same mean, trials and age as pf-f; first name)", want.Best)
	}
	if retire, _ := names(want); !reflect.DeepEqual(retire, []string{"pf-b", "pf-d", "pf-e"}) {
		t.Errorf("Retire = %v, want [pf-b pf-d pf-e] (pf-d and pf-e tie; names decide)", retire)
	}
}

func TestChildPrior(t *testing.T) {
	tests := []struct {
		name             string
		mean, n0         float64
		wantAlpha, wantB float64
	}{
		{"even", 0.5, 10, 5, 5},
		{"rounded to 6 decimals", 1.0 / 3, 10, 3.333333, 6.666667},
		{"strength below one", 0.25, 0.5, 0.125, 0.375},
		{"mean near 1 keeps beta proper", 1 - 1e-9, 10, 10, 1e-6},
		{"mean near 0 keeps alpha proper", 1e-9, 10, 1e-6, 10},
		{"mean above 1 is clamped", 1.5, 4, 4, 1e-6},
		{"mean below 0 is clamped", -0.5, 4, 1e-6, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := ChildPrior(tt.mean, tt.n0)
			if a != tt.wantAlpha || b != tt.wantB {
				t.Errorf("ChildPrior(%v, %v) = %v, %v; want %v, %v", tt.mean, tt.n0, a, b, tt.wantAlpha, tt.wantB)
			}
			if !(a > 0 && b > 0) {
				t.Errorf("improper prior %v, %v", a, b)
			}
		})
	}
}

func TestDecideChildPriorFromParentPosterior(t *testing.T) {
	parent := Arm{Name: "pf-a", PriorAlpha: 2, PriorBeta: 3, Successes: 40, Failures: 25, Active: true}
	plan, err := Decide(Input{Portfolio: "pf", Generation: 1, Arms: []Arm{parent},
		Policy: policy(func(p *Policy) { p.ChildPriorStrength = 7; p.MutationsPerCycle = 1 })})
	if err != nil {
		t.Fatal(err)
	}
	// Posterior Beta(42, 28): mean 0.6, so the child's prior is Beta(4.2, 2.8).
	want := []Child{{Name: "pf-g1-1", Parent: "pf-a", Generation: 1, Index: 1, PriorAlpha: 4.2, PriorBeta: 2.8}}
	if !reflect.DeepEqual(plan.Children, want) {
		t.Errorf("Children = %+v, want %+v", plan.Children, want)
	}
}

func TestChildName(t *testing.T) {
	longest := strings.Repeat("p", MaxPortfolioNameLength)
	tests := []struct {
		portfolio  string
		generation int64
		index      int
		want       string
	}{
		{"checkout", 1, 1, "checkout-g1-1"},
		{"checkout", 12, 3, "checkout-g12-3"},
		{longest, math.MaxInt32, 99, longest + "-g2147483647-99"},
	}
	for _, tt := range tests {
		got := ChildName(tt.portfolio, tt.generation, tt.index)
		if got != tt.want {
			t.Errorf("ChildName(%q, %d, %d) = %q, want %q", tt.portfolio, tt.generation, tt.index, got, tt.want)
		}
		if len(got) > MaxNameLength {
			t.Errorf("%q is %d characters, longer than %d", got, len(got), MaxNameLength)
		}
	}
}

func TestDecideErrors(t *testing.T) {
	ok := []Arm{arm("pf-a", 1, 1, 0)}
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"no portfolio", Input{Generation: 1, Arms: ok, Policy: DefaultPolicy()}, "no name"},
		{"generation 0", Input{Portfolio: "pf", Arms: ok, Policy: DefaultPolicy()}, "generation 0"},
		{"threshold above 1", Input{"pf", 1, ok, policy(func(p *Policy) { p.Retirement.Threshold = 1.5 })}, "retirement.threshold"},
		{"threshold NaN", Input{"pf", 1, ok, policy(func(p *Policy) { p.Retirement.Threshold = math.NaN() })}, "retirement.threshold"},
		{"negative MinTrials", Input{"pf", 1, ok, policy(func(p *Policy) { p.Retirement.MinTrials = -1 })}, "retirement.minTrials"},
		{"MinActiveArms 0", Input{"pf", 1, ok, policy(func(p *Policy) { p.MinActiveArms = 0 })}, "minActiveArms"},
		{"Max below Min", Input{"pf", 1, ok, policy(func(p *Policy) { p.MaxActiveArms = 1 })}, "maxActiveArms"},
		{"negative mutations", Input{"pf", 1, ok, policy(func(p *Policy) { p.MutationsPerCycle = -1 })}, "mutationsPerCycle"},
		{"strength 0", Input{"pf", 1, ok, policy(func(p *Policy) { p.ChildPriorStrength = 0 })}, "childPriorStrength"},
		{"strength Inf", Input{"pf", 1, ok, policy(func(p *Policy) { p.ChildPriorStrength = math.Inf(1) })}, "childPriorStrength"},
		{"duplicate names", Input{"pf", 1, []Arm{arm("pf-a", 0, 0, 0), retired(arm("pf-a", 0, 0, 1))}, DefaultPolicy()}, "two arms"},
		{"no arm name", Input{"pf", 1, []Arm{arm("", 0, 0, 0)}, DefaultPolicy()}, "no name"},
		{"zero prior", Input{"pf", 1, []Arm{{Name: "pf-a", PriorAlpha: 0, PriorBeta: 1}}, DefaultPolicy()}, "prior"},
		{"negative counts", Input{"pf", 1, []Arm{arm("pf-a", -1, 0, 0)}, DefaultPolicy()}, "negative counts"},
		{"newborn.retireBelow 1", Input{"pf", 1, ok, policy(func(p *Policy) { p.Newborn.RetireBelow = 1 })}, "newborn.retireBelow"},
		{"negative newborn.minTrials", Input{"pf", 1, ok, policy(func(p *Policy) { p.Newborn.MinTrials = -1 })}, "newborn.minTrials"},
		{"negative newborn.minParentTrials", Input{"pf", 1, ok, policy(func(p *Policy) { p.Newborn.MinParentTrials = -1 })}, "newborn.minParentTrials"},
		{"child name too long", Input{strings.Repeat("p", 60), 1, ok, policy(func(p *Policy) { p.Newborn.MinParentTrials = 0 })}, "longer than 63"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decide(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decide error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPlanSummary(t *testing.T) {
	plan, err := Decide(Input{Portfolio: "pf", Generation: 3, Policy: DefaultPolicy(),
		Arms: []Arm{arm("pf-a", 60, 40, 0), arm("pf-b", 30, 70, 1), arm("pf-c", 58, 42, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	want := "best pf-a (mean 0.5980); retired 1 (pf-b); 2 new children of pf-a"
	if got := plan.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if got := (Plan{}).Summary(); got != "no active arm" {
		t.Errorf("empty Summary() = %q", got)
	}
}

// child is an active child of parent with a Beta(5, 5) prior.
func child(name, parent string, successes, failures int64, age int) Arm {
	a := arm(name, successes, failures, age)
	a.PriorAlpha, a.PriorBeta, a.Parent = 5, 5, parent
	return a
}

func TestRetirementRules(t *testing.T) {
	// Under Thompson sampling a weak arm has few trials: 1 of 12 against 60 of 100.
	arms := []Arm{arm("pf-a", 60, 40, 0), arm("pf-weak", 1, 11, 1), arm("pf-close", 11, 9, 2)}
	for _, rule := range RetirementRules {
		t.Run(string(rule), func(t *testing.T) {
			in := Input{Portfolio: "pf", Generation: 2, Arms: arms, Policy: policy(func(p *Policy) {
				p.Retirement = RetirementPolicy{Rule: rule, Threshold: 0.05}
				if rule == RuleExpectedLoss {
					p.Retirement.Threshold = 0.002
				}
				p.MinActiveArms = 1
			})}
			plan, err := Decide(in)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, plan, in)
			retire, _ := names(plan)
			if !reflect.DeepEqual(retire, []string{"pf-weak"}) {
				t.Errorf("%s retires %v, want only the weak arm", rule, retire)
			}
			if len(plan.Retire) == 1 && !strings.HasPrefix(plan.Retire[0].Message, "rule "+string(rule)+": ") {
				t.Errorf("message %q does not name the rule first", plan.Retire[0].Message)
			}
		})
	}
}

func TestExpectedLoss(t *testing.T) {
	weak := bandit.NewPosterior(1, 1, 1, 11)
	best := bandit.NewPosterior(1, 1, 60, 40)
	if got := ExpectedLoss(weak, best); !(got >= 0 && got < 1e-3) {
		t.Errorf("ExpectedLoss(weak, best) = %v, want below 0.001", got)
	}
	// A better arm loses at least the difference of the means by being dropped.
	if got, diff := ExpectedLoss(best, weak), best.Mean()-weak.Mean(); got < diff {
		t.Errorf("ExpectedLoss(best, weak) = %v, below the difference of means %v", got, diff)
	}
	same := bandit.NewPosterior(1, 1, 30, 30)
	if got := ExpectedLoss(same, same); !(got > 0) {
		t.Errorf("ExpectedLoss of two equal uncertain arms = %v, want > 0", got)
	}
}

func TestCautiousPriorNeverBolderThanTheParent(t *testing.T) {
	tests := []struct {
		parent      bandit.Posterior
		n0, wantSum float64
	}{
		{bandit.NewPosterior(1, 1, 3, 1), 10, 6},     // 4 trials and Beta(1, 1): worth 6
		{bandit.NewPosterior(1, 1, 60, 40), 10, 10},  // plenty of evidence: n0
		{bandit.NewPosterior(0.5, 0.5, 0, 0), 10, 1}, // no trials: the parent's own prior
	}
	for _, tt := range tests {
		a, b := CautiousPrior(tt.parent, tt.n0)
		if math.Abs(a+b-tt.wantSum) > 2e-6 || math.Abs(a/(a+b)-tt.parent.Mean()) > 1e-5 {
			t.Errorf("CautiousPrior(%+v, %v) = Beta(%v, %v), want strength %v and mean %v", tt.parent, tt.n0, a, b, tt.wantSum, tt.parent.Mean())
		}
	}
}

func TestUnprovenChildrenTakeMutationSlots(t *testing.T) {
	p := policy(nil) // MutationsPerCycle 2, n0 10
	tests := []struct {
		name string
		arms []Arm
		want int
	}{
		{"no children: two", []Arm{arm("pf-a", 60, 40, 0)}, 2},
		{"one unproven child: one", []Arm{arm("pf-a", 60, 40, 0), child("pf-g1-1", "pf-a", 2, 3, 1)}, 1},
		{"two unproven children: none", []Arm{arm("pf-a", 60, 40, 0), child("pf-g1-1", "pf-a", 2, 3, 1), child("pf-g1-2", "pf-a", 0, 0, 2)}, 0},
		{"judged children do not count", []Arm{arm("pf-a", 60, 40, 0), child("pf-g1-1", "pf-a", 6, 4, 1), child("pf-g1-2", "pf-a", 7, 5, 2)}, 2},
		{"a retired child does not count", []Arm{arm("pf-a", 60, 40, 0), retired(child("pf-g1-1", "pf-a", 0, 2, 1))}, 2},
	}
	for _, tt := range tests {
		plan, err := Decide(Input{Portfolio: "pf", Generation: 2, Arms: tt.arms, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Children) != tt.want {
			t.Errorf("%s: %d children (unproven %d), want %d", tt.name, len(plan.Children), plan.Unproven, tt.want)
		}
	}
}

func TestPayoff(t *testing.T) {
	seed := arm("pf-a", 50, 50, 0) // founder, mean 0.5
	other := arm("pf-b", 5, 5, 1)  // keeps an active arm when the founder is gone
	var good, bad []Arm
	for i := range 20 {
		// Children and grandchildren, all compared with the founder pf-a.
		parent := "pf-a"
		if i > 0 {
			parent = fmt.Sprintf("pf-g1-%d", i)
		}
		// Retired, so that they leave room for children: their rewards still count.
		good = append(good, retired(child(fmt.Sprintf("pf-g1-%d", i+1), parent, 70, 30, i+1)))
		bad = append(bad, retired(child(fmt.Sprintf("pf-g1-%d", i+1), parent, 30, 70, i+1)))
	}
	p := policy(nil)
	tests := []struct {
		name       string
		arms       []Arm
		generation int64
		wantPaused bool
		wantKids   int
	}{
		{"no children yet: 0.5, not paused", []Arm{seed}, 2, false, 2},
		{"children better than their founder", append([]Arm{seed}, good...), 2, false, 2},
		{"children worse: paused, no child", append([]Arm{seed}, bad...), 2, true, 0},
		{"children worse: paused, a probe every 3 generations", append([]Arm{seed}, bad...), 3, true, 1},
		{"too few children to judge", append([]Arm{seed}, bad[:p.Payoff.MinChildren-1]...), 2, false, 2},
		{"a broken line is not evidence", append([]Arm{other}, bad[1:]...), 2, false, 2},
	}
	for _, tt := range tests {
		plan, err := Decide(Input{Portfolio: "pf", Generation: tt.generation, Arms: tt.arms, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		est := plan.Payoff
		if est.Paused != tt.wantPaused || len(plan.Children) != tt.wantKids {
			t.Errorf("%s: paused %v with %d children (%+v), want %v and %d", tt.name, est.Paused, len(plan.Children), est, tt.wantPaused, tt.wantKids)
		}
		if tt.wantPaused && !(est.ProbPays < p.Payoff.PauseBelow && est.Gain < 0) {
			t.Errorf("%s: paused on %+v", tt.name, est)
		}
	}
}

// TestNewbornEarlyCut checks the early cut of children with fewer than n0 trials: it acts at low
// traffic, fades out where a cycle brings many trials, and leaves judged children to the rule.
func TestNewbornEarlyCut(t *testing.T) {
	// child is a child of pf-a with the cautious prior of a 0.6 parent and the given counts.
	child := func(name string, successes, failures int64) Arm {
		return Arm{Name: name, PriorAlpha: 6, PriorBeta: 4, Successes: successes, Failures: failures,
			Active: true, Created: epoch.Add(time.Hour), Parent: "pf-a", Generation: 1}
	}
	parent := arm("pf-a", 120, 80, 0)
	tests := []struct {
		name       string
		arms       []Arm
		generation int64
		policy     Policy
		wantRetire []string
		wantBound  float64
	}{
		{
			// 200 + 4 trials over 21 cycles: fewer than n0 = 10 a cycle, the full bound 0.35.
			name: "low traffic: a newborn child that looks worse is cut", generation: 21,
			arms: []Arm{parent, child("pf-g1-1", 0, 4)}, policy: DefaultPolicy(),
			wantRetire: []string{"pf-g1-1"}, wantBound: 0.35,
		},
		{
			name: "low traffic: a newborn child that looks as good is kept", generation: 21,
			arms: []Arm{parent, child("pf-g1-1", 3, 1)}, policy: DefaultPolicy(), wantBound: 0.35,
		},
		{
			name: "fewer than newborn.minTrials trials: not judged", generation: 21,
			arms: []Arm{parent, child("pf-g1-1", 0, 1)}, policy: DefaultPolicy(), wantBound: 0.35,
		},
		{
			// 204 trials in 1 cycle: bound 0.35·√(10/204) ≈ 0.077; P(child > best) of a child
			// with 0 of 4 is about 0.10, above it and above the rule's 0.05.
			name: "high traffic: the bound shrinks and the same child is kept", generation: 1,
			arms: []Arm{parent, child("pf-g1-1", 0, 4)}, policy: DefaultPolicy(),
			wantBound: 0.35 * math.Sqrt(10/204.0),
		},
		{
			name: "retireBelow 0: no early cut", generation: 21,
			arms:   []Arm{parent, child("pf-g1-1", 0, 4)},
			policy: policy(func(p *Policy) { p.Newborn.RetireBelow = 0 }),
		},
		{
			// n0 trials: the child is judged, and only the retirement rule may retire it.
			name: "a judged child is left to the retirement rule", generation: 21,
			arms: []Arm{parent, child("pf-g1-1", 4, 6)}, policy: DefaultPolicy(), wantBound: 0.35,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A seed without trials keeps a third arm active, above minActiveArms.
			arms := append(append([]Arm(nil), tt.arms...), arm("pf-b", 0, 0, 2))
			in := Input{Portfolio: "pf", Generation: tt.generation, Arms: arms, Policy: tt.policy}
			plan, err := Decide(in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if math.Abs(plan.NewbornBound-tt.wantBound) > 1e-12 {
				t.Errorf("NewbornBound = %v, want %v", plan.NewbornBound, tt.wantBound)
			}
			retire, _ := names(plan)
			if !reflect.DeepEqual(retire, tt.wantRetire) {
				t.Fatalf("Retire = %v, want %v", retire, tt.wantRetire)
			}
			for _, r := range plan.Retire {
				want := bandit.ProbGreater(tt.arms[1].Posterior(), parent.Posterior())
				if !r.Newborn || r.Rule != RuleProbBetterThanBest || r.Prob != want || r.Prob >= plan.NewbornBound {
					t.Errorf("retirement %+v: want a newborn cut with P = %v below %v", r, want, plan.NewbornBound)
				}
				for _, part := range []string{"newborn child", "P(pf-g1-1 > pf-a)", "newborn.retireBelow 0.35", "after 4 trials"} {
					if !strings.Contains(r.Message, part) {
						t.Errorf("message %q lacks %q", r.Message, part)
					}
				}
			}
			checkPlan(t, plan, in)
		})
	}
}
