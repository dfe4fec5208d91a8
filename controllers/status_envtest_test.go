package controllers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

// waitReady waits until the portfolio's Ready condition of its current generation has the given
// status and reason, and returns the portfolio.
func waitReady(t *testing.T, ns, name string, want metav1.ConditionStatus, reason string, timeout time.Duration) *promptsv1alpha1.PromptPortfolio {
	t.Helper()
	var pf *promptsv1alpha1.PromptPortfolio
	eventually(t, timeout, func() (bool, string) {
		pf = getPortfolio(t, ns, name)
		c := condition(pf, promptsv1alpha1.ConditionReady)
		return c != nil && c.Status == want && c.Reason == reason && c.ObservedGeneration == pf.Generation &&
			pf.Status.ObservedGeneration == pf.Generation, fmt.Sprintf("conditions %+v", pf.Status.Conditions)
	})
	return pf
}

// assertStalled checks a portfolio that waits for a person: Ready=False and Stalled=True with the
// reason and a message naming the cause, no Reconciling, and kstatus Failed with that message.
func assertStalled(t *testing.T, pf *promptsv1alpha1.PromptPortfolio, reason, inMessage string) {
	t.Helper()
	ready, stalled := condition(pf, promptsv1alpha1.ConditionReady), condition(pf, promptsv1alpha1.ConditionStalled)
	if ready.Status != metav1.ConditionFalse || ready.Reason != reason || !strings.Contains(ready.Message, inMessage) {
		t.Errorf("Ready = %+v, want False/%s mentioning %q", ready, reason, inMessage)
	}
	if stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != reason || stalled.ObservedGeneration != pf.Generation {
		t.Errorf("Stalled = %+v, want True/%s at generation %d", stalled, reason, pf.Generation)
	}
	if c := condition(pf, promptsv1alpha1.ConditionReconciling); c != nil {
		t.Errorf("Reconciling = %+v next to Stalled", c)
	}
	raw, res := kstatusResult(t, pf)
	if raw != status.FailedStatus || !strings.Contains(res, inMessage) {
		t.Errorf("kstatus = %s %q, want Failed mentioning %q", raw, res, inMessage)
	}
}

// kstatusResult is the kstatus and its message.
func kstatusResult(t *testing.T, pf *promptsv1alpha1.PromptPortfolio) (status.Status, string) {
	t.Helper()
	st := kstatusOf(t, pf)
	msg := ""
	for _, c := range pf.Status.Conditions {
		if c.Type == promptsv1alpha1.ConditionStalled || c.Type == promptsv1alpha1.ConditionReconciling {
			msg = c.Message
		}
	}
	return st, msg
}

// assertRecovered checks a portfolio that is Ready again: no Stalled, no Reconciling, kstatus
// Current.
func assertRecovered(t *testing.T, pf *promptsv1alpha1.PromptPortfolio) {
	t.Helper()
	for _, typ := range []string{promptsv1alpha1.ConditionStalled, promptsv1alpha1.ConditionReconciling} {
		if c := condition(pf, typ); c != nil {
			t.Errorf("%s = %+v after recovery", typ, c)
		}
	}
	if s := kstatusOf(t, pf); s != status.CurrentStatus {
		t.Errorf("kstatus after recovery = %s, want Current", s)
	}
}

