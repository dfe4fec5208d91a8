package controllers

import (
	"errors"
	"fmt"

	"k8s.io/utils/ptr"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/evolution"
	"github.com/promptfolio/promptfolio/internal/mutation"
	"github.com/promptfolio/promptfolio/internal/schedule"
)

// Defaults of spec.evolution that the API server fills in through the CRD's defaults. They are
// repeated here for objects that reach the controller without them (a client that skipped
// defaulting, or a test building objects in memory).
const (
	defaultSchedule         = "24h"
	defaultMaxCallsPerCycle = 10
	defaultMaxLength        = 4096
	defaultMinNovelty       = 0.15
	defaultOpenAIModel      = mutation.DefaultModel
	defaultSecretKey        = "api-key"
	defaultCredibleLevel    = 0.95
)

// evolutionConfig is spec.evolution parsed and checked: what a cycle needs, in the types of the
// internal packages.
type evolutionConfig struct {
	schedule   schedule.Schedule
	policy     evolution.Policy
	guardrails mutation.Guardrails
	// maxCalls bounds the provider calls of one cycle, retries included; the mutator the factory
	// builds for the cycle keeps it.
	maxCalls int
}

// parseEvolution turns spec.evolution into an evolutionConfig. Its error means the spec passed
// admission but cannot be acted on (an unparsable schedule, a pattern that is not RE2, limits
// that contradict each other); it is reported as Stalled and not retried until the spec changes.
func parseEvolution(spec *promptsv1alpha1.EvolutionSpec) (*evolutionConfig, error) {
	var errs []error
	sched, err := schedule.Parse(orDefault(spec.Schedule, defaultSchedule))
	if err != nil {
		errs = append(errs, fmt.Errorf("spec.evolution.schedule: %w", err))
	}
	policy := policyOf(spec)
	if err := policy.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("spec.evolution: %w", err))
	}
	g := spec.Guardrails
	patterns, err := mutation.CompilePatterns(g.ForbiddenPatterns)
	if err != nil {
		errs = append(errs, fmt.Errorf("spec.evolution.guardrails.forbiddenPatterns: %w", err))
	}
	guardrails := mutation.Guardrails{
		MaxLength:            int(orDefault(g.MaxLength, defaultMaxLength)),
		Forbidden:            patterns,
		PreservePlaceholders: g.PreservePlaceholders == nil || *g.PreservePlaceholders,
		MinNovelty:           defaultMinNovelty,
		Instructions:         spec.Mutator.Instructions,
	}
	if g.MinNovelty != nil {
		guardrails.MinNovelty = *g.MinNovelty
	}
	if err == nil {
		if err := guardrails.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("spec.evolution.guardrails: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &evolutionConfig{
		schedule:   sched,
		policy:     policy,
		guardrails: guardrails,
		maxCalls:   int(orDefault(spec.Mutator.MaxCallsPerCycle, defaultMaxCallsPerCycle)),
	}, nil
}

// policyOf is the evolution policy of a spec: its values, and evolution.DefaultPolicy's where
// the spec leaves a field empty (the API server's defaults are the same values).
func policyOf(spec *promptsv1alpha1.EvolutionSpec) evolution.Policy {
	p := evolution.DefaultPolicy()
	r := spec.Retirement
	if r.Rule != "" {
		p.Retirement.Rule = evolution.RetirementRule(r.Rule)
	}
	p.Retirement.Threshold = orDefault(r.Threshold, p.Retirement.Threshold)
	p.Retirement.MinTrials = ptr.Deref(r.MinTrials, p.Retirement.MinTrials)
	p.MinActiveArms = int(orDefault(spec.MinActiveArms, int32(p.MinActiveArms)))
	p.MaxActiveArms = int(orDefault(spec.MaxActiveArms, int32(p.MaxActiveArms)))
	if spec.MutationsPerCycle != nil {
		p.MutationsPerCycle = int(*spec.MutationsPerCycle)
	}
	p.ChildPriorStrength = orDefault(spec.ChildPriorStrength, p.ChildPriorStrength)
	p.Payoff.PauseBelow = ptr.Deref(spec.Payoff.PauseBelow, p.Payoff.PauseBelow)
	p.Payoff.ProbeEvery = ptr.Deref(spec.Payoff.ProbeEvery, p.Payoff.ProbeEvery)
	if spec.Payoff.MinChildren != nil {
		p.Payoff.MinChildren = int(*spec.Payoff.MinChildren)
	}
	p.Newborn.RetireBelow = ptr.Deref(spec.Newborn.RetireBelow, p.Newborn.RetireBelow)
	p.Newborn.MinTrials = ptr.Deref(spec.Newborn.MinTrials, p.Newborn.MinTrials)
	p.Newborn.MinParentTrials = ptr.Deref(spec.Newborn.MinParentTrials, p.Newborn.MinParentTrials)
	return p
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
