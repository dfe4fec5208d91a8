package webhook

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestChart installs the chart into a real API server: a server-side dry run of its rendering
// validates every object (the CRDs' CEL rules included), then helm install and helm upgrade
// must keep the generated webhook certificate and decision-token key. There is no kubelet, so
// nothing runs; the objects are what is tested.
func TestChart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	helm := helmBinary()
	if helm == "" {
		t.Skip("no helm binary: run `make helm` or set HELM")
	}
	values := []string{
		"--set", "selector.namespaces={shop}",
		"--set", "networkPolicy.enabled=true",
		"--set", "grafanaDashboard.enabled=true",
		"--set", "manager.podDisruptionBudget.enabled=true",
	}
	env, _ := startControlPlane(t, envtest.WebhookInstallOptions{})
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, bin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(dir, "helm-cache"),
			"HELM_CONFIG_HOME="+filepath.Join(dir, "helm-config"), "HELM_DATA_HOME="+filepath.Join(dir, "helm-data"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
		}
		return string(out)
	}
	kubectl := filepath.Join(env.BinaryAssetsDirectory, "kubectl")
	for _, ns := range []string{managerNamespace, "shop"} {
		run(t, kubectl, "create", "namespace", ns)
	}

	t.Run("server-side dry run", func(t *testing.T) {
		file := filepath.Join(dir, "chart.yaml")
		if err := os.WriteFile(file, renderChart(t, helm, values...), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("server dry run:\n%s", run(t, kubectl, "apply", "--dry-run=server", "-f", file))
	})

	chart := filepath.Join(testenv.RepoRoot(), "charts", "promptfolio")
	secretData := func(t *testing.T, ns, name string) string {
		return run(t, kubectl, "get", "secret", "-n", ns, name, "-o", "jsonpath={.data}")
	}
	var cert, key string
	t.Run("install", func(t *testing.T) {
		run(t, helm, append([]string{"install", "promptfolio", chart, "-n", managerNamespace}, values...)...)
		cert = secretData(t, managerNamespace, "promptfolio-webhook-tls")
		key = secretData(t, "shop", "promptfolio-selector-token")
		if !strings.Contains(cert, "ca.crt") || !strings.Contains(key, `"key"`) {
			t.Fatalf("webhook Secret %s, token Secret %s: want ca.crt and key", cert, key)
		}
		bundle := run(t, kubectl, "get", "mutatingwebhookconfiguration", "promptfolio-sidecar-injector",
			"-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")
		if bundle == "" || !strings.Contains(cert, bundle) {
			t.Errorf("caBundle is not the ca.crt of the webhook Secret")
		}
	})
	t.Run("upgrade keeps the certificate and the key", func(t *testing.T) {
		if cert == "" {
			t.Skip("install failed")
		}
		run(t, helm, append([]string{"upgrade", "promptfolio", chart, "-n", managerNamespace}, values...)...)
		if got := secretData(t, managerNamespace, "promptfolio-webhook-tls"); got != cert {
			t.Error("helm upgrade replaced the webhook certificate")
		}
		if got := secretData(t, "shop", "promptfolio-selector-token"); got != key {
			t.Error("helm upgrade replaced the decision-token key")
		}
	})
}