// TestArmNameTakenReachesStatus: a seed's arm name is held by another portfolio's arm. The failed
// reconcile turns a Ready portfolio Ready=False/Stalled (kstatus Failed) with one event while it
// retries; removing the other arm makes it Ready again.
func TestArmNameTakenReachesStatus(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	m := startManager(t, ns, controllers.Options{})
	createPortfolio(t, ns, "shop", seeds("a", "Answer {{question}} briefly."), nil)
	waitReady(t, ns, "shop", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)

	// Another portfolio's arm takes the name the next seed needs.
	foreign := &promptsv1alpha1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-b", Namespace: ns, Labels: map[string]string{promptsv1alpha1.LabelPortfolio: "other"}},
		Spec:       promptsv1alpha1.PromptArmSpec{Portfolio: "other", Prompt: "Something else entirely."},
	}
	if err := env.Client.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	updatePortfolio(t, ns, "shop", func(pf *promptsv1alpha1.PromptPortfolio) {
		pf.Spec.Prompts = append(pf.Spec.Prompts, seeds("b", "Answer {{question}} in detail.")...)
	})
	pf := waitReady(t, ns, "shop", metav1.ConditionFalse, promptsv1alpha1.ReasonArmNameTaken, 30*time.Second)
	assertStalled(t, pf, promptsv1alpha1.ReasonArmNameTaken, "shop-b")

	// The retries (with backoff) neither flip the condition nor repeat the event.
	time.Sleep(3 * time.Second)
	pf = getPortfolio(t, ns, "shop")
	assertStalled(t, pf, promptsv1alpha1.ReasonArmNameTaken, "shop-b")
	if ev := eventsOf(t, ns, "shop")[promptsv1alpha1.EventReconcileFailed]; len(ev) != 1 {
		t.Errorf("ReconcileFailed events %q, want exactly one", ev)
	}

	if err := env.Client.Delete(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	pf = waitReady(t, ns, "shop", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 60*time.Second)
	assertRecovered(t, pf)
	if pf.Status.BestMeanDisplay != "50.0%" {
		t.Errorf("bestMeanDisplay = %q, want 50.0%% (uniform priors, no rewards)", pf.Status.BestMeanDisplay)
	}
	if arm := armsOf(t, ns, "shop")["shop-b"]; arm == nil || arm.Spec.Prompt != "Answer {{question}} in detail." || metav1.GetControllerOf(arm) == nil {
		t.Errorf("arm shop-b after recovery: %+v", arm)
	}
	if !strings.Contains(m.logs.String(), "shop-b") {
		t.Errorf("the failure is not in the manager's log")
	}
}

// managerRole is the manager's ClusterRole as generated into config/rbac/role.yaml, without the
// rules for Secrets.
func managerRole(t *testing.T, name string) *rbacv1.ClusterRole {
	t.Helper()
	role := clusterRoleFile(t, filepath.Join("config", "rbac", "role.yaml"), name)
	role.Rules = slices.DeleteFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "secrets") })
	return role
}

// clusterRoleFile reads the ClusterRole of a file of the repository and names it name.
func clusterRoleFile(t *testing.T, path, name string) *rbacv1.ClusterRole {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), path))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		t.Fatal(err)
	}
	role.ObjectMeta = metav1.ObjectMeta{Name: name}
	if len(role.Rules) == 0 {
		t.Fatalf("%s has no rules", path)
	}
	return role
}

// grantClusterRole creates role and binds it to user; both are deleted when the test ends.
func grantClusterRole(t *testing.T, role *rbacv1.ClusterRole, user string) {
	t.Helper()
	ctx := context.Background()
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if err := env.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), binding)
		_ = env.Client.Delete(context.Background(), role)
	})
}

