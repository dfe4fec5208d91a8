package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ArmOrigin records where an arm came from.
// +kubebuilder:validation:XValidation:rule="self.type != 'Mutation' || (has(self.parent) && self.parent.size() > 0)",message="a Mutation arm must name its parent arm"
type ArmOrigin struct {
	// type is Seed, Mutation or Manual. Default Manual (an arm a person created).
	// +optional
	// +kubebuilder:default=Manual
	Type ArmOriginType `json:"type,omitempty"`
	// parent is the arm this one was mutated from.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Parent string `json:"parent,omitempty"`
	// generation is the evolution generation that created the arm; 0 for seeds and manual arms.
	// It is always written, 0 included, so that the GEN column of kubectl shows it.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	Generation int32 `json:"generation"`
	// mutator that wrote the prompt: "offline" or "openai".
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Mutator string `json:"mutator,omitempty"`
	// model that wrote the prompt, for LLM mutators.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Model string `json:"model,omitempty"`
	// operator names the rewriting operation that produced the text, for the Offline mutator.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Operator string `json:"operator,omitempty"`
}

// PromptArmSpec is one prompt of a portfolio. The prompt, portfolio and prior are immutable: an
// arm's posterior is evidence about exactly this text.
// +kubebuilder:validation:XValidation:rule="self.prompt == oldSelf.prompt",message="prompt is immutable: create a new arm for a new text"
// +kubebuilder:validation:XValidation:rule="self.portfolio == oldSelf.portfolio",message="portfolio is immutable"
// +kubebuilder:validation:XValidation:rule="self.prior == oldSelf.prior",message="prior is immutable: the posterior was learned under it"
type PromptArmSpec struct {
	// portfolio is the name of the PromptPortfolio in the same namespace. The arm must also carry
	// the label promptfolio.dev/portfolio with this value.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="portfolio must be the name of a PromptPortfolio: a lowercase DNS label"
	Portfolio string `json:"portfolio"`

	// prompt is the text served to the workload. Immutable; at most 16384 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	// +kubebuilder:validation:XValidation:rule="self.trim().size() > 0",message="prompt text must not be blank"
	Prompt string `json:"prompt"`

	// prior of the arm's posterior. Seeds get the portfolio's selection prior; children a cautious
	// prior inherited from their parent. Default Beta(1,1).
	// +optional
	// +kubebuilder:default={alpha: 1, beta: 1}
	Prior BetaPrior `json:"prior,omitempty"`

	// origin records where the prompt came from.
	// +optional
	// +kubebuilder:default={type: Manual, generation: 0}
	Origin ArmOrigin `json:"origin,omitempty"`
}

// CredibleInterval is an equal-tailed Bayesian credible interval of the success rate.
type CredibleInterval struct {
	// level of the interval, 0.95 for a 95% interval.
	Level float64 `json:"level"`
	// lower bound of the success rate.
	Lower float64 `json:"lower"`
	// upper bound of the success rate.
	Upper float64 `json:"upper"`
}

// Retirement records why and when an arm was retired.
type Retirement struct {
	// time the arm was retired.
	Time metav1.Time `json:"time"`
	// reason is WorseThanBest, SeedChanged or SeedRemoved.
	Reason string `json:"reason"`
	// message for people, for example "P(arm > best) = 0.0123 < 0.05".
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// generation is the evolution generation that retired the arm, if a cycle did.
	// +optional
	Generation int32 `json:"generation,omitempty"`
}

// PromptArmStatus is written by the controller alone: selectors report their counts in
// PromptCounterReports, which the controller sums into successes and failures. Derived numbers (mean, interval,
// probabilities, share) are rounded to 6 decimals; alpha and beta are exact.
type PromptArmStatus struct {
	// observedGeneration is the metadata.generation the controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is Active (served) or Retired (not served; kept for history). A new arm is Active.
	// +optional
	Phase ArmPhase `json:"phase,omitempty"`
	// retirement is set when phase is Retired.
	// +optional
	Retirement *Retirement `json:"retirement,omitempty"`

	// successes is the total of successes: the portfolio's ledger plus every writer's
	// PromptCounterReport.
	// +optional
	Successes int64 `json:"successes"`
	// failures is the total of failures.
	// +optional
	Failures int64 `json:"failures"`
	// trials is successes plus failures.
	// +optional
	Trials int64 `json:"trials"`

	// alpha of the posterior Beta(alpha, beta): prior alpha plus successes.
	// +optional
	Alpha float64 `json:"alpha,omitempty"`
	// beta of the posterior: prior beta plus failures.
	// +optional
	Beta float64 `json:"beta,omitempty"`
	// mean of the posterior, alpha/(alpha+beta): the expected success rate.
	// +optional
	Mean float64 `json:"mean,omitempty"`
	// credibleInterval is the 95% equal-tailed credible interval of the success rate.
	// +optional
	CredibleInterval *CredibleInterval `json:"credibleInterval,omitempty"`
	// probBest is the probability that this arm has the highest success rate of the Active arms
	// (0 for Retired arms).
	// +optional
	ProbBest float64 `json:"probBest,omitempty"`
	// trafficShare is the share of this portfolio's recent trials that went to this arm: of the
	// trials counted in the portfolio's current and previous traffic windows (see the portfolio's
	// status.trafficWindowStart), so it covers at least one window of 15 minutes and 100 trials
	// and at most two.
	// +optional
	TrafficShare float64 `json:"trafficShare,omitempty"`

	// reportInterval is how often each selector writes its PromptCounterReport of this arm's
	// portfolio: the portfolio's write budget spread over its writers, so that the API server's
	// write load of a portfolio does not grow with the number of selectors.
	// +optional
	ReportInterval *metav1.Duration `json:"reportInterval,omitempty"`

	// traffic holds the arm's trials in the current and previous traffic windows, from which
	// trafficShare is computed.
	// +optional
	Traffic *ArmTraffic `json:"traffic,omitempty"`

	// display holds mean, probBest, trafficShare, alpha and beta rounded for people: the columns
	// of `kubectl get promptarms` show it, while the fields above keep the full values.
	// +optional
	Display *ArmDisplay `json:"display,omitempty"`
}

// ArmDisplay is an arm's statistics as short strings for kubectl's columns, which cannot format
// numbers themselves. Probabilities and shares are percentages with one decimal; a probability
// shows "<0.1%" or ">99.9%" at the ends, never 0% or 100%. Alpha and beta have three significant
// digits, whole numbers from 100 up.
type ArmDisplay struct {
	// mean of the posterior as a percentage, for example "24.1%".
	// +kubebuilder:validation:MaxLength=16
	Mean string `json:"mean"`
	// probBest as a percentage, for example "<0.1%" or "87.5%"; "-" for a Retired arm.
	// +kubebuilder:validation:MaxLength=16
	ProbBest string `json:"probBest"`
	// trafficShare as a percentage.
	// +kubebuilder:validation:MaxLength=16
	TrafficShare string `json:"trafficShare"`
	// alpha of the posterior, for example "24.1" or "24147".
	// +kubebuilder:validation:MaxLength=32
	Alpha string `json:"alpha"`
	// beta of the posterior.
	// +kubebuilder:validation:MaxLength=32
	Beta string `json:"beta"`
}
