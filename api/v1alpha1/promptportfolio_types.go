package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SeedPrompt is one prompt a person wrote. It becomes the PromptArm "<portfolio>-<name>".
type SeedPrompt struct {
	// name identifies the prompt within the portfolio and names its arm "<portfolio>-<name>".
	// A lowercase DNS label of at most 22 characters, so that arm names stay within 63. Names
	// like "g3-1" are reserved for children of mutations ("<portfolio>-g<generation>-<index>").
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=22
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="prompt name must be a lowercase DNS label: letters, digits and '-', starting and ending with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^g[0-9]+-[0-9]+$')",message="prompt names of the form 'g<generation>-<index>' are reserved for children of mutations"
	Name string `json:"name"`

	// text is the prompt. It may contain placeholders such as {{customer_name}}, which mutations
	// preserve. Changing the text of a seed creates a new arm and retires the old one, because an
	// arm's posterior belongs to exactly one text. At most 16384 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	// +kubebuilder:validation:XValidation:rule="self.trim().size() > 0",message="prompt text must not be blank"
	Text string `json:"text"`
}

// BetaPrior is the prior Beta(alpha, beta) of an arm: alpha-1 "virtual successes" and beta-1
// "virtual failures" before any reward. Beta(1,1) is uniform.
type BetaPrior struct {
	// alpha is the first shape parameter, > 0. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:XValidation:rule="self > 0.0",message="prior alpha must be greater than 0"
	// +kubebuilder:validation:XValidation:rule="self <= 1000000.0",message="prior alpha must be at most 1e6"
	Alpha float64 `json:"alpha,omitempty"`

	// beta is the second shape parameter, > 0. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:XValidation:rule="self > 0.0",message="prior beta must be greater than 0"
	// +kubebuilder:validation:XValidation:rule="self <= 1000000.0",message="prior beta must be at most 1e6"
	Beta float64 `json:"beta,omitempty"`
}

// SelectionSpec configures how seed arms start.
type SelectionSpec struct {
	// prior is the Beta prior of seed arms. Default Beta(1,1), which lets the first rewards decide.
	// Children of mutations do not use it: they inherit a cautious prior from their parent (see
	// evolution.childPriorStrength).
	// +optional
	// +kubebuilder:default={alpha: 1, beta: 1}
	Prior BetaPrior `json:"prior,omitempty"`
}

// SecretKeyReference names one key of a Secret in the portfolio's namespace.
type SecretKeyReference struct {
	// name of the Secret, in the portfolio's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="secret name must be a lowercase DNS subdomain, like 'openai-credentials'"
	Name string `json:"name"`

	// key within the Secret's data. Default "api-key".
	// +optional
	// +kubebuilder:default=api-key
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-._a-zA-Z0-9]+$')",message="secret key may contain only letters, digits, '-', '_' and '.'"
	Key string `json:"key,omitempty"`
}

// MutatorSpec configures the mutator that writes children of the best arm.
// +kubebuilder:validation:XValidation:rule="self.provider != 'OpenAI' || has(self.apiKeySecretRef) || has(self.baseURL)",message="the OpenAI provider needs apiKeySecretRef, or a baseURL of a server that needs no key"
type MutatorSpec struct {
	// provider is Offline (default; built in, no network) or OpenAI (any OpenAI-compatible chat
	// completions API). When OpenAI is chosen but its Secret is missing, cycles report
	// MutatorFailing and selection keeps working.
	// +optional
	// +kubebuilder:default=Offline
	Provider MutatorProvider `json:"provider,omitempty"`

	// model is the chat model to ask, for example "gpt-4.1-mini" or a vLLM model name. Ignored by
	// the Offline provider. Default "gpt-4.1-mini".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Model string `json:"model,omitempty"`

	// baseURL of the OpenAI-compatible API, for example "http://vllm.llm.svc:8000/v1". Empty means
	// OpenAI's public API. Must be http or https.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^\\\\s/$.?#][^\\\\s]*$')",message="baseURL must be an http:// or https:// URL"
	BaseURL string `json:"baseURL,omitempty"`

	// apiKeySecretRef names the Secret key holding the API key. The key is read at each cycle and
	// never written to status, events or logs.
	// +optional
	APIKeySecretRef *SecretKeyReference `json:"apiKeySecretRef,omitempty"`

	// timeout bounds each call to the provider. Default 30s; at most 10m.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('10m')",message="timeout must be greater than 0s and at most 10m"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// maxCallsPerCycle bounds the calls to the provider in one cycle, retries included.
	// Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxCallsPerCycle int32 `json:"maxCallsPerCycle,omitempty"`

	// instructions are added to the mutation request, for example "keep answers under 50 words"
	// or "always answer in German". At most 4096 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Instructions string `json:"instructions,omitempty"`
}

