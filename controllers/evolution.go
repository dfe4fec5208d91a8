package controllers

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/evolution"
	"github.com/promptfolio/promptfolio/internal/metrics"
	"github.com/promptfolio/promptfolio/internal/mutation"
	"github.com/promptfolio/promptfolio/internal/schedule"
)

// Cycle results, the label of the cycle metric.
const (
	cycleSucceeded      = "Succeeded"
	cycleMutatorFailing = "MutatorFailing"
)

// mutationOutcome is what the mutator achieved in one cycle.
type mutationOutcome struct {
	mutator   string
	asked     int
	admitted  int
	rejected  []mutation.Rejection
	err       error  // the mutator's error, scrubbed text in message
	reason    string // condition reason when failing
	message   string
	consulted bool
}

// failing reports whether the outcome sets MutatorFailing: the mutator erred, or it was asked for
// children and none was admitted.
func (o mutationOutcome) failing() bool {
	return o.consulted && (o.reason == promptsv1alpha1.ReasonSecretNotFound || o.err != nil || (o.asked > 0 && o.admitted == 0))
}

// reconcileEvolution finishes a cycle in progress, or starts one when the schedule, everyTrials
// or a run-cycle request says it is due, and sets the next cycle time.
func (r *PortfolioReconciler) reconcileEvolution(ctx context.Context, s *portfolioState, cfg *evolutionConfig) error {
	pf := s.pf
	st := &pf.Status
	key := string(pf.UID)
	if st.CycleInProgress == nil {
		var everyTrials int64
		if pf.Spec.Evolution.EveryTrials != nil {
			everyTrials = *pf.Spec.Evolution.EveryTrials
		}
		var last time.Time
		if st.LastCycleTime != nil {
			last = st.LastCycleTime.Time
		}
		d := cfg.schedule.Decide(schedule.State{
			Now: s.now, Created: pf.CreationTimestamp.Time, LastCycle: last, Key: key,
			Suspend: pf.Spec.Evolution.Suspend, EveryTrials: everyTrials,
			Trials: s.totalTrials(), TrialsAtLastCycle: st.TrialsAtLastCycle,
			Request: pf.Annotations[promptsv1alpha1.AnnotationRunCycle], LastHandledRequest: st.LastHandledCycleRequest,
		})
		s.nextCycle = d.Next
		if !d.Due {
			return nil
		}
		if err := r.startCycle(ctx, s, cfg, d.Trigger); err != nil {
			return err
		}
	}
	if err := r.runCycle(ctx, s, cfg); err != nil {
		return err
	}
	if !pf.Spec.Evolution.Suspend {
		s.nextCycle = cfg.schedule.Next(st.LastCycleTime.Time, key)
	}
	return nil
}

// startCycle plans a cycle with the evolution policy and records it in status.cycleInProgress —
// written to the API server before anything else happens, so a restart finishes this plan
// instead of making another. The write is conditional on the portfolio's resource version, so
// two controllers can never start two cycles from one state.
func (r *PortfolioReconciler) startCycle(ctx context.Context, s *portfolioState, cfg *evolutionConfig, trigger schedule.Trigger) error {
	pf := s.pf
	st := &pf.Status
	generation := st.EvolutionGeneration + 1
	arms := make([]evolution.Arm, len(s.arms))
	for i, arm := range s.arms {
		arms[i] = policyArm(arm)
		arms[i].Parent = arm.Spec.Origin.Parent
	}
	plan, err := evolution.Decide(evolution.Input{Portfolio: pf.Name, Generation: int64(generation), Arms: arms, Policy: cfg.policy})
	if err != nil {
		return fmt.Errorf("planning evolution cycle %d: %w", generation, err)
	}
	cycle := &promptsv1alpha1.CycleSummary{
		Generation: generation, StartTime: metav1.NewTime(s.now), BestArm: plan.Best, Trigger: string(trigger),
	}
	for _, ret := range plan.Retire {
		cycle.Retired = append(cycle.Retired, ret.Arm)
		cycle.RetirementPlan = append(cycle.RetirementPlan, promptsv1alpha1.PlannedRetirement{
			Arm: ret.Arm, Rule: promptsv1alpha1.RetirementRule(ret.Rule), Message: truncate(ret.Message, 1024),
		})
	}
	for _, c := range plan.Children {
		cycle.PlannedChildren = append(cycle.PlannedChildren, c.Name)
		cycle.ChildPlan = append(cycle.ChildPlan, promptsv1alpha1.PlannedChild{
			Name: c.Name, Parent: c.Parent, Prior: promptsv1alpha1.BetaPrior{Alpha: c.PriorAlpha, Beta: c.PriorBeta},
		})
	}
	cycle.Message = truncate(plan.Summary(), 1024)
	r.reportPayoff(pf, plan.Payoff, cfg.policy.Payoff)
	st.CycleInProgress = cycle
	st.LastCycleTime = &metav1.Time{Time: s.now}
	st.TrialsAtLastCycle = s.totalTrials()
	if req := pf.Annotations[promptsv1alpha1.AnnotationRunCycle]; req != "" {
		st.LastHandledCycleRequest = req
	}
	r.setCondition(pf, promptsv1alpha1.ConditionReconciling, metav1.ConditionTrue, promptsv1alpha1.ReasonCycleInProgress,
		fmt.Sprintf("evolution cycle %d in progress", generation))
	if err := r.applyPortfolioStatus(ctx, pf); err != nil {
		return fmt.Errorf("recording evolution cycle %d: %w", generation, err)
	}
	log.FromContext(ctx).Info("evolution cycle started", "generation", generation, "trigger", trigger,
		"best", plan.Best, "retire", len(cycle.Retired), "plannedChildren", len(cycle.PlannedChildren))
	r.event(pf, nil, "Normal", promptsv1alpha1.EventCycleStarted, "Evolve",
		fmt.Sprintf("evolution cycle %d started (%s): %s", generation, trigger, cycle.Message))
	return nil
}

