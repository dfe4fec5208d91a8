package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRecordArmsDeletesGoneArms(t *testing.T) {
	RecordArms("ns", "pf", []ArmSample{{Arm: "pf-a", Mean: 0.5, Alpha: 1, Beta: 1, ProbBest: 0.5}, {Arm: "pf-b", Mean: 0.25, Alpha: 1, Beta: 3, ProbBest: 0.5}})
	RecordArms("ns", "other", []ArmSample{{Arm: "other-a", Mean: 0.5, Alpha: 1, Beta: 1, ProbBest: 1}})
	if n := testutil.CollectAndCount(armMean); n != 3 {
		t.Fatalf("series = %d, want 3", n)
	}
	RecordArms("ns", "pf", []ArmSample{{Arm: "pf-a", Mean: 0.6, Alpha: 3, Beta: 2, ProbBest: 1}})
	if n := testutil.CollectAndCount(armProbBest); n != 2 {
		t.Fatalf("series after pf-b went away = %d, want 2", n)
	}
	if v := testutil.ToFloat64(armAlpha.WithLabelValues("ns", "pf", "pf-a")); v != 3 {
		t.Errorf("alpha = %v, want 3", v)
	}
	ForgetPortfolio("ns", "pf")
	ForgetPortfolio("ns", "other")
	if n := testutil.CollectAndCount(armBeta); n != 0 {
		t.Fatalf("series after forgetting = %d, want 0", n)
	}
}

func TestInstrumentTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	before := testutil.ToFloat64(llmCalls.WithLabelValues("429"))
	c := &http.Client{Transport: InstrumentTransport(nil)}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := testutil.ToFloat64(llmCalls.WithLabelValues("429")) - before; got != 1 {
		t.Errorf("429 calls counted = %v, want 1", got)
	}
	if err := testutil.CollectAndCompare(statusWrites, strings.NewReader("")); err != nil {
		t.Errorf("no status write expected: %v", err)
	}
	StatusWrite("PromptArm")
	if StatusWrites("PromptArm") != 1 {
		t.Errorf("StatusWrites = %v, want 1", StatusWrites("PromptArm"))
	}
}