// TestSecretUnreadableReachesStatus runs the manager as a user with the manager's role but no
// access to Secrets. A cycle that needs the API key fails: the portfolio turns Ready=False/Stalled
// (SecretUnreadable, kstatus Failed) with the cycle kept in progress, and when a RoleBinding
// grants the Secret the retried reconcile finishes the cycle and the portfolio is Ready again.
// The key appears nowhere.
func TestSecretUnreadableReachesStatus(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	const apiKey = "sk-promptfolio-status-2b81f0c9d47e"
	llm := &fakeLLM{key: apiKey, mode: llmOK}
	srv := httptest.NewServer(llm)
	defer srv.Close()

	user := "promptfolio-manager-" + ns
	role := managerRole(t, user)
	grantClusterRole(t, role, user)
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	m := startManagerWithConfig(t, ns, cfg, controllers.Options{
		OpenAI: controllers.OpenAITuning{MaxRetries: 1, InitialBackoff: 10 * time.Millisecond, MaxBackoff: time.Second},
	})

	if err := env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "llm-key", Namespace: ns},
		Data:       map[string][]byte{"api-key": []byte(apiKey)},
	}); err != nil {
		t.Fatal(err)
	}
	createPortfolio(t, ns, "llm", seeds("a", shopPrompt), func(s *promptsv1alpha1.PromptPortfolioSpec) {
		s.Evolution.MutationsPerCycle = ptr.To[int32](1)
		s.Evolution.Newborn.MinParentTrials = ptr.To[int64](0) // a child of a seed without trials
		s.Evolution.Mutator = promptsv1alpha1.MutatorSpec{
			Provider:         promptsv1alpha1.MutatorOpenAI,
			Model:            "test-model",
			BaseURL:          srv.URL + "/v1",
			APIKeySecretRef:  &promptsv1alpha1.SecretKeyReference{Name: "llm-key"},
			Timeout:          &metav1.Duration{Duration: 2 * time.Second},
			MaxCallsPerCycle: 4,
		}
	})
	waitReady(t, ns, "llm", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)

	requestCycle(t, ns, "llm", "now")
	pf := waitReady(t, ns, "llm", metav1.ConditionFalse, promptsv1alpha1.ReasonSecretUnreadable, 30*time.Second)
	assertStalled(t, pf, promptsv1alpha1.ReasonSecretUnreadable, "llm-key")
	if pf.Status.CycleInProgress == nil {
		t.Errorf("the cycle that needs the key is not kept in progress: %+v", pf.Status)
	}
	if llm.calls.Load() != 0 {
		t.Errorf("the LLM was called %d times without a key", llm.calls.Load())
	}

	// Grant the Secret: the retried reconcile finishes the cycle.
	grant := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-llm-key", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"llm-key"}, Verbs: []string{"get"}}},
	}
	if err := env.Client.Create(ctx, grant); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-llm-key", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: grant.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}); err != nil {
		t.Fatal(err)
	}
	waitGeneration(t, ns, "llm", 1, 90*time.Second)
	pf = waitReady(t, ns, "llm", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)
	assertRecovered(t, pf)
	if got := pf.Status.LastCycle.Created; len(got) != 1 {
		t.Errorf("the recovered cycle created %v: %s", got, pf.Status.LastCycle.Message)
	}
	if c := condition(pf, promptsv1alpha1.ConditionMutatorFailing); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("MutatorFailing = %+v", c)
	}
	m.stop(t)
	assertNoSecret(t, ns, "llm", apiKey, m.logs.String()+globalLogs.String())
}

// TestInvalidSpecReportedOncePerGeneration: statistics reconciles of a portfolio with an invalid
// spec (caused by counter flushes) keep it Stalled without a new event or log line each time; a
// new generation with another error is reported once more.
func TestInvalidSpecReportedOncePerGeneration(t *testing.T) {
	ns := newNamespace(t)
	m := startManager(t, ns, controllers.Options{StatisticsInterval: 100 * time.Millisecond})
	createPortfolio(t, ns, "bad", seeds("a", "Answer {{question}}."), func(s *promptsv1alpha1.PromptPortfolioSpec) {
		s.Evolution.Guardrails.ForbiddenPatterns = []string{"(unclosed"}
	})
	pf := waitReady(t, ns, "bad", metav1.ConditionFalse, promptsv1alpha1.ReasonInvalidSpec, 30*time.Second)
	assertStalled(t, pf, promptsv1alpha1.ReasonInvalidSpec, "forbiddenPatterns")
	for i := range 5 {
		flush(t, ns, "bad-a", "w1", int64(i+1), 1)
		eventually(t, 10*time.Second, func() (bool, string) {
			pf = getPortfolio(t, ns, "bad")
			return pf.Status.TotalTrials == int64(i+2), fmt.Sprintf("totalTrials %d", pf.Status.TotalTrials)
		})
	}
	assertStalled(t, pf, promptsv1alpha1.ReasonInvalidSpec, "forbiddenPatterns")
	if ev := eventsOf(t, ns, "bad")[promptsv1alpha1.EventInvalidSpec]; len(ev) != 1 {
		t.Errorf("InvalidSpec events %q after 5 statistics reconciles, want 1", ev)
	}
	if n := strings.Count(m.logs.String(), "invalid evolution spec"); n != 1 {
		t.Errorf("the invalid spec was logged %d times, want 1", n)
	}

	// A new generation that is invalid in another way is reported once more.
	updatePortfolio(t, ns, "bad", func(pf *promptsv1alpha1.PromptPortfolio) {
		pf.Spec.Evolution.Guardrails.ForbiddenPatterns = []string{"[also-unclosed"}
	})
	pf = waitReady(t, ns, "bad", metav1.ConditionFalse, promptsv1alpha1.ReasonInvalidSpec, 30*time.Second)
	assertStalled(t, pf, promptsv1alpha1.ReasonInvalidSpec, "also-unclosed")
	eventually(t, 10*time.Second, func() (bool, string) {
		ev := eventsOf(t, ns, "bad")[promptsv1alpha1.EventInvalidSpec]
		return len(ev) == 2, fmt.Sprintf("InvalidSpec events %q, want 2", ev)
	})
}