// runCycle carries out status.cycleInProgress: it retires the recorded arms, creates the planned
// children that do not exist yet through the mutator, and completes the cycle in status. It is
// idempotent: run again after an interruption it retires nothing twice and creates only the
// missing planned children, under their planned names.
func (r *PortfolioReconciler) runCycle(ctx context.Context, s *portfolioState, cfg *evolutionConfig) error {
	start := time.Now()
	pf := s.pf
	cycle := pf.Status.CycleInProgress
	for _, name := range cycle.Retired {
		if arm := s.arm(name); arm != nil {
			r.retire(s, arm, promptsv1alpha1.RetiredWorseThanBest, plannedRetirementMessage(cycle, name), cycle.Generation)
		}
	}

	var missing []string
	for _, name := range cycle.PlannedChildren {
		if s.arm(name) == nil {
			missing = append(missing, name)
		}
	}
	var outcome mutationOutcome
	if len(missing) > 0 {
		var err error
		outcome, err = r.mutate(ctx, s, cfg, cycle, missing)
		if err != nil {
			return err
		}
	}
	r.completeCycle(ctx, s, outcome, time.Since(start))
	return nil
}

// plannedRetirementMessage is the message the cycle's plan gives the retirement of name.
func plannedRetirementMessage(cycle *promptsv1alpha1.CycleSummary, name string) string {
	for _, p := range cycle.RetirementPlan {
		if p.Arm == name {
			return p.Message
		}
	}
	return fmt.Sprintf("retired by evolution cycle %d", cycle.Generation)
}

// plannedChild is the plan's entry for the child name, and whether there is one.
func plannedChild(cycle *promptsv1alpha1.CycleSummary, name string) (promptsv1alpha1.PlannedChild, bool) {
	for _, c := range cycle.ChildPlan {
		if c.Name == name {
			return c, true
		}
	}
	return promptsv1alpha1.PlannedChild{}, false
}

// reportPayoff records what the cycle's plan knows of mutation's payoff in status, sets the
// MutationPayingOff condition and records an event when it turns.
func (r *PortfolioReconciler) reportPayoff(pf *promptsv1alpha1.PromptPortfolio, est evolution.PayoffEstimate, p evolution.Payoff) {
	pf.Status.MutationPayoff = &promptsv1alpha1.MutationPayoffStatus{
		Children: int32(est.Children), ChildTrials: est.Trials, Gain: round6(est.Gain),
		ProbPays: round6(est.ProbPays), Paused: est.Paused,
	}
	status, reason, event := metav1.ConditionTrue, promptsv1alpha1.ReasonMutationPays, promptsv1alpha1.EventMutationResumed
	message := fmt.Sprintf("P(mutation pays) = %.3f from %d children with %d trials (gain %+.1f successes over the seeds they descend from)",
		est.ProbPays, est.Children, est.Trials, est.Gain)
	if est.Paused {
		status, reason, event = metav1.ConditionFalse, promptsv1alpha1.ReasonMutationNotPaying, promptsv1alpha1.EventMutationPaused
		message += fmt.Sprintf(" is below payoff.pauseBelow %g: mutation paused", p.PauseBelow)
		if p.ProbeEvery > 0 {
			message += fmt.Sprintf(" but for one probe child every %d generations", p.ProbeEvery)
		}
	}
	var prev metav1.ConditionStatus // copied: setCondition edits the condition in place
	if c := meta.FindStatusCondition(pf.Status.Conditions, promptsv1alpha1.ConditionMutationPayingOff); c != nil {
		prev = c.Status
	}
	r.setCondition(pf, promptsv1alpha1.ConditionMutationPayingOff, status, reason, message)
	if prev != "" && prev != status {
		kind := "Normal"
		if est.Paused {
			kind = "Warning"
		}
		r.event(pf, nil, kind, event, "Evolve", message)
	}
}

