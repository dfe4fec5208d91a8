package controllers

import (
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
)

func TestSeedArmName(t *testing.T) {
	held := map[string]string{"pf-a": "old text"}
	taken := func(name string) (string, bool) { text, ok := held[name]; return text, ok }
	tests := []struct {
		name, seed, text, want string
	}{
		{name: "free plain name", seed: "b", text: "anything", want: "pf-b"},
		{name: "plain name holds this text", seed: "a", text: "old text", want: "pf-a"},
		{name: "plain name holds another text", seed: "a", text: "new text", want: hashedSeedArmName("pf", "a", "new text")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seedArmName("pf", tt.seed, tt.text, taken); got != tt.want {
				t.Errorf("seedArmName = %q, want %q", got, tt.want)
			}
		})
	}
	long := seedArmName(strings.Repeat("p", 40), strings.Repeat("s", 22), "x", func(string) (string, bool) { return "y", true })
	if len(long) > 63 {
		t.Errorf("longest seed arm name has %d characters", len(long))
	}
}

func TestSeedOf(t *testing.T) {
	pf := &promptsv1alpha1.PromptPortfolio{ObjectMeta: metav1.ObjectMeta{Name: "pf"}}
	pf.Spec.Prompts = []promptsv1alpha1.SeedPrompt{{Name: "a", Text: "t1"}, {Name: "a-b", Text: "t2"}}
	arm := func(name, text string, origin promptsv1alpha1.ArmOriginType) *promptsv1alpha1.PromptArm {
		return &promptsv1alpha1.PromptArm{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: promptsv1alpha1.PromptArmSpec{Prompt: text, Origin: promptsv1alpha1.ArmOrigin{Type: origin}}}
	}
	tests := []struct {
		name string
		arm  *promptsv1alpha1.PromptArm
		want string
	}{
		{name: "plain", arm: arm("pf-a", "t0", promptsv1alpha1.OriginSeed), want: "a"},
		{name: "hashed", arm: arm(hashedSeedArmName("pf", "a", "t9"), "t9", promptsv1alpha1.OriginSeed), want: "a"},
		{name: "prefix of another seed is not confused", arm: arm("pf-a-b", "t2", promptsv1alpha1.OriginSeed), want: "a-b"},
		{name: "hash of another text", arm: arm(hashedSeedArmName("pf", "a", "t9"), "t8", promptsv1alpha1.OriginSeed), want: ""},
		{name: "removed seed", arm: arm("pf-c", "t3", promptsv1alpha1.OriginSeed), want: ""},
		{name: "manual arm", arm: arm("pf-a", "t1", promptsv1alpha1.OriginManual), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seedOf(pf, tt.arm); got != tt.want {
				t.Errorf("seedOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestComputeStatistics(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	arm := func(name string, s, f int64, phase promptsv1alpha1.ArmPhase, age int) *promptsv1alpha1.PromptArm {
		a := &promptsv1alpha1.PromptArm{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1, CreationTimestamp: metav1.NewTime(created.Add(time.Duration(age) * time.Minute))}}
		a.Spec.Prior = promptsv1alpha1.BetaPrior{Alpha: 1, Beta: 1}
		a.Status.Phase = phase
		a.Status.Successes, a.Status.Failures = s, f
		return a
	}
	arms := []*promptsv1alpha1.PromptArm{
		arm("a", 30, 70, promptsv1alpha1.ArmActive, 0),
		arm("b", 60, 40, "", 1),
		arm("c", 90, 10, promptsv1alpha1.ArmRetired, 2),
	}
	sum := computeStatistics(arms)
	if sum.active != 2 || sum.retired != 1 || sum.totalTrials != 300 || sum.best != "b" {
		t.Fatalf("summary = %+v", sum)
	}
	b := arms[1].Status
	if b.Phase != promptsv1alpha1.ArmActive || b.Successes != 60 || b.Trials != 100 || b.Alpha != 61 || b.Beta != 41 {
		t.Errorf("arm b status = %+v", b)
	}
	if b.Mean != round6(61.0/102) || b.ObservedGeneration != 1 {
		t.Errorf("arm b derived = %+v", b)
	}
	if arms[2].Status.ProbBest != 0 {
		t.Errorf("a retired arm has P(best) %v", arms[2].Status.ProbBest)
	}
	if got := arms[0].Status.ProbBest + b.ProbBest; math.Abs(got-1) > 2e-6 || b.ProbBest < 0.99 {
		t.Errorf("P(best) a=%v b=%v", arms[0].Status.ProbBest, b.ProbBest)
	}
	for _, a := range arms {
		for _, v := range []float64{a.Status.Alpha, a.Status.Beta, a.Status.Mean, a.Status.ProbBest, a.Status.CredibleInterval.Lower, a.Status.CredibleInterval.Upper, a.Status.TrafficShare} {
			if v != round6(v) {
				t.Errorf("%s: %v is not rounded to 6 decimals", a.Name, v)
			}
		}
	}
	// Unchanged input gives an unchanged controller view: nothing would be written again.
	before := controllerArmStatus(&arms[0].Status)
	computeStatistics(arms)
	if after := controllerArmStatus(&arms[0].Status); *before.CredibleInterval != *after.CredibleInterval || before.Mean != after.Mean {
		t.Errorf("recomputation changed the status: %+v -> %+v", before, after)
	}
}

// TestStatisticsRoundAlphaBeta checks that a fractional prior plus counts is written without
// float noise, while the derived numbers come from the unrounded posterior.
func TestStatisticsRoundAlphaBeta(t *testing.T) {
	a := &promptsv1alpha1.PromptArm{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	// A prior computed for a child, a few ulps above 0.132213.
	a.Spec.Prior = promptsv1alpha1.BetaPrior{Alpha: 0.13221300000000014, Beta: 0.7}
	a.Status.Successes, a.Status.Failures = 99, 2
	if noisy := a.Spec.Prior.Alpha + 99; noisy == 99.132213 {
		t.Fatalf("the example lost its float noise: %v", noisy)
	}
	computeStatistics([]*promptsv1alpha1.PromptArm{a})
	st := a.Status
	if st.Alpha != 99.132213 || st.Beta != 2.7 {
		t.Errorf("alpha %v beta %v, want 99.132213 and 2.7", st.Alpha, st.Beta)
	}
	p := armPosterior(a)
	if st.Mean != round6(p.Mean()) || p.Alpha != a.Spec.Prior.Alpha+99 {
		t.Errorf("mean %v from posterior %+v", st.Mean, p)
	}
}

func TestParseEvolution(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*promptsv1alpha1.EvolutionSpec)
		wantErr string
	}{
		{name: "defaults", edit: func(*promptsv1alpha1.EvolutionSpec) {}},
		{name: "cron", edit: func(s *promptsv1alpha1.EvolutionSpec) { s.Schedule = "0 3 * * *" }},
		{name: "bad cron", edit: func(s *promptsv1alpha1.EvolutionSpec) { s.Schedule = "61 * * * *" }, wantErr: "spec.evolution.schedule"},
		{name: "pattern not RE2", edit: func(s *promptsv1alpha1.EvolutionSpec) { s.Guardrails.ForbiddenPatterns = []string{"ok", "(?<=x)"} }, wantErr: "forbiddenPatterns"},
		{name: "min above max", edit: func(s *promptsv1alpha1.EvolutionSpec) { s.MinActiveArms, s.MaxActiveArms = 5, 3 }, wantErr: "spec.evolution"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := promptsv1alpha1.EvolutionSpec{}
			tt.edit(&spec)
			cfg, err := parseEvolution(&spec)
			if tt.wantErr == "" {
				if err != nil || cfg.maxCalls != defaultMaxCallsPerCycle || !cfg.guardrails.PreservePlaceholders || cfg.policy.MutationsPerCycle != 2 {
					t.Fatalf("parseEvolution = %+v, %v", cfg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestScrubMessage(t *testing.T) {
	const key = "sk-test-0123456789abcdef"
	tests := []struct{ in, want string }{
		{in: "401: invalid key " + key + "\n  try again", want: "401: invalid key [redacted] try again"},
		{in: "no key here", want: "no key here"},
		{in: strings.Repeat("é", 400), want: strings.Repeat("é", 254) + "…"},
	}
	for _, tt := range tests {
		got := scrubMessage(tt.in, key)
		if got != tt.want || strings.Contains(got, key) || len(got) > maxMessageLength {
			t.Errorf("scrubMessage(%.20q…) = %.40q…, want %.40q…", tt.in, got, tt.want)
		}
	}
}