// hangingLLM accepts calls and never answers until the caller gives up.
type hangingLLM struct{ calls chan struct{} }

func (h hangingLLM) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	// Read the body, so that the server notices when the client closes the connection.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case h.calls <- struct{}{}:
	default:
	}
	<-r.Context().Done()
}

// TestHungLLMHoldsAWorkerOnlyForTheCycleTimeout measures how long an LLM that never answers holds
// a reconcile: the cycle ends MutatorFailing after CycleTimeout (not after the per-call timeout of
// minutes), the portfolio stays Ready, and with a single worker a second portfolio is reconciled
// right after.
func TestHungLLMHoldsAWorkerOnlyForTheCycleTimeout(t *testing.T) {
	ns := newNamespace(t)
	llm := hangingLLM{calls: make(chan struct{}, 1)}
	srv := httptest.NewServer(llm)
	defer srv.Close()
	const cycleTimeout = 3 * time.Second
	startManager(t, ns, controllers.Options{CycleTimeout: cycleTimeout, ReconcileTimeout: 20 * time.Second, MaxConcurrentReconciles: 1})
	createPortfolio(t, ns, "hung", seeds("a", shopPrompt), func(s *promptsv1alpha1.PromptPortfolioSpec) {
		s.Evolution.MutationsPerCycle = ptr.To[int32](1)
		s.Evolution.Newborn.MinParentTrials = ptr.To[int64](0) // a child of a seed without trials
		s.Evolution.Mutator = promptsv1alpha1.MutatorSpec{
			Provider: promptsv1alpha1.MutatorOpenAI, BaseURL: srv.URL + "/v1",
			Timeout: &metav1.Duration{Duration: 10 * time.Minute},
		}
	})
	waitReady(t, ns, "hung", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)

	requestCycle(t, ns, "hung", "now")
	select {
	case <-llm.calls:
	case <-time.After(30 * time.Second):
		t.Fatal("the cycle never called the LLM")
	}
	called := time.Now()
	// The only worker is busy with the hung cycle; this portfolio waits for it.
	createPortfolio(t, ns, "next", seeds("a", "Answer {{question}}."), nil)
	waitReady(t, ns, "next", metav1.ConditionTrue, promptsv1alpha1.ReasonSucceeded, 30*time.Second)
	held := time.Since(called)
	pf := waitGeneration(t, ns, "hung", 1, 30*time.Second)
	t.Logf("a hung LLM held the only worker for %s after its first call (cycle timeout %s)", held.Round(100*time.Millisecond), cycleTimeout)
	if held > cycleTimeout+5*time.Second {
		t.Errorf("the worker was held for %s, cycle timeout %s", held, cycleTimeout)
	}
	if c := condition(pf, promptsv1alpha1.ConditionMutatorFailing); c == nil || c.Status != metav1.ConditionTrue || c.Reason != promptsv1alpha1.ReasonMutatorError {
		t.Errorf("MutatorFailing = %+v", c)
	}
	if c := condition(pf, promptsv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v; a failing mutator must not make the portfolio unready", c)
	}
}
