package selector_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/selector"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

// startControlPlane starts etcd and kube-apiserver with the CRDs of config/crd/bases for one test
// and stops them at the end. A CRD that does not install fails the test.
func startControlPlane(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.StartForTest(t, testenv.Options{})
}

// startWithArms starts a control plane for one test, creates a namespace named from prefix and in
// it armCount PromptArms pf-arm0, pf-arm1, … of portfolio "pf", the prompt of arm i being
// fmt.Sprintf(promptFormat, i). It returns the control plane, the namespace and the arms' names.
func startWithArms(ctx context.Context, t *testing.T, prefix string, armCount int, promptFormat string) (*testenv.Env, string, []string) {
	t.Helper()
	env := startControlPlane(t)
	ns, err := env.CreateNamespace(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	arms := make([]string, armCount)
	for i := range arms {
		arms[i] = fmt.Sprintf("pf-arm%d", i)
		arm := &v1alpha1.PromptArm{
			ObjectMeta: metav1.ObjectMeta{Name: arms[i], Namespace: ns, Labels: map[string]string{selector.PortfolioLabel: "pf"}},
			Spec:       v1alpha1.PromptArmSpec{Portfolio: "pf", Prompt: fmt.Sprintf(promptFormat, i)},
		}
		if err := env.Client.Create(ctx, arm); err != nil {
			t.Fatal(err)
		}
	}
	return env, ns, arms
}

// testLogger returns a logger for the selectors a test runs (in zap's development mode with
// devMode) and makes it controller-runtime's: errors only, or everything when SELECTOR_LOG is set.
func testLogger(devMode bool) logr.Logger {
	level := zapcore.Level(5) // errors only
	if os.Getenv("SELECTOR_LOG") != "" {
		level = -1
	}
	logger := zap.New(zap.UseDevMode(devMode), zap.Level(level))
	log.SetLogger(logger)
	return logger
}
