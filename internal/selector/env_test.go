package selector_test

import (
	"testing"

	"github.com/promptfolio/promptfolio/internal/testenv"
)

// startControlPlane starts etcd and kube-apiserver with the CRDs of config/crd/bases for one test
// and stops them at the end. A CRD that does not install fails the test.
func startControlPlane(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.StartForTest(t, testenv.Options{})
}