// mutate asks the mutator for the missing children of a cycle and creates the admitted ones under
// the missing planned names, in order. An error is returned only when the reconcile must stop
// (the context ended, or the API server failed); mutator failures are part of the outcome.
func (r *PortfolioReconciler) mutate(ctx context.Context, s *portfolioState, cfg *evolutionConfig, cycle *promptsv1alpha1.CycleSummary, missing []string) (mutationOutcome, error) {
	logger := log.FromContext(ctx)
	pf := s.pf
	out := mutationOutcome{asked: len(missing), consulted: true, mutator: "offline"}
	parentName := cycle.BestArm
	if c, ok := plannedChild(cycle, missing[0]); ok {
		parentName = c.Parent
	}
	parent := s.arm(parentName)
	if parent == nil {
		out.reason, out.message = promptsv1alpha1.ReasonMutatorError, fmt.Sprintf("the parent arm %s no longer exists", parentName)
		out.err = errors.New(out.message)
		return out, nil
	}
	apiKey, err := r.apiKey(ctx, pf)
	var secretErr *errSecret
	if errors.As(err, &secretErr) {
		out.reason, out.message = promptsv1alpha1.ReasonSecretNotFound, secretErr.Error()
		return out, nil
	}
	if err != nil {
		return out, err
	}
	newMutator := r.NewMutator
	if newMutator == nil {
		newMutator = NewMutatorFactory(OpenAITuning{})
	}
	m, err := newMutator(pf, apiKey, cfg.maxCalls)
	if err != nil {
		out.reason, out.message, out.err = promptsv1alpha1.ReasonMutatorError, scrubMessage(err.Error(), apiKey), err
		return out, nil
	}
	out.mutator = m.Name()

	history := make([]string, 0, len(s.arms))
	for _, arm := range s.arms {
		history = append(history, arm.Spec.Prompt)
	}
	mctx, cancel := context.WithTimeout(ctx, r.CycleTimeout)
	defer cancel()
	started := time.Now()
	guardrails := cfg.guardrails
	seedTexts := make([]string, len(pf.Spec.Prompts))
	for i, p := range pf.Spec.Prompts {
		seedTexts[i] = p.Text
	}
	guardrails.MaxLength = mutation.LengthBudget(seedTexts, guardrails.MaxLength)
	admitted, rejected, genErr := mutation.Generate(mctx, m, guardrails, mutation.Request{
		Parent:       parent.Spec.Prompt,
		Count:        len(missing),
		Instructions: pf.Spec.Evolution.Mutator.Instructions,
		Seed:         cycleSeed(pf, cycle.Generation),
	}, history, mutation.MaxAttempts)
	metrics.MutationDuration(out.mutator, time.Since(started))
	if ctx.Err() != nil {
		// The manager is stopping: leave the cycle in progress for the next controller.
		return out, fmt.Errorf("%w: %w", errCycleInterrupted, ctx.Err())
	}
	out.rejected = rejected
	if genErr != nil {
		out.err = genErr
		out.reason = promptsv1alpha1.ReasonMutatorError
		out.message = scrubMessage(genErr.Error(), apiKey)
		logger.Info("mutator failed", "mutator", out.mutator, "kind", string(mutation.KindOf(genErr)), "error", out.message)
	}

	for i, c := range admitted {
		planned, ok := plannedChild(cycle, missing[i])
		if !ok {
			// A cycle recorded before plans carried priors: plan this child as Decide would.
			planned.Prior.Alpha, planned.Prior.Beta = evolution.CautiousPrior(armPosterior(parent), cfg.policy.ChildPriorStrength)
		}
		child := r.newArm(pf, missing[i], c.Text, planned.Prior, promptsv1alpha1.ArmOrigin{
			Type: promptsv1alpha1.OriginMutation, Parent: parent.Name, Generation: cycle.Generation,
			Mutator: m.Name(), Model: m.Model(), Operator: c.Operator,
		})
		if err := r.createArm(ctx, s, child); err != nil {
			return out, err
		}
		out.admitted++
	}
	metrics.MutationOutcome(out.mutator, "Admitted", out.admitted)
	r.reportRejections(s, out.mutator, rejected)
	if out.reason == "" && out.admitted == 0 {
		out.reason = promptsv1alpha1.ReasonAllCandidatesRejected
		out.message = fmt.Sprintf("the guardrails admitted none of %d candidates%s", len(rejected), rejectionSummary(rejected))
	}
	return out, nil
}

