package controllers_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/metrics"
)

// TestCounterWatchFailureReachesStatus runs the manager as a real user of the API server (a
// client certificate it authenticates) bound to the chart's manager role. When the role loses
// its rule for PromptCounterReports, the cache keeps the reports it had and its list and watch
// fail: within the watch timeout plus the bound the portfolio turns Ready=False
// (CountersUnavailable) and Stalled, which kstatus reports as Failed, with a message naming the
// kind and the API server's refusal, one event for the failure, and the totals left alone. When
// the rule is back, the portfolio turns Ready again with the rewards reported meanwhile counted.
// The user's private key appears nowhere.
func TestCounterWatchFailureReachesStatus(t *testing.T) {
	ns := newNamespace(t)
	user := "promptfolio-watch-" + ns
	role := clusterRoleFile(t, filepath.Join("charts", "promptfolio", "files", "manager-role.yaml"), user)
	full := slices.Clone(role.Rules)
	grantClusterRole(t, role, user)
	cfg, err := env.AddUser(user)
	if err != nil {
		t.Fatal(err)
	}
	const bound, watchTimeout = 3 * time.Second, 5 * time.Second
	failuresBefore := metrics.WatchFailures("PromptCounterReport")
	m := startManagerWithConfig(t, ns, cfg, controllers.Options{
		WatchHealth: controllers.NewWatchHealth(env.Scheme, controllers.WatchHealthOptions{FailureBound: bound, WatchTimeout: watchTimeout}),
	})

	createPortfolio(t, ns, "watched", seeds("a", "Answer briefly.", "b", "Answer with an example."), nil)
	waitActiveArms(t, ns, "watched", 2)
	flush(t, ns, "watched-a", "w-1", 4, 2)
	waitTotalsOf(t, ns, "watched", "watched-a", 4, 2)
	waitReady(t, ns, "watched", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)

	// The rule for counter reports goes.
	setRules(t, role.Name, slices.DeleteFunc(slices.Clone(full), func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.Resources, "promptcounterreports")
	}))
	revoked := time.Now()
	// The watch running when the rule goes ends within watchTimeout; the next one is refused.
	pf := waitReady(t, ns, "watched", metav1.ConditionFalse, promptsv1alpha1.ReasonCountersUnavailable, watchTimeout+bound+30*time.Second)
	took := time.Since(revoked)
	t.Logf("Ready=False %s after the rule went (watch timeout %s, bound %s)", took.Round(100*time.Millisecond), watchTimeout, bound)
	if limit := watchTimeout + bound + 10*time.Second; took > limit {
		t.Errorf("Ready=False came %s after the rule went, want within %s", took, limit)
	}
	assertStalled(t, pf, promptsv1alpha1.ReasonCountersUnavailable, "the watch of PromptCounterReport has failed since")
	if msg := condition(pf, promptsv1alpha1.ConditionReady).Message; !strings.Contains(msg, "forbidden") || !strings.Contains(msg, user) {
		t.Errorf("Ready message %q does not carry the API server's refusal", msg)
	}
	if metrics.WatchFailures("PromptCounterReport") == failuresBefore {
		t.Error("the failed lists and watches are not counted in promptfolio_cache_watch_failures_total")
	}

	// Meanwhile the controller cannot see reports, and leaves the totals as they were.
	flush(t, ns, "watched-a", "w-1", 9, 3)
	for range 5 {
		time.Sleep(time.Second)
		if st := armsOf(t, ns, "watched")["watched-a"].Status; st.Successes != 4 || st.Failures != 2 {
			t.Fatalf("totals %d/%d written while the reports' watch fails, want 4/2 left alone", st.Successes, st.Failures)
		}
	}
	// The failure has its event, and retries do not repeat its log line.
	eventually(t, 30*time.Second, func() (bool, string) {
		ev := eventsOf(t, ns, "watched")[promptsv1alpha1.EventReconcileFailed]
		return hasAny(ev, "the watch of PromptCounterReport has failed"), fmt.Sprintf("%s events %q", promptsv1alpha1.EventReconcileFailed, ev)
	})
	if n := strings.Count(m.logs.String(), `"the portfolio is not ready"`); n != 1 {
		t.Errorf("the failure was reported %d times, want once", n)
	}

	// The rule comes back: the reports are listed again and the totals move.
	setRules(t, role.Name, full)
	restored := time.Now()
	waitReady(t, ns, "watched", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 90*time.Second)
	t.Logf("Ready=True %s after the rule came back", time.Since(restored).Round(100*time.Millisecond))
	waitTotalsOf(t, ns, "watched", "watched-a", 9, 3)
	if c := condition(getPortfolio(t, ns, "watched"), promptsv1alpha1.ConditionStalled); c != nil {
		t.Errorf("Stalled = %+v after recovery", c)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		ev := eventsOf(t, ns, "watched")[promptsv1alpha1.EventCountersAvailable]
		return len(ev) > 0, fmt.Sprintf("%s events %q", promptsv1alpha1.EventCountersAvailable, ev)
	})
	m.stop(t)
	assertNoSecret(t, ns, "watched", keyLine(t, cfg.KeyData), m.logs.String()+globalLogs.String())
}

// setRules replaces the rules of a ClusterRole.
func setRules(t *testing.T, name string, rules []rbacv1.PolicyRule) {
	t.Helper()
	role := get(t, "", name, &rbacv1.ClusterRole{})
	role.Rules = rules
	if err := env.Client.Update(context.Background(), role); err != nil {
		t.Fatal(err)
	}
}

// keyLine returns a line from the middle of a PEM private key: text that only the key holds.
func keyLine(t *testing.T, pem []byte) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(pem)), "\n")
	if len(lines) < 3 {
		t.Fatalf("the user's key is not PEM: %d lines", len(lines))
	}
	return lines[len(lines)/2]
}
