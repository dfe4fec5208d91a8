package v1alpha1

// Condition types set on a PromptPortfolio. They follow kstatus: Ready is the summary; Reconciling
// and Stalled are present and True only while that is so.
const (
	// ConditionReady is True when the last reconcile of the portfolio's generation succeeded: its
	// arms exist, their statistics are current and selectors can serve it. It is False, with the
	// reason and message of the failure, whenever a reconcile fails, and True again once one
	// succeeds.
	ConditionReady = "Ready"

	// ConditionReconciling is True while the controller is bringing the portfolio to its spec:
	// while an evolution cycle is in progress (CycleInProgress), or while it retries after a
	// failure that may pass by itself (Progressing).
	ConditionReconciling = "Reconciling"

	// ConditionStalled is True when the controller cannot make progress without a person's
	// action: an invalid spec (InvalidSpec; not retried until the spec changes), an arm name held
	// by another portfolio's arm (ArmNameTaken) or an API key Secret the controller may not read
	// (SecretUnreadable). The last two are retried with backoff, so the portfolio recovers by
	// itself once the cause is removed.
	ConditionStalled = "Stalled"

	// ConditionMutatorFailing is True when the last evolution cycle could not get children from
	// the mutator (LLM unreachable, rate limited, or every candidate rejected). Selection keeps
	// working on the existing arms; the portfolio stays Ready.
	ConditionMutatorFailing = "MutatorFailing"

	// ConditionMutationPayingOff is True while the evidence says mutation pays off (or there is
	// none yet) and False while evolution has paused mutation because P(mutation pays) is below
	// spec.evolution.payoff.pauseBelow. Set by every evolution cycle.
	ConditionMutationPayingOff = "MutationPayingOff"
)

// Condition reasons. They are CamelCase machine words; the condition message carries the detail.
const (
	// ReasonSucceeded means the portfolio is reconciled and its statistics are current.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing is the reason of Reconciling while the controller retries after a failure
	// that may pass by itself (the API server did not answer, the reconcile ran out of time).
	ReasonProgressing = "Progressing"
	// ReasonCycleInProgress means an evolution cycle has started and not yet completed.
	ReasonCycleInProgress = "CycleInProgress"
	// ReasonInvalidSpec means the spec passed admission but cannot be acted on.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonMutatorError means the mutator returned an error (timeout, HTTP error, bad output).
	ReasonMutatorError = "MutatorError"
	// ReasonAllCandidatesRejected means the mutator answered but the guardrails admitted nothing.
	ReasonAllCandidatesRejected = "AllCandidatesRejected"
	// ReasonMutatorHealthy means the last cycle admitted the children it asked for.
	ReasonMutatorHealthy = "MutatorHealthy"
	// ReasonMutationPays means the children's gain over their parents is not convincingly negative.
	ReasonMutationPays = "MutationPays"
	// ReasonMutationNotPaying means P(mutation pays) fell below payoff.pauseBelow; mutation is
	// paused but for probe children.
	ReasonMutationNotPaying = "MutationNotPaying"
	// ReasonSecretNotFound means apiKeySecretRef names a Secret or key that does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretUnreadable means the Secret of apiKeySecretRef exists but could not be read:
	// the controller is not allowed to, or the API server did not answer.
	ReasonSecretUnreadable = "SecretUnreadable"
	// ReasonArmNameTaken means the name of an arm the controller must create is held by a
	// PromptArm with another prompt or of another portfolio.
	ReasonArmNameTaken = "ArmNameTaken"
	// ReasonCountersUnavailable means the controller could not read the portfolio's counter
	// reports (the arms' totals are not current), its cache's watch of them has failed for longer
	// than the manager's --watch-failure-bound (the totals stopped moving; Stalled when the API
	// server forbids it), it could not create a missing ledger, or it could not fold the reports
	// of gone writers into the ledger (the totals are current, the fold is retried).
	ReasonCountersUnavailable = "CountersUnavailable"
	// ReasonReconcileFailed means a reconcile failed for another reason, typically a request to
	// the API server; the message carries the error.
	ReasonReconcileFailed = "ReconcileFailed"
)

// Reasons an arm is retired, recorded in PromptArm status.retirement.reason.
const (
	// RetiredWorseThanBest: the portfolio's retirement rule fired (spec.evolution.retirement); the
	// message names the rule and its numbers.
	RetiredWorseThanBest = "WorseThanBest"
	// RetiredSeedChanged: the seed prompt's text changed in spec; a new arm carries the new text.
	RetiredSeedChanged = "SeedChanged"
	// RetiredSeedRemoved: the seed prompt was removed from spec.
	RetiredSeedRemoved = "SeedRemoved"
)

// Event reasons emitted on PromptPortfolio objects.
const (
	EventArmCreated       = "ArmCreated"
	EventArmRetired       = "ArmRetired"
	EventMutationRejected = "MutationRejected"
	EventCycleStarted     = "CycleStarted"
	EventCycleCompleted   = "CycleCompleted"
	EventMutatorFailed    = "MutatorFailed"
	EventInvalidSpec      = "InvalidSpec"
	// EventMutationPaused and EventMutationResumed mark the MutationPayingOff condition turning
	// False and True.
	EventMutationPaused  = "MutationPaused"
	EventMutationResumed = "MutationResumed"
	// EventReconcileFailed is recorded when a reconcile fails with a reason or message other
	// than the last one; retries that fail the same way record nothing more.
	EventReconcileFailed = "ReconcileFailed"
	// EventLedgerSeeded is recorded when the controller creates a portfolio's missing counter
	// ledger seeded with what the arms' published totals held beyond the counter reports (after
	// an upgrade from a data path in which arm status held the counts, or a ledger deleted or
	// lost), so that the totals do not go backwards.
	EventLedgerSeeded = "LedgerSeeded"
	// EventCountersAvailable is recorded when a portfolio that was Ready=False with
	// CountersUnavailable reads and folds its counter reports again.
	EventCountersAvailable = "CountersAvailable"
)

// Well-known labels, annotations, finalizers and field managers.
const (
	// LabelPortfolio is set on every PromptArm to the name of its PromptPortfolio. Arms a person
	// creates with this label are adopted by the portfolio.
	LabelPortfolio = "promptfolio.dev/portfolio"

	// AnnotationRunCycle requests an evolution cycle now: set it to any new value (a timestamp,
	// for example). The controller records the last value it acted on in
	// status.lastHandledCycleRequest, so each value runs at most one cycle.
	AnnotationRunCycle = "promptfolio.dev/run-cycle"

	// FinalizerCounterFold is set on every writer PromptCounterReport when it is created. The
	// controller folds a deleted report's counts into its portfolio's ledger and only then removes
	// the finalizer, so a report that garbage collection removes with its pod never takes counts
	// with it.
	FinalizerCounterFold = "promptfolio.dev/counter-fold"

	// FieldManagerController is the server-side-apply field manager of the controller. Selectors
	// use their own managers ("promptfolio-selector-<writer>") for their counter entries.
	FieldManagerController = "promptfolio-controller"
)
