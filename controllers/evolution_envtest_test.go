package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/evolution"
	"github.com/promptfolio/promptfolio/internal/mutation"
)

// A seed text with enough sentences for the offline operators to vary.
const shopPrompt = "You are a support assistant for an online shop. Answer {{question}} using the order details. " +
	"Make sure you mention the delivery date. Be polite and clear. If you do not know, say so."

func TestOfflineEvolutionCycles(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, ns, controllers.Options{})

	createPortfolio(t, ns, "shop", seeds(
		"a", shopPrompt,
		"b", "Help the customer with {{question}}. Keep answers short.",
		"c", "Resolve {{question}} for the customer and suggest a related product.",
	), func(s *promptsv1alpha1.PromptPortfolioSpec) {
		s.Evolution.Retirement.MinTrials = ptr.To[int64](20)
		s.Evolution.MinActiveArms = 1
		s.Evolution.MaxActiveArms = 8
		s.Evolution.ChildPriorStrength = 10
	})
	waitActiveArms(t, ns, "shop", 3)
	flush(t, ns, "shop-a", "sel", 80, 20)
	flush(t, ns, "shop-b", "sel", 5, 95)
	flush(t, ns, "shop-c", "sel", 50, 50)
	waitPortfolio(t, ns, "shop", func(pf *promptsv1alpha1.PromptPortfolio) (bool, string) {
		return pf.Status.TotalTrials == 300 && pf.Status.BestArm == "shop-a", fmt.Sprintf("%+v", pf.Status)
	})

	requestCycle(t, ns, "shop", "first")
	pf := waitGeneration(t, ns, "shop", 1, 60*time.Second)
	last := pf.Status.LastCycle
	if last == nil || last.Trigger != "Requested" || pf.Status.LastHandledCycleRequest != "first" || last.BestArm != "shop-a" {
		t.Fatalf("last cycle %+v, handled %q", last, pf.Status.LastHandledCycleRequest)
	}
	if want := []string{"shop-g1-1", "shop-g1-2"}; !slices.Equal(last.PlannedChildren, want) || !slices.Equal(last.Created, want) {
		t.Errorf("planned %v created %v, want %v", last.PlannedChildren, last.Created, want)
	}
	if !slices.Equal(last.Retired, []string{"shop-b", "shop-c"}) {
		t.Errorf("retired %v", last.Retired)
	}
	arms := armsOf(t, ns, "shop")
	for _, n := range []string{"shop-b", "shop-c"} {
		r := arms[n].Status.Retirement
		if arms[n].Status.Phase != promptsv1alpha1.ArmRetired || r == nil || r.Reason != promptsv1alpha1.RetiredWorseThanBest || r.Generation != 1 {
			t.Errorf("%s: phase %s retirement %+v", n, arms[n].Status.Phase, r)
		}
	}
	parentMean := 81.0 / 102
	for _, n := range last.Created {
		c := arms[n]
		o := c.Spec.Origin
		if o.Type != promptsv1alpha1.OriginMutation || o.Parent != "shop-a" || o.Generation != 1 || o.Mutator != "offline" || o.Operator == "" {
			t.Errorf("%s: origin %+v", n, o)
		}
		if math.Abs(c.Spec.Prior.Alpha-parentMean*10) > 1e-5 || math.Abs(c.Spec.Prior.Alpha+c.Spec.Prior.Beta-10) > 1e-5 {
			t.Errorf("%s: prior %+v, want a cautious prior of mean %.4f worth 10 trials", n, c.Spec.Prior, parentMean)
		}
		if !strings.Contains(c.Spec.Prompt, "{{question}}") || c.Spec.Prompt == shopPrompt || metav1.GetControllerOf(c) == nil {
			t.Errorf("%s: prompt %q", n, c.Spec.Prompt)
		}
	}
	if c := condition(pf, promptsv1alpha1.ConditionMutatorFailing); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("MutatorFailing = %+v", c)
	}
	pf = waitPortfolio(t, ns, "shop", func(pf *promptsv1alpha1.PromptPortfolio) (bool, string) {
		return kstatusOf(t, pf) == status.CurrentStatus && pf.Status.ActiveArms == 3, fmt.Sprintf("kstatus %s, %d active", kstatusOf(t, pf), pf.Status.ActiveArms)
	})
	next := pf.Status.NextCycleTime.Sub(pf.Status.LastCycleTime.Time)
	if next < 24*time.Hour || next > 24*time.Hour+144*time.Minute {
		t.Errorf("next cycle %v after the last, want 24h plus at most 10%% jitter", next)
	}
	ev := eventsOf(t, ns, "shop")
	for _, reason := range []string{promptsv1alpha1.EventCycleStarted, promptsv1alpha1.EventCycleCompleted, promptsv1alpha1.EventArmRetired} {
		if len(ev[reason]) == 0 {
			t.Errorf("no %s event: %v", reason, ev)
		}
	}

	// A second request runs generation 2 with new names, once the first children have rewards:
	// unjudged children take the mutation slots.
	requestCycle(t, ns, "shop", "unjudged")
	pf = waitGeneration(t, ns, "shop", 2, 60*time.Second)
	if got := pf.Status.LastCycle; len(got.PlannedChildren) != 0 {
		t.Errorf("a cycle planned %v while both children were unjudged", got.PlannedChildren)
	}
	flush(t, ns, "shop-g1-1", "judge", 6, 6)
	flush(t, ns, "shop-g1-2", "judge", 6, 6)
	waitTrials(t, ns, "shop", 324)
	requestCycle(t, ns, "shop", "second")
	pf = waitGeneration(t, ns, "shop", 3, 60*time.Second)
	if got := pf.Status.LastCycle.Created; !slices.Equal(got, []string{"shop-g3-1", "shop-g3-2"}) {
		t.Errorf("generation 3 created %v", got)
	}

	// everyTrials starts a cycle once enough new trials arrived.
	updatePortfolio(t, ns, "shop", func(pf *promptsv1alpha1.PromptPortfolio) {
		pf.Spec.Evolution.EveryTrials = ptr.To[int64](50)
		pf.Spec.Evolution.MutationsPerCycle = ptr.To[int32](0)
	})
	time.Sleep(time.Second)
	if g := getPortfolio(t, ns, "shop").Status.EvolutionGeneration; g != 3 {
		t.Fatalf("a cycle ran before enough trials: generation %d", g)
	}
	flush(t, ns, "shop-g1-1", "sel", 30, 30)
	pf = waitGeneration(t, ns, "shop", 4, 30*time.Second)
	if pf.Status.LastCycle.Trigger != "EveryTrials" || pf.Status.TrialsAtLastCycle != 384 {
		t.Errorf("cycle 4: %+v, trialsAtLastCycle %d", pf.Status.LastCycle, pf.Status.TrialsAtLastCycle)
	}
}