// GuardrailsSpec are checks a child must pass before it becomes an arm. A rejected candidate is
// counted per reason (metric and MutationRejected event) and another is asked for, up to
// mutator.maxCallsPerCycle.
type GuardrailsSpec struct {
	// maxLength is the longest child prompt admitted, in characters. Default 4096.
	// +optional
	// +kubebuilder:default=4096
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16384
	MaxLength int32 `json:"maxLength,omitempty"`

	// forbiddenPatterns are RE2 regular expressions; a child matching any of them is rejected.
	// At most 32 patterns of at most 512 characters each.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=512
	// +kubebuilder:validation:items:MinLength=1
	ForbiddenPatterns []string `json:"forbiddenPatterns,omitempty"`

	// preservePlaceholders requires every {{placeholder}} of the parent to appear in the child,
	// and no new one. Default true.
	// +optional
	// +kubebuilder:default=true
	PreservePlaceholders *bool `json:"preservePlaceholders,omitempty"`

	// minNovelty is the least a child must differ from every arm the portfolio ever had, retired
	// ones included, between 0 (anything not identical) and 1 (nothing in common). Novelty is one
	// minus the Jaccard similarity of the two texts' word 3-shingles. Default 0.15.
	// +optional
	// +kubebuilder:default=0.15
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self <= 1.0",message="minNovelty must be between 0 and 1"
	MinNovelty *float64 `json:"minNovelty,omitempty"`
}

// RetirementSpec is the rule that frees slots for children. The defaults are the rule that
// measured best in the learning suite of `promptfolio simulate --suite` (docs/simulate.md).
type RetirementSpec struct {
	// rule is the test an arm fails to be retired:
	// ProbBetterThanBest (default): the exact P(arm > best arm) is below threshold.
	// ProbBest: P(arm is the best of the active arms), as in the arm's status.probBest, is below
	// threshold; it turns slots over faster but, with many close arms, retires arms that are
	// in fact the best more often.
	// ExpectedLoss: E[max(arm − best, 0)], the success rate lost by retiring the arm weighted by
	// how likely it is the better one, is below threshold (a rate, like 0.002).
	// +optional
	// +kubebuilder:default=ProbBetterThanBest
	Rule RetirementRule `json:"rule,omitempty"`

	// threshold is the rule's bound, strictly between 0 and 1; default 0.05. Lower values retire
	// more cautiously.
	// +optional
	// +kubebuilder:default=0.05
	// +kubebuilder:validation:XValidation:rule="self > 0.0 && self < 1.0",message="retirement.threshold must be strictly between 0 and 1, like 0.05"
	Threshold float64 `json:"threshold,omitempty"`

	// minTrials is the number of trials an arm needs before it can be retired; 0 (default) judges
	// arms on the evidence alone. Under Thompson sampling a clearly worse arm gets few trials, so a
	// floor keeps it, and its slot, for a long time.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	MinTrials *int64 `json:"minTrials,omitempty"`
}

// PayoffSpec is how evolution judges whether mutation pays off. The evidence is the realized gain
// of the children over the arms they descend from: the successes they earned minus what their
// founders' (the seeds') posterior means predict on the same traffic. From it and its noise the
// controller computes P(mutation pays), shown in status.mutationPayoff; 0.5 before any child has a
// trial.
type PayoffSpec struct {
	// pauseBelow pauses mutation while P(mutation pays) is below it; the MutationPayingOff
	// condition is then False. 0 never pauses. At least 0 and below 1; default 0.1.
	// +optional
	// +kubebuilder:default=0.1
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self < 1.0",message="payoff.pauseBelow must be at least 0 and below 1, like 0.1"
	PauseBelow *float64 `json:"pauseBelow,omitempty"`

	// minChildren is the number of children with trials needed before mutation may pause, so that
	// a mutator that pays off through a few much better children among many worse ones is not
	// stopped by its first generations. Default 16.
	// +optional
	// +kubebuilder:default=16
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	MinChildren *int32 `json:"minChildren,omitempty"`

	// probeEvery: while paused, one child is still tried every probeEvery generations, so that
	// evolution notices when mutation pays off again. 0 tries none while paused. Default 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	ProbeEvery *int64 `json:"probeEvery,omitempty"`
}

