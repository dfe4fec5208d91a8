package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promptfolio/promptfolio/internal/testenv"
)

// TestKustomizeConfigAppliesToServer renders config/default with kubectl's kustomize and has the
// real API server validate every object with a server-side dry run. cert-manager's objects are
// left out: their CRDs are not installed here.
func TestKustomizeConfigAppliesToServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rendered, err := env.Kubectl(ctx, "kustomize", filepath.Join(testenv.RepoRoot(), "config", "default"))
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v\n%s", err, rendered)
	}
	var kept []string
	for doc := range strings.SplitSeq(rendered, "\n---\n") {
		if strings.Contains(doc, "apiVersion: cert-manager.io/") {
			continue
		}
		kept = append(kept, doc)
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(strings.Join(kept, "\n---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	// A dry run creates nothing, so the namespaced objects need their namespace for real.
	if out, err := env.Kubectl(ctx, "create", "namespace", "promptfolio-system"); err != nil && !strings.Contains(out, "AlreadyExists") {
		t.Fatalf("creating the namespace: %v\n%s", err, out)
	}
	out, err := env.Kubectl(ctx, "apply", "--server-side", "--dry-run=server", "--force-conflicts", "-f", file)
	if err != nil {
		t.Fatalf("server-side dry run of config/default: %v\n%s", err, out)
	}
	for _, want := range []string{"deployment.apps/controller-manager", "mutatingwebhookconfiguration.admissionregistration.k8s.io/sidecar-injector", "clusterrole.rbac.authorization.k8s.io/promptfolio-manager"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %s:\n%s", want, out)
		}
	}
}