// llmMode is how the local OpenAI-compatible server behaves.
type llmMode string

const (
	llmOK              llmMode = "ok"
	llmSlow            llmMode = "slow"
	llmRateLimited     llmMode = "429"
	llmServerError     llmMode = "500"
	llmMalformed       llmMode = "malformed"
	llmDropPlaceholder llmMode = "drop-placeholder"
	llmForbidden       llmMode = "forbidden"
	llmCopyRetired     llmMode = "copy-retired"
)

// goodVariants are distinct, admissible answers of the local LLM.
var goodVariants = []string{
	"Act as a patient shop clerk. Read {{question}} carefully, check the order, and reply with the delivery date first.",
	"Greet the customer by thanking them. Then settle {{question}} with facts from their order and close warmly.",
	"You handle shop orders. For {{question}}, list the relevant order facts as bullet points, then give one clear answer.",
	"Respond to {{question}} like an experienced support lead: confirm the order, state the date, offer further help.",
	"Explain the situation behind {{question}} in plain words, cite the order record, and suggest the next step.",
	"Keep it upbeat: answer {{question}} in two sentences, naming the delivery window and a contact option.",
	"First restate {{question}} to show understanding, then resolve it using order history, then invite follow-ups.",
	"Be concise and exact. Answer {{question}} from the order data only; never guess a delivery date.",
	"Take the role of a logistics specialist who answers {{question}} with tracking details and realistic timing.",
	"Open with empathy, address {{question}} directly, and end by summarising what the customer should expect.",
}