// NewbornSpec is how evolution treats children before the traffic has judged them (before they
// have childPriorStrength trials): which best arm may have children, and how fast a newborn child
// that looks worse is cut.
type NewbornSpec struct {
	// retireBelow is the early cut: an active child with at least newborn.minTrials and fewer
	// than childPriorStrength trials is retired when P(child > best arm) is below
	// retireBelow · min(1, √(childPriorStrength / trials per cycle)), trials per cycle being the
	// portfolio's trials over its cycles so far. At low traffic a child needs several cycles to be
	// judged and holds a mutation slot meanwhile; with more traffic the bound shrinks below
	// retirement.threshold and the early cut no longer acts. 0 never cuts early. At least 0 and
	// below 1; default 0.35.
	// +optional
	// +kubebuilder:default=0.35
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self < 1.0",message="newborn.retireBelow must be at least 0 and below 1, like 0.35"
	RetireBelow *float64 `json:"retireBelow,omitempty"`

	// minTrials is the number of trials a child needs before the early cut may judge it.
	// Default 2.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	MinTrials *int64 `json:"minTrials,omitempty"`

	// minParentTrials: a cycle creates children only of a best arm with at least this many
	// trials, so that mutation does not start from an arm that is best by luck. Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	MinParentTrials *int64 `json:"minParentTrials,omitempty"`
}

// EvolutionSpec is the policy of evolution cycles: retire what is almost surely not the best, then
// ask the mutator for children of the best arm while mutation pays off.
// +kubebuilder:validation:XValidation:rule="!has(self.minActiveArms) || !has(self.maxActiveArms) || self.minActiveArms <= self.maxActiveArms",message="minActiveArms must not exceed maxActiveArms"
type EvolutionSpec struct {
	// schedule says when cycles run: a Go duration such as "24h" or "90s" (at least 1s), or a
	// five-field cron expression such as "0 3 * * *" (UTC), or a descriptor such as "@daily".
	// Default "24h". The next cycle is computed from status.lastCycleTime, with up to 10% jitter
	// on intervals, so a restart of the controller neither repeats nor skips a cycle.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || self.matches('^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$') || self.matches('^(\\\\S+\\\\s+){4}\\\\S+$') && self.split(' ').filter(f, f.size() > 0).all(f, f.matches('^(\\\\*|\\\\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\\\\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$'))",message="schedule must be a duration like '24h' or '90s', a five-field cron expression like '0 3 * * *', or a descriptor like '@daily'"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) >= duration('1s')",message="a schedule interval must be at least 1s"
	Schedule string `json:"schedule,omitempty"`

	// everyTrials, when set, also starts a cycle once this many new trials (rewards) arrived since
	// the last cycle, whichever comes first with the schedule.
	// +optional
	// +kubebuilder:validation:Minimum=1
	EveryTrials *int64 `json:"everyTrials,omitempty"`

	// retirement is the rule that frees slots: which arms a cycle retires. The best arm (highest
	// posterior mean) is never retired, nor an arm with fewer than retirement.minTrials trials, and
	// retirement never leaves fewer than minActiveArms active arms.
	// +optional
	// +kubebuilder:default={}
	Retirement RetirementSpec `json:"retirement,omitempty"`

	// payoff is how evolution learns whether mutation pays off and slows down when it does not.
	// +optional
	// +kubebuilder:default={}
	Payoff PayoffSpec `json:"payoff,omitempty"`

	// newborn is how children are judged before they have childPriorStrength trials, and which
	// best arm may have children.
	// +optional
	// +kubebuilder:default={}
	Newborn NewbornSpec `json:"newborn,omitempty"`

	// minActiveArms: retirement never leaves fewer active arms than this. Default 2.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=200
	MinActiveArms int32 `json:"minActiveArms,omitempty"`

	// maxActiveArms: mutation never makes more active arms than this. Default 12.
	// +optional
	// +kubebuilder:default=12
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=200
	MaxActiveArms int32 `json:"maxActiveArms,omitempty"`

	// mutationsPerCycle is the number of unproven children a portfolio may have: a cycle asks for
	// this many children of the best arm minus the active children with fewer trials than
	// childPriorStrength, within maxActiveArms, so that low traffic judges children before more
	// are made. 0 turns mutation off (retirement still runs). Default 2.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	MutationsPerCycle *int32 `json:"mutationsPerCycle,omitempty"`

	// childPriorStrength n0 is the most a child's inherited prior may weigh: a child of a parent
	// with posterior Beta(α, β) and mean m starts at Beta(m·n, (1−m)·n) with n = min(n0, α + β),
	// as if it had seen n trials, so a child's prior is never bolder than its parent's evidence.
	// Small values let the child prove itself quickly. Greater than 0, at most 1e6; default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:XValidation:rule="self > 0.0 && self <= 1000000.0",message="childPriorStrength must be greater than 0 and at most 1e6"
	ChildPriorStrength float64 `json:"childPriorStrength,omitempty"`

	// suspend stops evolution cycles. Selection and statistics go on.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// mutator writes children of the best arm. Default: the built-in Offline mutator.
	// +optional
	// +kubebuilder:default={provider: Offline}
	Mutator MutatorSpec `json:"mutator,omitempty"`

	// guardrails are checks a child must pass before it becomes an arm.
	// +optional
	// +kubebuilder:default={}
	Guardrails GuardrailsSpec `json:"guardrails,omitempty"`
}

