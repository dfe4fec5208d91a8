package controllers

import (
	"errors"
	"fmt"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/evolution"
	"github.com/promptfolio/promptfolio/internal/mutation"
	"github.com/promptfolio/promptfolio/internal/schedule"
)

// Defaults of spec.evolution that the API server fills in through the CRD's defaults. They are
// repeated here for objects that reach the controller without them (a client that skipped
// defaulting, or a test building objects in memory).
const (
	defaultSchedule            = "24h"
	defaultMutationsPerCycle   = 2
	defaultMaxCallsPerCycle    = 10
	defaultMaxLength           = 4096
	defaultMinNovelty          = 0.15
	defaultOpenAIModel         = "gpt-4o-mini"
	defaultSecretKey           = "api-key"
	defaultCredibleLevel       = 0.95
	defaultRetirementThreshold = 0.05
)

// evolutionConfig is spec.evolution parsed and checked: what a cycle needs, in the types of the
// internal packages.
type evolutionConfig struct {
	schedule   schedule.Schedule
	policy     evolution.Policy
	guardrails mutation.Guardrails
	// maxCalls bounds the mutator calls of one cycle, retries included.
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
	policy := evolution.Policy{
		Retirement: evolution.RetirementPolicy{
			Rule:      evolution.RuleProbBetterThanBest,
			Threshold: orDefault(spec.RetirementThreshold, defaultRetirementThreshold),
			MinTrials: spec.MinTrials,
		},
		MinActiveArms:      int(orDefault(spec.MinActiveArms, 2)),
		MaxActiveArms:      int(orDefault(spec.MaxActiveArms, 8)),
		MutationsPerCycle:  defaultMutationsPerCycle,
		ChildPriorStrength: orDefault(spec.ChildPriorStrength, 10),
	}
	if spec.MutationsPerCycle != nil {
		policy.MutationsPerCycle = int(*spec.MutationsPerCycle)
	}
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

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
