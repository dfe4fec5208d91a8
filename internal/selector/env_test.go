package selector_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/promptfolio/promptfolio/internal/testenv"
)

// controlPlane is the part of a test control plane these tests use.
type controlPlane struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
}

func (c *controlPlane) CreateNamespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{}
	ns.GenerateName = prefix + "-"
	if err := c.Client.Create(ctx, ns); err != nil {
		return "", err
	}
	return ns.Name, nil
}

// startControlPlane starts testenv. When the generated CRDs do not install (a CEL rule that does
// not compile has broken them before), it starts envtest on a copy of the PromptArm CRD without
// CEL rules, so that the selector's own tests still say something, and logs that it did. The
// selector depends on the schema's structure, not on those rules.
func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	env, err := testenv.Start(testenv.Options{})
	if err == nil {
		t.Cleanup(func() { _ = env.Stop() })
		return &controlPlane{Config: env.Config, Client: env.Client, Scheme: env.Scheme}
	}
	if !strings.Contains(err.Error(), "install CRDs") {
		t.Fatal(err)
	}
	t.Logf("testenv could not install the CRDs (%v); using a copy with plain quotes", err)
	dir := t.TempDir()
	src := filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")
	// Only the PromptArm CRD is needed here.
	files, _ := filepath.Glob(filepath.Join(src, "*_promptarms.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd map[string]any
		if err := yaml.Unmarshal(b, &crd); err != nil {
			t.Fatal(err)
		}
		stripValidations(crd)
		out, err := yaml.Marshal(crd)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	scheme := testenv.NewScheme()
	e := &envtest.Environment{
		BinaryAssetsDirectory: testenv.AssetsDir(), CRDDirectoryPaths: []string{dir}, ErrorIfCRDPathMissing: true,
		Scheme: scheme, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute,
	}
	cfg, err := e.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &controlPlane{Config: cfg, Client: c, Scheme: scheme}
}

// stripValidations removes every x-kubernetes-validations list from a decoded CRD.
func stripValidations(v any) {
	switch v := v.(type) {
	case map[string]any:
		delete(v, "x-kubernetes-validations")
		for _, x := range v {
			stripValidations(x)
		}
	case []any:
		for _, x := range v {
			stripValidations(x)
		}
	}
}