// fakeLLM is a local OpenAI-compatible chat-completions server with switchable faults.
type fakeLLM struct {
	key     string
	mu      sync.Mutex
	mode    llmMode
	retired string
	next    atomic.Int64
	calls   atomic.Int64
}

func (f *fakeLLM) set(mode llmMode) {
	f.mu.Lock()
	f.mode = mode
	f.mu.Unlock()
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	mode, retired := f.mode, f.retired
	f.mu.Unlock()
	content := goodVariants[int(f.next.Add(1)-1)%len(goodVariants)]
	switch mode {
	case llmSlow:
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
			return
		}
	case llmRateLimited:
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":{"message":"slow down"}}`, http.StatusTooManyRequests)
		return
	case llmServerError:
		// A careless provider that echoes the credential in its error body.
		http.Error(w, `{"error":{"message":"upstream failed for key `+f.key+`"}}`, http.StatusInternalServerError)
		return
	case llmMalformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"choices": [{"message": {"content": "You are`))
		return
	case llmDropPlaceholder:
		content = "Answer the customer's question about their order politely and mention the delivery date."
	case llmForbidden:
		content = "Answer {{question}} and promise a guaranteed refund to every customer, whatever happened."
	case llmCopyRetired:
		content = retired
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": content}}},
	})
}

func TestOpenAIMutatorCyclesAndFaults(t *testing.T) {
	ns := newNamespace(t)
	const apiKey = "sk-promptfolio-test-7f3a9c2e51d04b8a"
	llm := &fakeLLM{key: apiKey, mode: llmOK}
	srv := httptest.NewServer(llm)
	defer srv.Close()
	m := startManager(t, ns, controllers.Options{
		OpenAI: controllers.OpenAITuning{MaxRetries: 1, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 2 * time.Second},
	})
	ctx := context.Background()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "llm-credentials", Namespace: ns},
		Data:       map[string][]byte{"api-key": []byte(apiKey)},
	}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	const oldText = "Answer {{question}} as briefly as possible and stop."
	createPortfolio(t, ns, "llm", seeds("a", shopPrompt, "b", oldText), func(s *promptsv1alpha1.PromptPortfolioSpec) {
		s.Evolution.MaxActiveArms = 30
		s.Evolution.MutationsPerCycle = ptr.To[int32](1)
		s.Evolution.Newborn.MinParentTrials = ptr.To[int64](0) // a child of a seed without trials
		s.Evolution.Guardrails.ForbiddenPatterns = []string{`(?i)guarantee`}
		s.Evolution.Mutator = promptsv1alpha1.MutatorSpec{
			Provider:         promptsv1alpha1.MutatorOpenAI,
			Model:            "test-model",
			BaseURL:          srv.URL + "/v1",
			APIKeySecretRef:  &promptsv1alpha1.SecretKeyReference{Name: "llm-credentials"},
			Timeout:          &metav1.Duration{Duration: time.Second},
			MaxCallsPerCycle: 4,
		}
	})
	// Retire seed b by changing its text, so a retired text exists for the copy fault.
	waitActiveArms(t, ns, "llm", 2)
	updatePortfolio(t, ns, "llm", func(pf *promptsv1alpha1.PromptPortfolio) {
		pf.Spec.Prompts[1].Text = "Answer {{question}} in one friendly paragraph."
	})
	eventually(t, 30*time.Second, func() (bool, string) {
		a := armsOf(t, ns, "llm")["llm-b"]
		return a.Status.Phase == promptsv1alpha1.ArmRetired, string(a.Status.Phase)
	})
	llm.mu.Lock()
	llm.retired = oldText
	llm.mu.Unlock()

	gen := int32(0)
	judged := map[string]bool{}
	runCycle := func(mode llmMode) *promptsv1alpha1.PromptPortfolio {
		t.Helper()
		// Give every child rewards first: an unjudged child takes the cycle's one mutation slot.
		for name, a := range armsOf(t, ns, "llm") {
			if a.Spec.Origin.Type == promptsv1alpha1.OriginMutation && !judged[name] {
				flush(t, ns, name, "sel", 6, 6)
				judged[name] = true
			}
		}
		waitTrials(t, ns, "llm", int64(12*len(judged)))
		llm.set(mode)
		gen++
		requestCycle(t, ns, "llm", fmt.Sprintf("cycle-%d-%s", gen, mode))
		return waitGeneration(t, ns, "llm", gen, 90*time.Second)
	}
	children := func() int {
		n := 0
		for _, a := range armsOf(t, ns, "llm") {
			if a.Spec.Origin.Type == promptsv1alpha1.OriginMutation {
				n++
			}
		}
		return n
	}

	pf := runCycle(llmOK)
	if got := pf.Status.LastCycle.Created; len(got) != 1 {
		t.Fatalf("the OpenAI cycle created %v; last cycle %+v", got, pf.Status.LastCycle)
	}
	child := armsOf(t, ns, "llm")[pf.Status.LastCycle.Created[0]]
	if o := child.Spec.Origin; o.Mutator != "openai" || o.Model != "test-model" || !slices.Contains(goodVariants, child.Spec.Prompt) {
		t.Errorf("child %s: origin %+v prompt %q", child.Name, o, child.Spec.Prompt)
	}

	faults := []struct {
		mode       llmMode
		wantReason string
	}{
		{llmSlow, promptsv1alpha1.ReasonMutatorError},
		{llmRateLimited, promptsv1alpha1.ReasonMutatorError},
		{llmServerError, promptsv1alpha1.ReasonMutatorError},
		{llmMalformed, promptsv1alpha1.ReasonMutatorError},
		{llmDropPlaceholder, promptsv1alpha1.ReasonAllCandidatesRejected},
		{llmForbidden, promptsv1alpha1.ReasonAllCandidatesRejected},
		{llmCopyRetired, promptsv1alpha1.ReasonAllCandidatesRejected},
	}
	forbidden := regexp.MustCompile(`(?i)guarantee`)
	for _, f := range faults {
		t.Run(string(f.mode), func(t *testing.T) {
			before := children()
			calls := llm.calls.Load()
			pf := runCycle(f.mode)
			if n := children(); n != before {
				t.Errorf("a child was admitted from a misbehaving LLM: %d -> %d", before, n)
			}
			if c := llm.calls.Load() - calls; c > 4 {
				t.Errorf("%d calls in one cycle, budget 4", c)
			}
			c := condition(pf, promptsv1alpha1.ConditionMutatorFailing)
			if c == nil || c.Status != metav1.ConditionTrue || c.Reason != f.wantReason {
				t.Errorf("MutatorFailing = %+v, want True/%s", c, f.wantReason)
			}
			if c != nil {
				t.Logf("MutatorFailing %s: %s", c.Reason, c.Message)
			}
			if msg := pf.Status.LastCycle.Message; !strings.Contains(msg, "mutator failing") {
				t.Errorf("last cycle message %q does not say the mutator failed", msg)
			}
			if r := condition(pf, promptsv1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionTrue {
				t.Errorf("Ready = %+v; selection must keep working", r)
			}
			// The next cycle is fine again.
			pf = runCycle(llmOK)
			if len(pf.Status.LastCycle.Created) != 1 {
				t.Errorf("recovery cycle created %v: %s", pf.Status.LastCycle.Created, pf.Status.LastCycle.Message)
			}
			if c := condition(pf, promptsv1alpha1.ConditionMutatorFailing); c == nil || c.Status != metav1.ConditionFalse {
				t.Errorf("MutatorFailing after recovery = %+v", c)
			}
		})
	}
	for _, a := range armsOf(t, ns, "llm") {
		if a.Spec.Origin.Type != promptsv1alpha1.OriginMutation {
			continue
		}
		if !strings.Contains(a.Spec.Prompt, "{{question}}") || forbidden.MatchString(a.Spec.Prompt) || a.Spec.Prompt == oldText {
			t.Errorf("bad child admitted: %s %q", a.Name, a.Spec.Prompt)
		}
	}
	ev := eventsOf(t, ns, "llm")
	if len(ev[promptsv1alpha1.EventMutationRejected]) == 0 || len(ev[promptsv1alpha1.EventMutatorFailed]) == 0 {
		t.Errorf("events %v", ev)
	}

	// The key is nowhere: not in the portfolio's or the arms' status, not in events, not in logs.
	m.stop(t)
	assertNoSecret(t, ns, "llm", apiKey, m.logs.String()+globalLogs.String())
}

