package controllers

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/traffic"
)

// maxArmsPerTrafficWindow bounds the arms a window of status.trafficHistory lists.
const maxArmsPerTrafficWindow = 100

// reconcileTraffic sets every arm's trafficShare, its share of the trials of the portfolio's
// current and previous traffic windows (internal/traffic), closes the current window when it is
// due and records a closed window in status.trafficHistory. Arm trials must be current.
func (r *PortfolioReconciler) reconcileTraffic(s *portfolioState) {
	st := &s.pf.Status
	arms := make([]traffic.Arm, len(s.arms))
	for i, arm := range s.arms {
		arms[i] = traffic.Arm{Trials: arm.Status.Trials}
		if t := arm.Status.Traffic; t != nil {
			arms[i].WindowStart, arms[i].Previous = t.WindowStartTrials, t.PreviousWindowTrials
		}
	}
	var opened metav1.Time
	if st.TrafficWindowStart != nil {
		opened = *st.TrafficWindowStart
	}
	res := traffic.Update(traffic.Config{MinDuration: r.TrafficWindow}, s.now, opened.Time, arms)
	for i, arm := range s.arms {
		arm.Status.TrafficShare = round6(res.Shares[i])
		arm.Status.Traffic = &promptsv1alpha1.ArmTraffic{WindowStartTrials: res.Arms[i].WindowStart, PreviousWindowTrials: res.Arms[i].Previous}
	}
	st.TrafficWindowStart = &metav1.Time{Time: res.WindowOpened}
	if !res.Closed {
		return
	}
	window := promptsv1alpha1.TrafficWindow{Start: opened, End: metav1.NewTime(s.now)}
	for i, arm := range s.arms {
		if n := res.ClosedTrials[i]; n > 0 {
			window.Arms = append(window.Arms, promptsv1alpha1.ArmTrials{Arm: arm.Name, Trials: n})
		}
	}
	slices.SortFunc(window.Arms, func(a, b promptsv1alpha1.ArmTrials) int {
		return cmp.Or(cmp.Compare(b.Trials, a.Trials), cmp.Compare(a.Arm, b.Arm))
	})
	window.Arms = window.Arms[:min(len(window.Arms), maxArmsPerTrafficWindow)]
	st.TrafficHistory = append(st.TrafficHistory, window)
	if n := len(st.TrafficHistory); n > promptsv1alpha1.MaxTrafficHistory {
		st.TrafficHistory = slices.Clone(st.TrafficHistory[n-promptsv1alpha1.MaxTrafficHistory:])
	}
}
