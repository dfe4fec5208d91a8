package main

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are the import paths (and everything below them) the sidecar must not link: the
// controller manager and the controllers, the LLM client, the plots, and the decision code of the
// manager's side. Each of them would grow the sidecar's code and resident memory for nothing.
var forbidden = []string{
	"sigs.k8s.io/controller-runtime/pkg/manager",
	"sigs.k8s.io/controller-runtime/pkg/client",
	"sigs.k8s.io/controller-runtime/pkg/cache",
	"sigs.k8s.io/controller-runtime/pkg/webhook",
	"github.com/sashabaranov/go-openai",
	"gonum.org/v1/plot",
	"github.com/promptfolio/promptfolio/controllers",
	"github.com/promptfolio/promptfolio/internal/cli/manager",
	"github.com/promptfolio/promptfolio/internal/cli/plot",
	"github.com/promptfolio/promptfolio/internal/cli/simulate",
	"github.com/promptfolio/promptfolio/internal/cli/workload",
	"github.com/promptfolio/promptfolio/internal/evolution",
	"github.com/promptfolio/promptfolio/internal/mutation",
	"github.com/promptfolio/promptfolio/internal/plot",
	"github.com/promptfolio/promptfolio/internal/simulate",
	"github.com/promptfolio/promptfolio/internal/webhook",
}

// allowedControllerRuntime are the only controller-runtime packages the sidecar may link: the
// logger it shares with the manager.
var allowedControllerRuntime = map[string]bool{
	"sigs.k8s.io/controller-runtime/pkg/log":     true,
	"sigs.k8s.io/controller-runtime/pkg/log/zap": true,
}

// TestSelectorBuildDeps lists what the sidecar's binary links (`go list -deps`) and fails when it
// depends on a forbidden package, or on any part of controller-runtime beyond its logger. It also
// checks that the full binary does link those packages, so the check cannot pass by listing the
// wrong thing.
func TestSelectorBuildDeps(t *testing.T) {
	selector := goListDeps(t, ".")
	if !selector["github.com/promptfolio/promptfolio/internal/selector"] {
		t.Fatal("go list -deps of the sidecar does not include internal/selector; the check lists the wrong package")
	}
	for dep := range selector {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("the sidecar binary depends on %s (forbidden: %s); find the import with `go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/promptfolio-selector`", dep, f)
			}
		}
		if strings.HasPrefix(dep, "sigs.k8s.io/controller-runtime") && !allowedControllerRuntime[dep] {
			t.Errorf("the sidecar binary depends on %s; of controller-runtime it may link only its logger", dep)
		}
	}

	full := goListDeps(t, "../..")
	for _, want := range []string{"sigs.k8s.io/controller-runtime/pkg/manager", "github.com/sashabaranov/go-openai", "gonum.org/v1/plot", "github.com/promptfolio/promptfolio/controllers"} {
		if !full[want] {
			t.Errorf("the full binary does not depend on %s: the forbidden list no longer names what the manager links", want)
		}
	}
}

// goListDeps returns the import paths that the main package in dir depends on.
func goListDeps(t *testing.T, dir string) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps in %s: %v", dir, err)
	}
	deps := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		deps[line] = true
	}
	return deps
}
