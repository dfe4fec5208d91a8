// Package plottest writes a portfolio and its arms, with their counts, into an API server: the
// fixture of the tests of the plot package and of the plot command.
package plottest

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// Arm is one arm of the fixture and the counts its status reports.
type Arm struct {
	Name                string
	Successes, Failures int64
	Share               float64
	Phase               v1alpha1.ArmPhase
	Origin              v1alpha1.ArmOrigin
}

// Create creates the portfolio name in ns with the given seeds, and the arms with their counts
// in status (half their trials before the traffic window), and returns the portfolio as the API
// server stored it.
func Create(t testing.TB, c client.Client, ns, name string, seeds []v1alpha1.SeedPrompt, arms []Arm) *v1alpha1.PromptPortfolio {
	t.Helper()
	ctx := context.Background()
	pf := &v1alpha1.PromptPortfolio{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1alpha1.PromptPortfolioSpec{Prompts: seeds},
	}
	if err := c.Create(ctx, pf); err != nil {
		t.Fatal(err)
	}
	for _, a := range arms {
		arm := &v1alpha1.PromptArm{
			ObjectMeta: metav1.ObjectMeta{Name: a.Name, Namespace: ns, Labels: map[string]string{v1alpha1.LabelPortfolio: name}},
			Spec: v1alpha1.PromptArmSpec{Portfolio: name, Prompt: "Prompt of " + a.Name,
				Prior: v1alpha1.BetaPrior{Alpha: 1, Beta: 1}, Origin: a.Origin},
		}
		if err := c.Create(ctx, arm); err != nil {
			t.Fatalf("creating arm %s: %v", a.Name, err)
		}
		arm.Status = v1alpha1.PromptArmStatus{
			Phase:     a.Phase,
			Successes: a.Successes, Failures: a.Failures, Trials: a.Successes + a.Failures,
			TrafficShare: a.Share,
			Traffic:      &v1alpha1.ArmTraffic{WindowStartTrials: (a.Successes + a.Failures) / 2},
		}
		if err := c.Status().Update(ctx, arm); err != nil {
			t.Fatalf("writing the status of arm %s: %v", a.Name, err)
		}
	}
	return pf
}
