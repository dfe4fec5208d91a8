package controllers

import (
	"math"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/bandit"
	"github.com/promptfolio/promptfolio/internal/evolution"
	"github.com/promptfolio/promptfolio/internal/metrics"
	"github.com/promptfolio/promptfolio/internal/posterior"
)

// portfolioSummary is what the statistics of all arms say about the portfolio.
type portfolioSummary struct {
	active, retired int32
	totalTrials     int64
	best            string
	bestMean        float64
	samples         []metrics.ArmSample
}

// computeStatistics fills the controller's derived fields in every arm's status — totals,
// posterior alpha and beta, mean, 95% credible interval, P(best) among the Active arms (the
// traffic share is reconcileTraffic's) — and returns the portfolio's summary. An arm without a
// phase becomes Active. Every
// number written, alpha and beta included, is rounded to 6 decimals, so that a fractional prior
// plus counts shows as 99.132213, not 99.13221300000001; the statistics themselves are computed
// from the unrounded posterior.
func computeStatistics(arms []*promptsv1alpha1.PromptArm) portfolioSummary {
	var sum portfolioSummary
	posteriors := make([]bandit.Posterior, 0, len(arms))
	activeIdx := make([]int, 0, len(arms))
	policyArms := make([]evolution.Arm, 0, len(arms))
	for i, arm := range arms {
		st := &arm.Status
		if st.Phase == "" {
			st.Phase = promptsv1alpha1.ArmActive
		}
		st.ObservedGeneration = arm.Generation
		st.Trials = st.Successes + st.Failures
		p := armPosterior(arm)
		st.Alpha, st.Beta = round6(p.Alpha), round6(p.Beta)
		st.Mean = round6(p.Mean())
		lo, hi := p.CredibleInterval(defaultCredibleLevel)
		st.CredibleInterval = &promptsv1alpha1.CredibleInterval{Level: defaultCredibleLevel, Lower: round6(lo), Upper: round6(hi)}
		st.ProbBest = 0
		sum.totalTrials += st.Trials
		if st.Phase == promptsv1alpha1.ArmActive {
			sum.active++
			posteriors = append(posteriors, p)
			activeIdx = append(activeIdx, i)
		} else {
			sum.retired++
		}
		policyArms = append(policyArms, policyArm(arm))
	}
	for k, pb := range bandit.ProbBest(posteriors) {
		arms[activeIdx[k]].Status.ProbBest = round6(pb)
	}
	for _, arm := range arms {
		st := &arm.Status
		sum.samples = append(sum.samples, metrics.ArmSample{Arm: arm.Name, Mean: st.Mean, Alpha: st.Alpha, Beta: st.Beta, ProbBest: st.ProbBest})
	}
	// The best arm follows the evolution package's one rule (highest mean; ties: more trials,
	// older, name), the one a cycle's plan names.
	best, bestMean := evolution.Best(policyArms)
	sum.best, sum.bestMean = best, round6(bestMean)
	return sum
}

// armPosterior is the arm's posterior: its prior plus the totals this reconcile summed from the
// counter reports (internal/posterior).
func armPosterior(arm *promptsv1alpha1.PromptArm) bandit.Posterior {
	return posterior.Of(arm)
}

// policyArm is what the evolution policy knows of an arm: its prior and the totals this
// reconcile summed from the counter reports (internal/posterior), never derived statistics.
func policyArm(arm *promptsv1alpha1.PromptArm) evolution.Arm {
	alpha, beta := arm.Spec.Prior.Params()
	successes, failures := posterior.Counts(arm)
	return evolution.Arm{
		Name:       arm.Name,
		PriorAlpha: alpha,
		PriorBeta:  beta,
		Successes:  successes,
		Failures:   failures,
		Active:     arm.Status.Phase != promptsv1alpha1.ArmRetired,
		Created:    arm.CreationTimestamp.Time,
		Generation: int64(arm.Spec.Origin.Generation),
	}
}

// round6 rounds to 6 decimals; NaN and infinities (from a broken prior) become 0 so that status
// stays valid JSON.
func round6(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return math.Round(x*1e6) / 1e6
}
