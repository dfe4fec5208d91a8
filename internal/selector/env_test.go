package selector_test

import (
	"testing"

	"github.com/promptfolio/promptfolio/internal/selector/selectortest"
)

// startControlPlane starts a control plane for one test and stops it at the end.
func startControlPlane(t *testing.T) *selectortest.ControlPlane {
	t.Helper()
	cp, err := selectortest.Start(t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	return cp
}
