package selector

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// testKey is a fixed 32-byte signing key for tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// testClock is a settable clock.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// newTestAPI returns an API over a registry holding portfolio "pf" with the given arms (name →
// phase), signed with testKey, and its clock.
func newTestAPI(tb testing.TB, arms map[string]v1alpha1.ArmPhase) (*api, *testClock) {
	tb.Helper()
	clock := &testClock{t: time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)}
	ring := NewKeyring(time.Hour)
	if err := ring.Set(testKey, nil, clock.t); err != nil {
		tb.Fatal(err)
	}
	var m *metrics
	reg := newRegistry("writer-1", func(name string) *portfolioState {
		p := &portfolioState{
			name: name, keys: ring,
			draws:     m.draws.WithLabelValues(name),
			successes: m.rewards.WithLabelValues(name, "success"),
			fails:     m.rewards.WithLabelValues(name, "failure"),
		}
		empty := []*armState{}
		p.active.Store(&empty)
		all := map[string]*armState{}
		p.all.Store(&all)
		return p
	})
	m = newMetrics(func() float64 { return 0 }, func() float64 { return 0 })
	for name, phase := range arms {
		reg.observe(testArm(name, phase, 0, 0))
	}
	for _, p := range *reg.portfolios.Load() {
		p.report.ready.Store(true)
	}
	a := newAPI(reg, m, 10*time.Minute, 8192, 1<<40, time.Second, func() bool { return true })
	a.now = clock.now
	return a, clock
}

func testArm(name string, phase v1alpha1.ArmPhase, successes, failures int64) *v1alpha1.PromptArm {
	return &v1alpha1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{PortfolioLabel: "pf"}},
		Spec:       v1alpha1.PromptArmSpec{Portfolio: "pf", Prompt: "Say \"hi\" to " + name, Prior: v1alpha1.BetaPrior{Alpha: 1, Beta: 1}},
		Status:     v1alpha1.PromptArmStatus{Phase: phase, Successes: successes, Failures: failures},
	}
}

// do sends one request to h and returns the recorder.
func do(h http.Handler, method, target string, body []byte) *httptest.ResponseRecorder {
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, target, bytes.NewReader(body))
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