// assertNoSecret fails when secret appears in the namespace's portfolios, arms or events, or in
// the manager's logs.
func assertNoSecret(t *testing.T, ns, portfolio, secret, logs string) {
	t.Helper()
	var dump []string
	pf := getPortfolio(t, ns, portfolio)
	b, _ := json.Marshal(pf)
	dump = append(dump, string(b))
	for _, a := range armsOf(t, ns, portfolio) {
		b, _ := json.Marshal(a)
		dump = append(dump, string(b))
	}
	for reason, notes := range eventsOf(t, ns, portfolio) {
		dump = append(dump, reason)
		dump = append(dump, notes...)
	}
	if out, err := env.Kubectl(context.Background(), "get", "events", "-n", ns, "-o", "yaml"); err == nil {
		dump = append(dump, out)
	}
	for i, d := range dump {
		if strings.Contains(d, secret) {
			t.Errorf("the API key appears in object or event %d: %.300s", i, d)
		}
	}
	if strings.Contains(logs, secret) {
		t.Error("the API key appears in the manager's logs")
	}
	if len(logs) == 0 {
		t.Error("no manager logs were captured")
	}
}

// blockingMutator blocks every call until its context ends, like an LLM that hangs.
type blockingMutator struct{ entered chan struct{} }

func (blockingMutator) Name() string  { return "blocking" }
func (blockingMutator) Model() string { return "" }

