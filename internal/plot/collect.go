// Package plot draws a live portfolio: the posterior density of every arm with its 95% credible
// interval, and how traffic is shared between arms. It reads PromptPortfolios and PromptArms from
// the API server and writes PNG and SVG files; `promptfolio plot` is its command line.
package plot

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/bandit"
	"github.com/promptfolio/promptfolio/internal/posterior"
	trafficwindow "github.com/promptfolio/promptfolio/internal/traffic"
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
	// Traffic is every arm's share of the trials of each traffic window, oldest first: the
	// closed windows of status.trafficHistory, then the current, open one.
	Traffic []TrafficWindow
}

// TrafficWindow is how one traffic window's trials were shared between arms.
type TrafficWindow struct {
	// End is when the window closed; for the open window, when it was read.
	End time.Time
	// Open marks the current window, still counting.
	Open bool
	// Trials is the number of trials in the window.
	Trials int64
	// Shares maps arm names to their share of the window's trials; arms without trials are
	// missing.
	Shares map[string]float64
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
	// WindowTrials is the arm's trials since the portfolio's current traffic window opened.
	WindowTrials int64
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
	out.Traffic = trafficWindows(pf.Status.TrafficHistory, out.Arms, time.Now())
	return out, nil
}

// trafficWindows turns the closed windows of status.trafficHistory and the arms' trials in the
// open window (read at now) into shares per window.
func trafficWindows(history []v1alpha1.TrafficWindow, arms []Arm, now time.Time) []TrafficWindow {
	out := make([]TrafficWindow, 0, len(history)+1)
	add := func(w TrafficWindow, trials map[string]int64) {
		for _, n := range trials {
			w.Trials += n
		}
		w.Shares = make(map[string]float64, len(trials))
		for name, n := range trials {
			if n > 0 {
				w.Shares[name] = float64(n) / float64(w.Trials)
			}
		}
		out = append(out, w)
	}
	for _, h := range history {
		trials := make(map[string]int64, len(h.Arms))
		for _, a := range h.Arms {
			trials[a.Arm] = a.Trials
		}
		add(TrafficWindow{End: h.End.Time}, trials)
	}
	open := make(map[string]int64, len(arms))
	for _, a := range arms {
		open[a.Name] = a.WindowTrials
	}
	add(TrafficWindow{End: now, Open: true}, open)
	return out
}

// armOf derives an Arm from a PromptArm. The posterior is the prior plus the reward counters'
// totals (internal/posterior), so it is current even when the controller has not recomputed
// status.alpha and status.beta since the selectors' last flush.
func armOf(a *v1alpha1.PromptArm) Arm {
	p := posterior.Of(a)
	successes, failures := posterior.Counts(a)
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
		WindowTrials: windowTrials(successes+failures, a.Status.Traffic),
	}
}

// windowTrials is an arm's trials since its portfolio's current traffic window opened, counted as
// internal/traffic counts them: all of them before the controller first recorded a window.
func windowTrials(trials int64, t *v1alpha1.ArmTraffic) int64 {
	if t == nil {
		return trials
	}
	return trafficwindow.Arm{Trials: trials, WindowStart: t.WindowStartTrials}.Current()
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
