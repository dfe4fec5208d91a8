package plot

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

// TestRunPlot runs `promptfolio plot` with a kubeconfig file against a real API server.
func TestRunPlot(t *testing.T) {
	env := testenv.StartForTest(t, testenv.Options{})
	ctx := context.Background()
	ns := env.Namespace(t, "plot-cli")
	pf := &v1alpha1.PromptPortfolio{
		ObjectMeta: metav1.ObjectMeta{Name: "faq", Namespace: ns},
		Spec:       v1alpha1.PromptPortfolioSpec{Prompts: []v1alpha1.SeedPrompt{{Name: "short", Text: "Answer briefly."}}},
	}
	if err := env.Client.Create(ctx, pf); err != nil {
		t.Fatal(err)
	}
	arm := &v1alpha1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{Name: "faq-short", Namespace: ns, Labels: map[string]string{v1alpha1.LabelPortfolio: "faq"}},
		Spec:       v1alpha1.PromptArmSpec{Portfolio: "faq", Prompt: "Answer briefly."},
	}
	if err := env.Client.Create(ctx, arm); err != nil {
		t.Fatal(err)
	}
	arm.Status = v1alpha1.PromptArmStatus{Phase: v1alpha1.ArmActive, Successes: 40, Failures: 60, Trials: 100}
	if err := env.Client.Status().Update(ctx, arm); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{name: "writes the figures", args: []string{"--kubeconfig", env.Kubeconfig, "-n", ns, "--portfolio", "faq", "--out", out}},
		{name: "portfolio required", args: []string{"--kubeconfig", env.Kubeconfig, "-n", ns}, wantErr: true},
		{name: "missing portfolio", args: []string{"--kubeconfig", env.Kubeconfig, "-n", ns, "--portfolio", "nope", "--out", out}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(ctx, tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("run(%v) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
		})
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, want := range []string{"faq-posteriors.png", "faq-posteriors.svg", "faq-traffic.png", "faq-traffic.svg"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s not written to %s (found %v)", want, filepath.Base(out), names)
		}
	}
}