func (b blockingMutator) Mutate(ctx context.Context, _ mutation.Request) ([]mutation.Candidate, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestRestartMidCycleCreatesExactlyThePlan kills the manager while the mutator of a cycle hangs
// and checks, against the real API server, that the cycle recorded exactly what evolution.Decide
// plans on the same input (retirements with their rule and message, children with parent and
// prior), and that the next manager applies that plan field by field.
func TestRestartMidCycleCreatesExactlyThePlan(t *testing.T) {
	ns := newNamespace(t)
	entered := make(chan struct{}, 1)
	first := startManager(t, ns, controllers.Options{
		NewMutator: func(*promptsv1alpha1.PromptPortfolio, string, int) (mutation.Mutator, error) {
			return blockingMutator{entered: entered}, nil
		},
	})
	createPortfolio(t, ns, "rs", seeds("a", shopPrompt, "b", "Help with {{question}} in a few words.",
		"c", "Answer {{question}} and nothing else."), func(s *promptsv1alpha1.PromptPortfolioSpec) {
		s.Evolution.MutationsPerCycle = ptr.To[int32](3)
		s.Evolution.MinActiveArms = 1
	})
	waitActiveArms(t, ns, "rs", 3)
	// a is best; b has few trials, all failures; c is a close second with a weak prior.
	flush(t, ns, "rs-a", "sel", 7, 3)
	flush(t, ns, "rs-b", "sel", 0, 12)
	flush(t, ns, "rs-c", "sel", 5, 5)
	waitTrials(t, ns, "rs", 32)
	// The input the cycle will plan from, read back from the API server.
	var input []evolution.Arm
	for _, arm := range armsOf(t, ns, "rs") {
		input = append(input, evolution.Arm{
			Name: arm.Name, PriorAlpha: arm.Spec.Prior.Alpha, PriorBeta: arm.Spec.Prior.Beta,
			Successes: arm.Status.Successes, Failures: arm.Status.Failures, Active: arm.Status.Phase != promptsv1alpha1.ArmRetired,
			Created: arm.CreationTimestamp.Time, Parent: arm.Spec.Origin.Parent,
		})
	}
	policy := evolution.DefaultPolicy()
	policy.MutationsPerCycle, policy.MinActiveArms = 3, 1
	plan, err := evolution.Decide(evolution.Input{Portfolio: "rs", Generation: 1, Arms: input, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Retire) == 0 || len(plan.Children) == 0 {
		t.Fatalf("the test's input should plan retirements and children: %+v", plan)
	}

	requestCycle(t, ns, "rs", "now")
	select {
	case <-entered:
	case <-time.After(60 * time.Second):
		t.Fatal("the cycle never reached the mutator")
	}
	// Kill the manager while the mutator hangs.
	first.stop(t)
	pf := getPortfolio(t, ns, "rs")
	inProgress := pf.Status.CycleInProgress
	if inProgress == nil {
		t.Fatal("no cycle in progress after the kill")
	}
	var wantRetire []promptsv1alpha1.PlannedRetirement
	var wantRetired []string
	for _, r := range plan.Retire {
		wantRetire = append(wantRetire, promptsv1alpha1.PlannedRetirement{Arm: r.Arm, Rule: promptsv1alpha1.RetirementRule(r.Rule), Message: r.Message})
		wantRetired = append(wantRetired, r.Arm)
	}
	var wantChildren []promptsv1alpha1.PlannedChild
	var wantNames []string
	for _, c := range plan.Children {
		wantChildren = append(wantChildren, promptsv1alpha1.PlannedChild{
			Name: c.Name, Parent: c.Parent, Prior: promptsv1alpha1.BetaPrior{Alpha: c.PriorAlpha, Beta: c.PriorBeta},
		})
		wantNames = append(wantNames, c.Name)
	}
	if !reflect.DeepEqual(inProgress.RetirementPlan, wantRetire) || !slices.Equal(inProgress.Retired, wantRetired) {
		t.Errorf("recorded retirements %+v, evolution.Decide plans %+v", inProgress.RetirementPlan, wantRetire)
	}
	if !reflect.DeepEqual(inProgress.ChildPlan, wantChildren) || !slices.Equal(inProgress.PlannedChildren, wantNames) {
		t.Errorf("recorded children %+v, evolution.Decide plans %+v", inProgress.ChildPlan, wantChildren)
	}
	if inProgress.BestArm != plan.Best {
		t.Errorf("recorded best %s, evolution.Decide says %s", inProgress.BestArm, plan.Best)
	}
	if p := pf.Status.MutationPayoff; p == nil || p.ProbPays != plan.Payoff.ProbPays || p.Paused != plan.Payoff.Paused {
		t.Errorf("status.mutationPayoff %+v, plan %+v", p, plan.Payoff)
	}
	if c := condition(pf, promptsv1alpha1.ConditionReconciling); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling = %+v while the cycle is in progress", c)
	}
	if kstatusOf(t, pf) != status.InProgressStatus {
		t.Errorf("kstatus %s while the cycle is in progress", kstatusOf(t, pf))
	}
	if n := len(armsOf(t, ns, "rs")); n != 3 {
		t.Fatalf("%d arms before the restart, want the 3 seeds", n)
	}

	// Rewards keep arriving while no manager runs: the restarted one must not replan from them.
	flush(t, ns, "rs-c", "sel", 40, 0)

	// A new manager finishes exactly that plan.
	startManager(t, ns, controllers.Options{})
	pf = waitGeneration(t, ns, "rs", 1, 60*time.Second)
	want := append([]string{"rs-a", "rs-b", "rs-c"}, wantNames...)
	slices.Sort(want)
	time.Sleep(time.Second)
	arms := armsOf(t, ns, "rs")
	if got := names(arms); !slices.Equal(got, want) {
		t.Errorf("arms %v, want exactly %v", got, want)
	}
	for _, c := range wantChildren {
		arm := arms[c.Name]
		if arm == nil {
			continue
		}
		if arm.Spec.Prior != c.Prior || arm.Spec.Origin.Parent != c.Parent || arm.Spec.Origin.Generation != 1 {
			t.Errorf("child %s: prior %+v, parent %s, generation %d; the plan says %+v", c.Name, arm.Spec.Prior,
				arm.Spec.Origin.Parent, arm.Spec.Origin.Generation, c)
		}
	}
	for _, r := range wantRetire {
		arm := arms[r.Arm]
		if arm == nil || arm.Status.Phase != promptsv1alpha1.ArmRetired || arm.Status.Retirement == nil ||
			arm.Status.Retirement.Message != r.Message || arm.Status.Retirement.Reason != promptsv1alpha1.RetiredWorseThanBest {
			t.Errorf("arm %s after the cycle: %+v; the plan retires it with %q", r.Arm, arm.Status, r.Message)
		}
	}
	if !slices.Equal(pf.Status.LastCycle.Created, wantNames) || pf.Status.LastCycle.Generation != 1 {
		t.Errorf("last cycle %+v", pf.Status.LastCycle)
	}
	if !pf.Status.LastCycle.StartTime.Equal(&inProgress.StartTime) || pf.Status.LastHandledCycleRequest != "now" {
		t.Errorf("the cycle was restarted instead of finished: %+v", pf.Status.LastCycle)
	}
}

func TestInvalidSpecStalls(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, ns, controllers.Options{})
	createPortfolio(t, ns, "bad", seeds("a", "Answer {{question}}."), func(s *promptsv1alpha1.PromptPortfolioSpec) {
		s.Evolution.Guardrails.ForbiddenPatterns = []string{"(unclosed"}
	})
	var pf *promptsv1alpha1.PromptPortfolio
	pf = waitPortfolio(t, ns, "bad", func(pf *promptsv1alpha1.PromptPortfolio) (bool, string) {
		c := condition(pf, promptsv1alpha1.ConditionStalled)
		return c != nil && c.Status == metav1.ConditionTrue, fmt.Sprintf("%+v", pf.Status.Conditions)
	})
	if c := condition(pf, promptsv1alpha1.ConditionStalled); c.Reason != promptsv1alpha1.ReasonInvalidSpec || !strings.Contains(c.Message, "forbiddenPatterns") {
		t.Errorf("Stalled = %+v", c)
	}
	if r := condition(pf, promptsv1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v", r)
	}
	if s := kstatusOf(t, pf); s != status.FailedStatus {
		t.Errorf("kstatus = %s, want Failed", s)
	}
	if pf.Status.ActiveArms != 1 {
		t.Errorf("selection must keep working: %d active arms", pf.Status.ActiveArms)
	}

	// An unparsable cron expression stalls too; a valid spec recovers.
	updatePortfolio(t, ns, "bad", func(pf *promptsv1alpha1.PromptPortfolio) {
		pf.Spec.Evolution.Guardrails.ForbiddenPatterns = nil
		pf.Spec.Evolution.Schedule = "61 * * * *"
	})
	waitPortfolio(t, ns, "bad", func(pf *promptsv1alpha1.PromptPortfolio) (bool, string) {
		c := condition(pf, promptsv1alpha1.ConditionStalled)
		return pf.Status.ObservedGeneration == pf.Generation && c != nil && strings.Contains(c.Message, "schedule"), fmt.Sprintf("%+v", c)
	})
	updatePortfolio(t, ns, "bad", func(pf *promptsv1alpha1.PromptPortfolio) { pf.Spec.Evolution.Schedule = "0 3 * * *" })
	pf = waitPortfolio(t, ns, "bad", func(pf *promptsv1alpha1.PromptPortfolio) (bool, string) {
		return kstatusOf(t, pf) == status.CurrentStatus && condition(pf, promptsv1alpha1.ConditionStalled) == nil, fmt.Sprintf("%+v", pf.Status.Conditions)
	})
	if next := pf.Status.NextCycleTime; next == nil || next.UTC().Hour() != 3 || next.Minute() != 0 {
		t.Errorf("next cycle %v, want 03:00 UTC", next)
	}
}

