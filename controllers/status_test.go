package controllers

import (
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
)

// TestFailureReason maps the errors of failed reconciles to condition reasons, through wrapping.
func TestFailureReason(t *testing.T) {
	secrets := schema.GroupResource{Resource: "secrets"}
	tests := []struct {
		name        string
		err         error
		wantReason  string
		wantStalled bool
	}{
		{"arm name taken", fmt.Errorf("creating seeds: %w", &errArmNameTaken{name: "pf-a", portfolio: "other"}), promptsv1alpha1.ReasonArmNameTaken, true},
		{"secret forbidden", &errSecretRead{msg: "reading secret ns/key", err: apierrors.NewForbidden(secrets, "key", errors.New("no"))}, promptsv1alpha1.ReasonSecretUnreadable, true},
		{"secret unauthorized", &errSecretRead{msg: "reading secret ns/key", err: apierrors.NewUnauthorized("expired")}, promptsv1alpha1.ReasonSecretUnreadable, true},
		{"secret timeout", fmt.Errorf("cycle: %w", &errSecretRead{msg: "reading secret ns/key", err: apierrors.NewTimeoutError("slow", 1)}), promptsv1alpha1.ReasonSecretUnreadable, false},
		{"counter reports unread", fmt.Errorf("reconcile: %w", &errCounters{err: errors.New("listing counter reports: timeout")}), promptsv1alpha1.ReasonCountersUnavailable, false},
		{"api server error", fmt.Errorf("listing arms: %w", apierrors.NewInternalError(errors.New("etcd"))), promptsv1alpha1.ReasonReconcileFailed, false},
		{"forbidden elsewhere", apierrors.NewForbidden(schema.GroupResource{Resource: "promptarms"}, "a", errors.New("no")), promptsv1alpha1.ReasonReconcileFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, stalled := failureReason(tt.err)
			if reason != tt.wantReason || stalled != tt.wantStalled {
				t.Errorf("failureReason(%v) = %s, %v; want %s, %v", tt.err, reason, stalled, tt.wantReason, tt.wantStalled)
			}
		})
	}
}

// TestReconcileTraffic follows one portfolio's traffic windows: the first pass opens a window
// holding every trial so far; a window closes after the duration with enough trials, lands in
// status.trafficHistory (arms with trials, most first) and the share then covers the closed and
// the new window; the history keeps the last MaxTrafficHistory windows.
func TestReconcileTraffic(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r := &PortfolioReconciler{TrafficWindow: 15 * time.Minute}
	pf := &promptsv1alpha1.PromptPortfolio{}
	arms := []*promptsv1alpha1.PromptArm{{}, {}, {}}
	for i, name := range []string{"a", "b", "c"} {
		arms[i].Name = name
	}
	pass := func(at time.Time, trials ...int64) {
		t.Helper()
		for i, n := range trials {
			arms[i].Status.Trials = n
		}
		r.reconcileTraffic(&portfolioState{pf: pf, arms: arms, now: at})
	}
	shares := func() []float64 {
		return []float64{arms[0].Status.TrafficShare, arms[1].Status.TrafficShare, arms[2].Status.TrafficShare}
	}

	pass(t0, 300, 100, 0)
	if got := shares(); got[0] != 0.75 || got[1] != 0.25 || got[2] != 0 || !pf.Status.TrafficWindowStart.Time.Equal(t0) {
		t.Fatalf("first pass: shares %v, window start %v", got, pf.Status.TrafficWindowStart)
	}
	// Not due yet: 10 minutes.
	pass(t0.Add(10*time.Minute), 400, 100, 0)
	if len(pf.Status.TrafficHistory) != 0 || shares()[0] != 0.8 {
		t.Fatalf("window closed early: %+v, shares %v", pf.Status.TrafficHistory, shares())
	}
	// Due: the window holds 400+100 trials and is 16 minutes old.
	t1 := t0.Add(16 * time.Minute)
	pass(t1, 400, 100, 0)
	if h := pf.Status.TrafficHistory; len(h) != 1 || !h[0].Start.Time.Equal(t0) || !h[0].End.Time.Equal(t1) ||
		len(h[0].Arms) != 2 || h[0].Arms[0] != (promptsv1alpha1.ArmTrials{Arm: "a", Trials: 400}) || h[0].Arms[1].Arm != "b" {
		t.Fatalf("history %+v", h)
	}
	if a := arms[0].Status.Traffic; a == nil || a.WindowStartTrials != 400 || a.PreviousWindowTrials != 400 {
		t.Fatalf("arm a traffic %+v", a)
	}
	// Recent traffic goes to c: the share counts the closed window and the new one only.
	pass(t1.Add(time.Minute), 400, 100, 500)
	if got := shares(); got[0] != 0.4 || got[1] != 0.1 || got[2] != 0.5 {
		t.Fatalf("shares after the window closed: %v", got)
	}
	for i := range 30 {
		at := t1.Add(time.Duration(i+2) * 16 * time.Minute)
		pass(at, 400, 100, 600+int64(i)*100)
	}
	if h := pf.Status.TrafficHistory; len(h) != promptsv1alpha1.MaxTrafficHistory || h[len(h)-1].Arms[0].Arm != "c" {
		t.Errorf("history has %d windows, last %+v", len(h), h[len(h)-1])
	}
	if got := shares(); got[2] != 1 {
		t.Errorf("only c had recent traffic, shares %v", got)
	}
}