// PromptPortfolioSpec is what people own: seed prompts, the prior of seeds, and evolution policy.
type PromptPortfolioSpec struct {
	// prompts are the seed prompts. Each becomes an Active arm "<portfolio>-<name>". Names are
	// unique. Removing a prompt retires its arm; changing its text retires the arm and creates a
	// new one. 1 to 50 prompts.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	Prompts []SeedPrompt `json:"prompts"`

	// selection configures the prior of seed arms.
	// +optional
	// +kubebuilder:default={}
	Selection SelectionSpec `json:"selection,omitempty"`

	// evolution is the policy of evolution cycles.
	// +optional
	// +kubebuilder:default={}
	Evolution EvolutionSpec `json:"evolution,omitempty"`
}

// CycleSummary describes one evolution cycle.
type CycleSummary struct {
	// generation is the evolution generation this cycle produced (1 for the first cycle).
	Generation int32 `json:"generation"`
	// startTime is when the cycle started.
	StartTime metav1.Time `json:"startTime"`
	// completionTime is when the cycle completed; empty while it is in progress.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// bestArm was the best arm when the cycle started, the parent of its children.
	// +optional
	BestArm string `json:"bestArm,omitempty"`
	// retired are the arms this cycle retired.
	// +optional
	// +listType=set
	Retired []string `json:"retired,omitempty"`
	// plannedChildren are the names of the children this cycle may create. They are recorded
	// before any child is created, so a controller restarted mid-cycle creates exactly these.
	// +optional
	// +listType=set
	PlannedChildren []string `json:"plannedChildren,omitempty"`
	// retirementPlan says, for each arm in retired, which rule retired it and why, with the
	// numbers, as planned when the cycle started; the arms' status.retirement.message is this.
	// +optional
	// +listType=map
	// +listMapKey=arm
	RetirementPlan []PlannedRetirement `json:"retirementPlan,omitempty"`
	// childPlan gives, for each name in plannedChildren, its parent and the prior it starts from,
	// as planned when the cycle started; a controller restarted mid-cycle creates exactly these.
	// +optional
	// +listType=map
	// +listMapKey=name
	ChildPlan []PlannedChild `json:"childPlan,omitempty"`
	// created are the children this cycle created.
	// +optional
	// +listType=set
	Created []string `json:"created,omitempty"`
	// rejected counts mutation candidates the guardrails rejected.
	// +optional
	Rejected int32 `json:"rejected,omitempty"`
	// trigger says why the cycle ran: Schedule, EveryTrials or Requested.
	// +optional
	Trigger string `json:"trigger,omitempty"`
	// message is a one-line summary for people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// PlannedRetirement is one retirement of an evolution cycle's plan.
type PlannedRetirement struct {
	// arm is the name of the arm to retire.
	Arm string `json:"arm"`
	// rule is the retirement rule that fired.
	Rule RetirementRule `json:"rule"`
	// message says why, with the rule's probability, threshold and the arm's trials.
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
}

// PlannedChild is one child of an evolution cycle's plan.
type PlannedChild struct {
	// name is the child's arm name, "<portfolio>-g<generation>-<index>".
	Name string `json:"name"`
	// parent is the arm the child is mutated from.
	Parent string `json:"parent"`
	// prior is the cautious prior the child starts from.
	Prior BetaPrior `json:"prior"`
}

// MutationPayoffStatus is what the portfolio has learned of whether mutation pays off.
type MutationPayoffStatus struct {
	// children counts the children whose parent is still an arm of the portfolio; childTrials
	// their trials.
	Children    int32 `json:"children"`
	ChildTrials int64 `json:"childTrials"`
	// gain is the children's realized gain over their parents, in successes: what they earned
	// minus what their parents' posterior means predict on the same traffic.
	Gain float64 `json:"gain"`
	// probPays is P(mutation pays), the probability that the gain is positive, rounded to 6
	// decimals.
	ProbPays float64 `json:"probPays"`
	// paused is true while probPays is below spec.evolution.payoff.pauseBelow: cycles then create
	// at most one probe child every payoff.probeEvery generations.
	Paused bool `json:"paused"`
}

// PromptPortfolioStatus is what the controller learned and decided. Only the controller writes it.
type PromptPortfolioStatus struct {
	// observedGeneration is the metadata.generation the controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, MutatorFailing and MutationPayingOff.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// activeArms is the number of Active arms.
	// +optional
	ActiveArms int32 `json:"activeArms"`
	// retiredArms is the number of Retired arms.
	// +optional
	RetiredArms int32 `json:"retiredArms"`
	// totalTrials is the number of rewards counted over all arms.
	// +optional
	TotalTrials int64 `json:"totalTrials"`

	// trafficWindowStart is when the current traffic window opened; the arms' trafficShare covers
	// it and the previous window.
	// +optional
	TrafficWindowStart *metav1.Time `json:"trafficWindowStart,omitempty"`
	// trafficHistory lists the last 24 closed traffic windows, oldest first, with each arm's
	// trials in them: the traffic share over time that `promptfolio plot` draws.
	// +optional
	// +kubebuilder:validation:MaxItems=24
	TrafficHistory []TrafficWindow `json:"trafficHistory,omitempty"`

	// bestArm is the Active arm with the highest posterior mean (ties: more trials, then older).
	// +optional
	BestArm string `json:"bestArm,omitempty"`
	// bestMean is the posterior mean of bestArm, rounded to 6 decimals.
	// +optional
	BestMean *float64 `json:"bestMean,omitempty"`
	// bestMeanDisplay is bestMean as a percentage with one decimal, for the column of
	// `kubectl get promptportfolios`.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	BestMeanDisplay string `json:"bestMeanDisplay,omitempty"`

	// evolutionGeneration counts completed evolution cycles.
	// +optional
	EvolutionGeneration int32 `json:"evolutionGeneration"`
	// lastCycleTime is when the last evolution cycle started. The next one is scheduled from it.
	// +optional
	LastCycleTime *metav1.Time `json:"lastCycleTime,omitempty"`
	// nextCycleTime is when the next evolution cycle is due (empty when suspended).
	// +optional
	NextCycleTime *metav1.Time `json:"nextCycleTime,omitempty"`
	// trialsAtLastCycle is totalTrials when the last cycle started, for evolution.everyTrials.
	// +optional
	TrialsAtLastCycle int64 `json:"trialsAtLastCycle,omitempty"`
	// lastCycle summarises the last completed cycle.
	// +optional
	LastCycle *CycleSummary `json:"lastCycle,omitempty"`
	// cycleInProgress is set while a cycle runs; a restarted controller finishes it.
	// +optional
	CycleInProgress *CycleSummary `json:"cycleInProgress,omitempty"`
	// mutationPayoff is the evidence on mutation that the last cycle planned with.
	// +optional
	MutationPayoff *MutationPayoffStatus `json:"mutationPayoff,omitempty"`
	// lastHandledCycleRequest is the last value of the promptfolio.dev/run-cycle annotation that
	// started a cycle.
	// +optional
	LastHandledCycleRequest string `json:"lastHandledCycleRequest,omitempty"`
}