// TestMutationPausesAndResumes drives the payoff evidence against the real API server: children
// that do worse than their seed pause mutation (condition, event, status), children that do better
// resume it.
func TestMutationPausesAndResumes(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, ns, controllers.Options{})
	createPortfolio(t, ns, "pay", seeds("a", shopPrompt), func(s *promptsv1alpha1.PromptPortfolioSpec) {
		s.Evolution.MinActiveArms = 1
		s.Evolution.Payoff = promptsv1alpha1.PayoffSpec{PauseBelow: ptr.To(0.3), MinChildren: ptr.To[int32](2), ProbeEvery: ptr.To[int64](0)}
	})
	waitActiveArms(t, ns, "pay", 1)
	flush(t, ns, "pay-a", "sel", 50, 50)
	waitTrials(t, ns, "pay", 100)
	requestCycle(t, ns, "pay", "1")
	pf := waitGeneration(t, ns, "pay", 1, 60*time.Second)
	if c := condition(pf, promptsv1alpha1.ConditionMutationPayingOff); c == nil || c.Status != metav1.ConditionTrue || c.Reason != promptsv1alpha1.ReasonMutationPays {
		t.Fatalf("MutationPayingOff before any evidence = %+v", c)
	}
	created := pf.Status.LastCycle.Created
	if len(created) != 2 {
		t.Fatalf("cycle 1 created %v", created)
	}
	// judge gives each child of cycle 1 the same cumulative counts and runs cycle gen once the
	// portfolio counts trials in all.
	judge := func(gen int32, successes, failures, trials int64) *promptsv1alpha1.PromptPortfolio {
		t.Helper()
		for _, name := range created {
			flush(t, ns, name, "sel", successes, failures)
		}
		waitTrials(t, ns, "pay", trials)
		requestCycle(t, ns, "pay", fmt.Sprint(gen))
		return waitGeneration(t, ns, "pay", gen, 60*time.Second)
	}

	// The children do much worse than the seed: mutation pauses.
	pf = judge(2, 2, 28, 160)
	p := pf.Status.MutationPayoff
	if p == nil || !p.Paused || p.Children != 2 || p.ChildTrials != 60 || !(p.Gain < 0) || !(p.ProbPays < 0.3) {
		t.Errorf("status.mutationPayoff %+v, want paused on the children's loss", p)
	}
	if c := condition(pf, promptsv1alpha1.ConditionMutationPayingOff); c == nil || c.Status != metav1.ConditionFalse ||
		c.Reason != promptsv1alpha1.ReasonMutationNotPaying || !strings.Contains(c.Message, "pauseBelow 0.3") {
		t.Errorf("MutationPayingOff = %+v, want False/MutationNotPaying", c)
	}
	if got := pf.Status.LastCycle.PlannedChildren; len(got) != 0 {
		t.Errorf("a paused portfolio planned children %v", got)
	}

	// Now they do much better: mutation resumes.
	pf = judge(3, 80, 30, 320)
	if p := pf.Status.MutationPayoff; p == nil || p.Paused || !(p.ProbPays > 0.9) {
		t.Errorf("status.mutationPayoff %+v, want resumed", p)
	}
	if c := condition(pf, promptsv1alpha1.ConditionMutationPayingOff); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("MutationPayingOff after good children = %+v", c)
	}
	if got := pf.Status.LastCycle.Created; len(got) == 0 {
		t.Errorf("no children after mutation resumed: %s", pf.Status.LastCycle.Message)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		ev := eventsOf(t, ns, "pay")
		return len(ev[promptsv1alpha1.EventMutationPaused]) == 1 && len(ev[promptsv1alpha1.EventMutationResumed]) == 1, fmt.Sprintf("%v", ev)
	})
}
