// Package selectortest starts a control plane for the selector's tests and benchmarks.
package selectortest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/promptfolio/promptfolio/internal/testenv"
)

// ControlPlane is the part of a test control plane the selector's tests use.
type ControlPlane struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	// Kubeconfig is an admin kubeconfig file.
	Kubeconfig string
	// Stop stops the control plane.
	Stop func() error
}

// CreateNamespace creates a namespace with a generated name.
func (c *ControlPlane) CreateNamespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{}
	ns.GenerateName = prefix + "-"
	if err := c.Client.Create(ctx, ns); err != nil {
		return "", err
	}
	return ns.Name, nil
}

// Start starts testenv. When the generated CRDs do not install (a CEL rule that does not compile
// has broken them before), it starts envtest on a copy of the PromptArm CRD without CEL rules, so
// that the selector's tests still say something, and reports that through logf. The selector
// depends on the schema's structure, not on those rules.
func Start(logf func(format string, args ...any)) (*ControlPlane, error) {
	env, err := testenv.Start(testenv.Options{})
	if err == nil {
		return &ControlPlane{Config: env.Config, Client: env.Client, Scheme: env.Scheme, Kubeconfig: env.Kubeconfig, Stop: env.Stop}, nil
	}
	if !strings.Contains(err.Error(), "install CRDs") {
		return nil, err
	}
	logf("testenv could not install the CRDs (%v); using the PromptArm CRD without CEL rules", err)
	dir, err := os.MkdirTemp("", "selector-crds-")
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*_promptarms.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var crd map[string]any
		if err := yaml.Unmarshal(b, &crd); err != nil {
			return nil, err
		}
		stripValidations(crd)
		out, err := yaml.Marshal(crd)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), out, 0o600); err != nil {
			return nil, err
		}
	}
	scheme := testenv.NewScheme()
	e := &envtest.Environment{
		BinaryAssetsDirectory: testenv.AssetsDir(), CRDDirectoryPaths: []string{dir}, ErrorIfCRDPathMissing: true,
		Scheme: scheme, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute,
	}
	cfg, err := e.Start()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, e.KubeConfig, 0o600); err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	return &ControlPlane{Config: cfg, Client: c, Scheme: scheme, Kubeconfig: kubeconfig, Stop: func() error {
		defer os.RemoveAll(dir)
		return e.Stop()
	}}, nil
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
