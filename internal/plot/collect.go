// Package plot draws a live portfolio: the posterior density of every arm with its 95% credible
// interval, and how traffic is shared between arms. It reads PromptPortfolios and PromptArms from
// the API server and writes PNG and SVG files; `promptfolio plot` is its command line.
package plot

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/bandit"
)

// Level of the credible intervals drawn.
const Level = 0.95

// Portfolio is what the figures show of one PromptPortfolio.
type Portfolio struct {
	Namespace, Name string
	// Generation is status.evolutionGeneration.
	Generation int32
	// BestArm is status.bestArm; it may be empty before the controller ran.
	BestArm string
	// Arms in a stable order: active before retired, then by generation and name.
	Arms []Arm
}

// Arm is one arm's posterior and traffic.
type Arm struct {
	Name       string
	Retired    bool
	Generation int32
	Posterior  bandit.Posterior
	// Lower and Upper bound the equal-tailed credible interval of level Level.
	Lower, Upper float64
	Trials       int64
	// TrafficShare is status.trafficShare: the share of recent trials.
	TrafficShare float64
}

// Collect reads portfolio name in namespace ns and its arms (the PromptArms labelled with it).
func Collect(ctx context.Context, c client.Reader, ns, name string) (Portfolio, error) {
	var pf v1alpha1.PromptPortfolio
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &pf); err != nil {
		return Portfolio{}, fmt.Errorf("reading PromptPortfolio %s/%s: %w", ns, name, err)
	}
	var arms v1alpha1.PromptArmList
	if err := c.List(ctx, &arms, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelPortfolio: name}); err != nil {
		return Portfolio{}, fmt.Errorf("listing the arms of %s/%s: %w", ns, name, err)
	}
	out := Portfolio{Namespace: ns, Name: name, Generation: pf.Status.EvolutionGeneration, BestArm: pf.Status.BestArm}
	for i := range arms.Items {
		out.Arms = append(out.Arms, armOf(&arms.Items[i]))
	}
	sortArms(out.Arms)
	return out, nil
}

// armOf derives an Arm from a PromptArm: the posterior is the prior plus the totals the
// controller summed from the counter reports.
func armOf(a *v1alpha1.PromptArm) Arm {
	successes, failures := a.Status.Successes, a.Status.Failures
	priorA, priorB := a.Spec.Prior.Alpha, a.Spec.Prior.Beta
	if priorA <= 0 || priorB <= 0 {
		priorA, priorB = 1, 1
	}
	p := bandit.NewPosterior(priorA, priorB, successes, failures)
	lower, upper := p.CredibleInterval(Level)
	return Arm{
		Name:         a.Name,
		Retired:      a.Status.Phase == v1alpha1.ArmRetired,
		Generation:   a.Spec.Origin.Generation,
		Posterior:    p,
		Lower:        lower,
		Upper:        upper,
		Trials:       successes + failures,
		TrafficShare: a.Status.TrafficShare,
	}
}

// sortArms orders arms: active first, then by generation, then by name.
func sortArms(arms []Arm) {
	slices.SortFunc(arms, func(a, b Arm) int {
		if a.Retired != b.Retired {
			if a.Retired {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Generation, b.Generation), cmp.Compare(a.Name, b.Name))
	})
}

// Shares returns every arm's share of traffic and says where it came from: status.trafficShare
// when the controller has set it on any arm, else each arm's share of all trials so far.
func (p Portfolio) Shares() (shares []float64, source string) {
	shares = make([]float64, len(p.Arms))
	var recent float64
	var trials int64
	for i, a := range p.Arms {
		shares[i] = a.TrafficShare
		recent += a.TrafficShare
		trials += a.Trials
	}
	if recent > 0 {
		return shares, "recent traffic share (status.trafficShare)"
	}
	for i, a := range p.Arms {
		if trials > 0 {
			shares[i] = float64(a.Trials) / float64(trials)
		}
	}
	return shares, "share of all trials"
}
