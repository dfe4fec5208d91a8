package controllers

import (
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/watchhealth"
)

// TestFailureReason maps the errors of failed reconciles to condition reasons, through wrapping.
func TestFailureReason(t *testing.T) {
	secrets := schema.GroupResource{Resource: "secrets"}
	reports := schema.GroupResource{Group: promptsv1alpha1.GroupVersion.Group, Resource: "promptcounterreports"}
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
		{"counter reports' watch forbidden", &errWatchFailing{failure: watchhealth.Failure{Kind: "PromptCounterReport",
			Err: fmt.Errorf("failed to list PromptCounterReport: %w", apierrors.NewForbidden(reports, "", errors.New("no")))}}, promptsv1alpha1.ReasonCountersUnavailable, true},
		{"counter reports' watch refused", &errWatchFailing{failure: watchhealth.Failure{Kind: "PromptCounterReport",
			Err: errors.New("connection refused")}}, promptsv1alpha1.ReasonCountersUnavailable, false},
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

// TestSameFailure decides whether a failure is already reported, so that its event is not
// recorded again: by reason and message, and for a failing watch by its kind and start alone.
func TestSameFailure(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	watching := func(since time.Time, msg string) error {
		return &errWatchFailing{failure: watchhealth.Failure{Kind: "PromptCounterReport", Since: since, Err: errors.New(msg)}}
	}
	failed := func(reason, msg string) *metav1.Condition {
		return &metav1.Condition{Type: promptsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
	}
	unavailable := promptsv1alpha1.ReasonCountersUnavailable
	first := watching(t0, "failed to watch: forbidden")
	tests := []struct {
		name string
		old  *metav1.Condition
		err  error
		want bool
	}{
		{"nothing reported", nil, first, false},
		{"ready before", &metav1.Condition{Type: promptsv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: unavailable, Message: first.Error()}, first, false},
		{"the same watch failure", failed(unavailable, first.Error()), first, true},
		{"the same watch failure, another error", failed(unavailable, first.Error()), watching(t0, "failed to list: forbidden"), true},
		{"another watch failure", failed(unavailable, first.Error()), watching(t0.Add(time.Minute), "failed to watch: forbidden"), false},
		{"after another failure of the reason", failed(unavailable, "listing counter reports: timeout"), first, false},
		{"the same message", failed(unavailable, "listing counter reports: timeout"), &errCounters{err: errors.New("listing counter reports: timeout")}, true},
		{"another message", failed(unavailable, "listing counter reports: timeout"), &errCounters{err: errors.New("listing counter reports: refused")}, false},
		{"another reason", failed(promptsv1alpha1.ReasonReconcileFailed, "listing counter reports: timeout"), &errCounters{err: errors.New("listing counter reports: timeout")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, _ := failureReason(tt.err)
			if got := sameFailure(tt.old, reason, scrubMessage(tt.err.Error(), ""), tt.err); got != tt.want {
				t.Errorf("sameFailure = %v, want %v", got, tt.want)
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
