package plot

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/plot/plottest"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

// TestRunPlot runs `promptfolio plot` with a kubeconfig file against a real API server.
func TestRunPlot(t *testing.T) {
	env := testenv.StartForTest(t, testenv.Options{})
	ctx := context.Background()
	ns := env.Namespace(t, "plot-cli")
	plottest.Create(t, env.Client, ns, "faq", []v1alpha1.SeedPrompt{{Name: "short", Text: "Answer briefly."}},
		[]plottest.Arm{{Name: "faq-short", Successes: 40, Failures: 60, Phase: v1alpha1.ArmActive}})

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
