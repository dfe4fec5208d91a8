package webhook

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/promptfolio/promptfolio/internal/testenv"
)

// helmBinary returns $HELM, else the newest bin/helm-* of the repository, else "".
func helmBinary() string {
	if helm := os.Getenv("HELM"); helm != "" {
		return helm
	}
	matches, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "bin", "helm-*"))
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

// renderChart runs helm template on charts/promptfolio with the release "promptfolio" in
// managerNamespace and the given extra arguments.
func renderChart(t *testing.T, helm string, args ...string) []byte {
	t.Helper()
	chart := filepath.Join(testenv.RepoRoot(), "charts", "promptfolio")
	cmd := exec.Command(helm, append([]string{"template", "promptfolio", chart, "--namespace", managerNamespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v: %s", args, err, stderr.String())
	}
	return out
}

// TestChartAppliesServerSide renders the chart with the options that need no third-party CRDs
// and applies it with a server-side dry run, so that the API server validates every object, the
// CRDs' CEL rules included. Namespaced objects are validated against the CRDs already
// installed, so the dry run creates nothing.
func TestChartAppliesServerSide(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	helm := helmBinary()
	if helm == "" {
		t.Skip("no helm binary: run `make helm` or set HELM")
	}
	rendered := renderChart(t, helm,
		"--set", "selector.namespaces={shop}",
		"--set", "networkPolicy.enabled=true",
		"--set", "grafanaDashboard.enabled=true")
	env, _ := startControlPlane(t, envtest.WebhookInstallOptions{})
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(env.BinaryAssetsDirectory, "kubectl"), append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, ns := range []string{managerNamespace, "shop"} {
		if out, err := kubectl("create", "namespace", ns); err != nil {
			t.Fatalf("creating namespace %s: %v: %s", ns, err, out)
		}
	}
	file := filepath.Join(dir, "chart.yaml")
	if err := os.WriteFile(file, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl("apply", "--dry-run=server", "-f", file)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, out)
	}
	t.Logf("server dry run:\n%s", out)
}
