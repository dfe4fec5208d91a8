package v1alpha1

// The API's enumerations: each is a string type whose Enum marker lists its values for the API
// server, and the constants of those values for Go code.

// MutatorProvider names how children of the best arm are written.
// +kubebuilder:validation:Enum=Offline;OpenAI
type MutatorProvider string

const (
	// MutatorOffline rewrites prompts with built-in deterministic operators (tone, structure,
	// emphasis, brevity, ordering). It needs no network and no credentials.
	MutatorOffline MutatorProvider = "Offline"
	// MutatorOpenAI asks an OpenAI-compatible chat completions API (OpenAI, Azure OpenAI, vLLM,
	// Ollama, LiteLLM) for semantic variations.
	MutatorOpenAI MutatorProvider = "OpenAI"
)

// RetirementRule names the test by which an evolution cycle retires arms.
// +kubebuilder:validation:Enum=ProbBetterThanBest;ProbBest;ExpectedLoss
type RetirementRule string

const (
	// RetirementProbBetterThanBest retires an arm when the exact probability that it beats the best
	// arm, P(arm > best), is below the threshold.
	RetirementProbBetterThanBest RetirementRule = "ProbBetterThanBest"
	// RetirementProbBest retires an arm when the probability that it is the best of all active
	// arms, P(best) as in the arm's status.probBest, is below the threshold.
	RetirementProbBest RetirementRule = "ProbBest"
	// RetirementExpectedLoss retires an arm when E[max(arm − best, 0)] is below the threshold.
	RetirementExpectedLoss RetirementRule = "ExpectedLoss"
)

// ArmOriginType says where an arm's prompt came from.
// +kubebuilder:validation:Enum=Seed;Mutation;Manual
type ArmOriginType string

const (
	// OriginSeed arms come from the portfolio's spec.prompts.
	OriginSeed ArmOriginType = "Seed"
	// OriginMutation arms were written by the mutator from a parent arm.
	OriginMutation ArmOriginType = "Mutation"
	// OriginManual arms were created by a person with the promptfolio.dev/portfolio label.
	OriginManual ArmOriginType = "Manual"
)

// ArmPhase is the lifecycle phase of an arm.
// +kubebuilder:validation:Enum=Active;Retired
type ArmPhase string

const (
	// ArmActive arms are served by selectors.
	ArmActive ArmPhase = "Active"
	// ArmRetired arms are no longer served. Rewards for decisions made before retirement are still
	// counted. Retired arms are kept, so that their texts are never proposed again.
	ArmRetired ArmPhase = "Retired"
)

// CounterReportRole says who writes a PromptCounterReport.
// +kubebuilder:validation:Enum=Writer;Ledger
type CounterReportRole string

const (
	// RoleWriter reports are written by one selector process (a writer) each.
	RoleWriter CounterReportRole = "Writer"
	// RoleLedger is the controller's report of a portfolio: the counts of writers that are gone.
	RoleLedger CounterReportRole = "Ledger"
)