// rejectionSummary counts rejections per reason, as " (2 Duplicate, 1 TooLong)"; "" for none.
func rejectionSummary(rejected []mutation.Rejection) string {
	counts := map[mutation.Reason]int{}
	for _, rej := range rejected {
		counts[rej.Reason]++
	}
	parts := make([]string, 0, len(counts))
	for reason, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	if len(parts) == 0 {
		return ""
	}
	slices.Sort(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

// reportRejections counts rejected candidates per reason and records one event per reason.
func (r *PortfolioReconciler) reportRejections(s *portfolioState, mutator string, rejected []mutation.Rejection) {
	byReason := map[mutation.Reason][]mutation.Rejection{}
	for _, rej := range rejected {
		byReason[rej.Reason] = append(byReason[rej.Reason], rej)
	}
	reasons := make([]mutation.Reason, 0, len(byReason))
	for reason := range byReason {
		reasons = append(reasons, reason)
	}
	slices.Sort(reasons)
	for _, reason := range reasons {
		rs := byReason[reason]
		metrics.MutationOutcome(mutator, string(reason), len(rs))
		r.event(s.pf, nil, "Warning", promptsv1alpha1.EventMutationRejected, "Mutate",
			scrubMessage(fmt.Sprintf("%d candidate(s) rejected: %s", len(rs), rs[0].String()), ""))
	}
}

// completeCycle moves the cycle in progress to status.lastCycle, sets MutatorFailing when the
// mutator was consulted, and reports the cycle.
func (r *PortfolioReconciler) completeCycle(ctx context.Context, s *portfolioState, out mutationOutcome, took time.Duration) {
	pf := s.pf
	st := &pf.Status
	cycle := st.CycleInProgress
	cycle.CompletionTime = &metav1.Time{Time: s.now}
	cycle.Created = nil
	for _, name := range cycle.PlannedChildren {
		if s.arm(name) != nil {
			cycle.Created = append(cycle.Created, name)
		}
	}
	cycle.Rejected = int32(len(out.rejected))
	cycle.Message = truncate(cycleMessage(cycle, out), 1024)
	st.LastCycle, st.CycleInProgress = cycle, nil
	st.EvolutionGeneration = cycle.Generation

	result := cycleSucceeded
	if out.consulted {
		if out.failing() {
			result = cycleMutatorFailing
			r.setCondition(pf, promptsv1alpha1.ConditionMutatorFailing, metav1.ConditionTrue, out.reason, out.message)
			r.event(pf, nil, "Warning", promptsv1alpha1.EventMutatorFailed, "Mutate", out.message)
		} else {
			r.setCondition(pf, promptsv1alpha1.ConditionMutatorFailing, metav1.ConditionFalse, promptsv1alpha1.ReasonMutatorHealthy,
				fmt.Sprintf("%s admitted %d of %d children", out.mutator, out.admitted, out.asked))
		}
	}
	metrics.CycleCompleted(cycle.Trigger, result, took)
	log.FromContext(ctx).Info("evolution cycle completed", "generation", cycle.Generation, "created", len(cycle.Created),
		"retired", len(cycle.Retired), "rejected", cycle.Rejected, "result", result)
	r.event(pf, nil, "Normal", promptsv1alpha1.EventCycleCompleted, "Evolve", cycle.Message)
}

// cycleMessage is the one-line summary of a completed cycle.
func cycleMessage(cycle *promptsv1alpha1.CycleSummary, out mutationOutcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "generation %d (%s): best %s", cycle.Generation, cycle.Trigger, orDefault(cycle.BestArm, "none"))
	fmt.Fprintf(&b, "; retired %d", len(cycle.Retired))
	fmt.Fprintf(&b, "; created %d of %d planned children", len(cycle.Created), len(cycle.PlannedChildren))
	if out.consulted {
		fmt.Fprintf(&b, " (%s, %d rejected)", out.mutator, len(out.rejected))
		if out.failing() {
			fmt.Fprintf(&b, "; mutator failing: %s: %s", out.reason, out.message)
		}
	}
	return b.String()
}

// cycleSeed is the mutator seed of one generation of one portfolio: a repeated cycle proposes the
// same children and the next generation proposes new ones.
func cycleSeed(pf *promptsv1alpha1.PromptPortfolio, generation int32) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d", pf.Namespace, pf.Name, generation)
	return h.Sum64()
}
