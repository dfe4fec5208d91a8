package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/evolution"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(testenv.Options{ControllerManager: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping control plane:", err)
	}
	os.Exit(code)
}

func newNamespace(t *testing.T) string {
	t.Helper()
	return env.Namespace(t, "crd")
}

// validPortfolio returns a minimal portfolio that the API server accepts.
func validPortfolio(ns string) *v1.PromptPortfolio {
	return &v1.PromptPortfolio{
		ObjectMeta: metav1.ObjectMeta{Name: "support", Namespace: ns},
		Spec: v1.PromptPortfolioSpec{
			Prompts: []v1.SeedPrompt{
				{Name: "short", Text: "Answer {{question}} briefly."},
				{Name: "long", Text: "Answer {{question}} in detail."},
			},
		},
	}
}

// validArm returns a manual arm that the API server accepts.
func validArm(ns string) *v1.PromptArm {
	return &v1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{Name: "support-manual", Namespace: ns,
			Labels: map[string]string{v1.LabelPortfolio: "support"}},
		Spec: v1.PromptArmSpec{Portfolio: "support", Prompt: "Answer {{question}} with a list."},
	}
}

func TestSamplesApplyWithKubectl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")
	if out, err := env.Kubectl(ctx, "apply", "-f", samples); err != nil {
		t.Fatalf("kubectl apply -f config/samples: %v\n%s", err, out)
	}
	out, err := env.Kubectl(ctx, "get", "promptfolio", "-A")
	if err != nil {
		t.Fatalf("kubectl get promptfolio -A: %v\n%s", err, out)
	}
	for _, want := range []string{"support-reply", "support-reply-manual-bullets", "ACTIVE", "BEST-MEAN", "P(BEST)"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get promptfolio -A: %q missing in\n%s", want, out)
		}
	}
	out, err = env.Kubectl(ctx, "get", "promptarms", "-n", "default")
	if err != nil {
		t.Fatalf("kubectl get promptarms: %v\n%s", err, out)
	}
	for _, col := range []string{"PORTFOLIO", "PHASE", "TRIALS", "ALPHA", "BETA", "MEAN", "P(BEST)", "GEN", "AGE"} {
		if !strings.Contains(out, col) {
			t.Errorf("kubectl get promptarms: column %s missing in\n%s", col, out)
		}
	}
	out, err = env.Kubectl(ctx, "explain", "promptportfolio.spec.evolution")
	if err != nil {
		t.Fatalf("kubectl explain: %v\n%s", err, out)
	}
	for _, want := range []string{"retirement", "payoff", "childPriorStrength", "cron", "Default"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain promptportfolio.spec.evolution: %q missing", want)
		}
	}

	// The sample reads back with the values it was written with, and defaults filled in.
	var pf v1.PromptPortfolio
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "support-reply"}, &pf); err != nil {
		t.Fatal(err)
	}
	if got := pf.Spec.Evolution.Retirement.Threshold; got != 0.05 {
		t.Errorf("retirement.threshold = %v, want 0.05", got)
	}
	if got := pf.Spec.Evolution.Mutator.Timeout; got == nil || got.Duration != 30*time.Second {
		t.Errorf("mutator.timeout default = %v, want 30s", got)
	}
}

// TestGenColumnShowsZero checks the GEN printer column of a seed arm written by a Go client and of
// a manual arm applied from YAML without origin.generation: both print 0, not a blank.
func TestGenColumnShowsZero(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := newNamespace(t)
	seed := validArm(ns)
	seed.Name = "support-seed"
	seed.Spec.Origin = v1.ArmOrigin{Type: v1.OriginSeed}
	if err := env.Client.Create(ctx, seed); err != nil {
		t.Fatal(err)
	}
	manual := `apiVersion: prompts.promptfolio.dev/v1alpha1
kind: PromptArm
metadata:
  name: support-manual
  namespace: ` + ns + `
spec:
  portfolio: support
  prompt: "Answer {{question}} with a list."
  origin:
    type: Manual
`
	file := filepath.Join(t.TempDir(), "manual.yaml")
	if err := os.WriteFile(file, []byte(manual), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := env.Kubectl(ctx, "apply", "-f", file); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	for _, name := range []string{seed.Name, "support-manual"} {
		out, err := env.Kubectl(ctx, "get", "promptarm", name, "-n", ns)
		if err != nil {
			t.Fatalf("kubectl get promptarm %s: %v\n%s", name, err, out)
		}
		if got := column(t, out, "GEN"); got != "0" {
			t.Errorf("kubectl get promptarm %s: GEN = %q, want 0\n%s", name, got, out)
		}
	}
}

// column returns the cell under header in the one-row table that kubectl get prints; kubectl aligns
// every cell with its header, so blank cells keep the columns apart.
func column(t *testing.T, table, header string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row, got\n%s", table)
	}
	at := strings.Index(lines[0], header)
	if at < 0 {
		t.Fatalf("no column %s in\n%s", header, table)
	}
	if at >= len(lines[1]) {
		return ""
	}
	cell, _, _ := strings.Cut(lines[1][at:], " ")
	return cell
}

func TestDefaults(t *testing.T) {
	ctx := context.Background()
	pf := validPortfolio(newNamespace(t))
	if err := env.Client.Create(ctx, pf); err != nil {
		t.Fatal(err)
	}
	ev := pf.Spec.Evolution
	policy := evolution.DefaultPolicy()
	checks := []struct {
		name      string
		got, want any
	}{
		{"selection.prior.alpha", pf.Spec.Selection.Prior.Alpha, 1.0},
		{"selection.prior.beta", pf.Spec.Selection.Prior.Beta, 1.0},
		{"evolution.schedule", ev.Schedule, "24h"},
		// The evolution policy's defaults are evolution.DefaultPolicy, the one place they are
		// written in Go, which the controller and the simulator use.
		{"evolution.retirement.rule", string(ev.Retirement.Rule), string(policy.Retirement.Rule)},
		{"evolution.retirement.threshold", ev.Retirement.Threshold, policy.Retirement.Threshold},
		{"evolution.retirement.minTrials", ptr.Deref(ev.Retirement.MinTrials, -1), policy.Retirement.MinTrials},
		{"evolution.minActiveArms", int(ev.MinActiveArms), policy.MinActiveArms},
		{"evolution.maxActiveArms", int(ev.MaxActiveArms), policy.MaxActiveArms},
		{"evolution.mutationsPerCycle", int(ptr.Deref(ev.MutationsPerCycle, -1)), policy.MutationsPerCycle},
		{"evolution.childPriorStrength", ev.ChildPriorStrength, policy.ChildPriorStrength},
		{"evolution.payoff.pauseBelow", ptr.Deref(ev.Payoff.PauseBelow, -1), policy.Payoff.PauseBelow},
		{"evolution.payoff.minChildren", int(ptr.Deref(ev.Payoff.MinChildren, -1)), policy.Payoff.MinChildren},
		{"evolution.payoff.probeEvery", ptr.Deref(ev.Payoff.ProbeEvery, -1), policy.Payoff.ProbeEvery},
		{"evolution.newborn.retireBelow", ptr.Deref(ev.Newborn.RetireBelow, -1), policy.Newborn.RetireBelow},
		{"evolution.newborn.minTrials", ptr.Deref(ev.Newborn.MinTrials, -1), policy.Newborn.MinTrials},
		{"evolution.newborn.minParentTrials", ptr.Deref(ev.Newborn.MinParentTrials, -1), policy.Newborn.MinParentTrials},
		{"evolution.mutator.provider", ev.Mutator.Provider, v1.MutatorOffline},
		{"evolution.mutator.maxCallsPerCycle", ev.Mutator.MaxCallsPerCycle, int32(10)},
		{"evolution.guardrails.maxLength", ev.Guardrails.MaxLength, int32(4096)},
		{"evolution.guardrails.preservePlaceholders", ptr.Deref(ev.Guardrails.PreservePlaceholders, false), true},
		{"evolution.guardrails.minNovelty", ptr.Deref(ev.Guardrails.MinNovelty, -1), 0.15},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("default %s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestInvalidObjectsRejected sends objects that break one rule each to the real API server and
// checks that it refuses them with the message a person needs.
func TestInvalidObjectsRejected(t *testing.T) {
	ns := newNamespace(t)
	long := strings.Repeat("x", 16385)
	cases := []change[*v1.PromptPortfolio]{
		{"duplicate seed names", func(pf *v1.PromptPortfolio) { pf.Spec.Prompts[1].Name = "short" }, "Duplicate value"},
		{"seed name not a DNS label", func(pf *v1.PromptPortfolio) { pf.Spec.Prompts[0].Name = "Bad_Name" }, "prompt name must be a lowercase DNS label"},
		{"seed name reserved for children", func(pf *v1.PromptPortfolio) { pf.Spec.Prompts[0].Name = "g3-1" }, "reserved for children of mutations"},
		{"seed name too long", func(pf *v1.PromptPortfolio) { pf.Spec.Prompts[0].Name = strings.Repeat("a", 23) }, "Too long"},
		{"no seed prompts", func(pf *v1.PromptPortfolio) { pf.Spec.Prompts = []v1.SeedPrompt{} }, "should have at least 1 items"},
		{"empty prompt text", func(pf *v1.PromptPortfolio) { pf.Spec.Prompts[0].Text = "" }, "should be at least 1 chars long"},
		{"blank prompt text", func(pf *v1.PromptPortfolio) { pf.Spec.Prompts[0].Text = " \n\t" }, "prompt text must not be blank"},
		{"prompt text too long", func(pf *v1.PromptPortfolio) { pf.Spec.Prompts[0].Text = long }, "Too long: may not be more than 16384"},
		{"portfolio name over 40 characters", func(pf *v1.PromptPortfolio) { pf.Name = strings.Repeat("p", 41) }, "portfolio name must be at most 40 characters"},
		{"retirement threshold 1.5", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Retirement.Threshold = 1.5 }, "retirement.threshold must be strictly between 0 and 1"},
		{"retirement threshold negative", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Retirement.Threshold = -0.1 }, "retirement.threshold must be strictly between 0 and 1"},
		{"unknown retirement rule", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Retirement.Rule = "Oldest" }, `Unsupported value: "Oldest"`},
		{"negative retirement minTrials", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Retirement.MinTrials = ptr.To[int64](-1) }, "should be greater than or equal to 0"},
		{"payoff pauseBelow 1", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Payoff.PauseBelow = ptr.To(1.0) }, "payoff.pauseBelow must be at least 0 and below 1"},
		{"newborn retireBelow 1", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Newborn.RetireBelow = ptr.To(1.0) }, "newborn.retireBelow must be at least 0 and below 1"},
		{"payoff probeEvery negative", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Payoff.ProbeEvery = ptr.To[int64](-2) }, "should be greater than or equal to 0"},
		{"minActiveArms above maxActiveArms", func(pf *v1.PromptPortfolio) {
			pf.Spec.Evolution.MinActiveArms, pf.Spec.Evolution.MaxActiveArms = 5, 3
		}, "minActiveArms must not exceed maxActiveArms"},
		{"prior alpha negative", func(pf *v1.PromptPortfolio) { pf.Spec.Selection.Prior.Alpha = -1 }, "prior alpha must be greater than 0"},
		{"prior beta negative", func(pf *v1.PromptPortfolio) { pf.Spec.Selection.Prior.Beta = -0.5 }, "prior beta must be greater than 0"},
		{"schedule in words", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Schedule = "every day" }, "schedule must be a duration like '24h'"},
		{"schedule cron with four fields", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Schedule = "0 3 * *" }, "schedule must be a duration like '24h'"},
		{"schedule cron with a bad field", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Schedule = "0 3 * * ?!" }, "schedule must be a duration like '24h'"},
		{"schedule interval below 1s", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Schedule = "500ms" }, "a schedule interval must be at least 1s"},
		{"child prior strength negative", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.ChildPriorStrength = -3 }, "childPriorStrength must be greater than 0"},
		{"min novelty above 1", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Guardrails.MinNovelty = ptr.To(1.5) }, "minNovelty must be between 0 and 1"},
		{"secret name not a DNS subdomain", func(pf *v1.PromptPortfolio) {
			pf.Spec.Evolution.Mutator = v1.MutatorSpec{Provider: v1.MutatorOpenAI, APIKeySecretRef: &v1.SecretKeyReference{Name: "My Secret"}}
		}, "secret name must be a lowercase DNS subdomain"},
		{"secret key with a slash", func(pf *v1.PromptPortfolio) {
			pf.Spec.Evolution.Mutator = v1.MutatorSpec{Provider: v1.MutatorOpenAI, APIKeySecretRef: &v1.SecretKeyReference{Name: "openai", Key: "a/b"}}
		}, "secret key may contain only letters, digits"},
		{"secret reference without name", func(pf *v1.PromptPortfolio) {
			pf.Spec.Evolution.Mutator = v1.MutatorSpec{Provider: v1.MutatorOpenAI, APIKeySecretRef: &v1.SecretKeyReference{}}
		}, "should be at least 1 chars long"},
		{"OpenAI without key or baseURL", func(pf *v1.PromptPortfolio) {
			pf.Spec.Evolution.Mutator = v1.MutatorSpec{Provider: v1.MutatorOpenAI}
		}, "the OpenAI provider needs apiKeySecretRef"},
		{"baseURL not http", func(pf *v1.PromptPortfolio) {
			pf.Spec.Evolution.Mutator = v1.MutatorSpec{Provider: v1.MutatorOpenAI, BaseURL: "ftp://llm.local"}
		}, "baseURL must be an http:// or https:// URL"},
		{"unknown provider", func(pf *v1.PromptPortfolio) { pf.Spec.Evolution.Mutator.Provider = "Claude" }, "Unsupported value: \"Claude\""},
		{"mutator timeout 0s", func(pf *v1.PromptPortfolio) {
			pf.Spec.Evolution.Mutator.Timeout = &metav1.Duration{}
		}, "timeout must be greater than 0s and at most 10m"},
	}
	expectRefused(t, cases, func() *v1.PromptPortfolio { return validPortfolio(ns) }, createNew)
}

func TestInvalidArmsRejected(t *testing.T) {
	ns := newNamespace(t)
	cases := []change[*v1.PromptArm]{
		{"portfolio not a DNS label", func(a *v1.PromptArm) { a.Spec.Portfolio = "Support_Bot" }, "portfolio must be the name of a PromptPortfolio"},
		{"unknown origin type", func(a *v1.PromptArm) { a.Spec.Origin.Type = "Clone" }, "Unsupported value: \"Clone\""},
		{"mutation without parent", func(a *v1.PromptArm) { a.Spec.Origin.Type = v1.OriginMutation }, "a Mutation arm must name its parent arm"},
		{"prior beta negative", func(a *v1.PromptArm) { a.Spec.Prior.Beta = -2 }, "prior beta must be greater than 0"},
		{"blank prompt", func(a *v1.PromptArm) { a.Spec.Prompt = "   " }, "prompt text must not be blank"},
	}
	expectRefused(t, cases, func() *v1.PromptArm { return validArm(ns) }, createNew)
}

func TestArmSpecIsImmutable(t *testing.T) {
	ctx := context.Background()
	a := validArm(newNamespace(t))
	if err := env.Client.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	cases := []change[*v1.PromptArm]{
		{"prompt", func(a *v1.PromptArm) { a.Spec.Prompt = "Something else {{question}}" }, "prompt is immutable"},
		{"prior", func(a *v1.PromptArm) { a.Spec.Prior.Alpha = 7 }, "prior is immutable"},
	}
	expectRefused(t, cases, a.DeepCopy,
		func(ctx context.Context, a *v1.PromptArm) error { return env.Client.Update(ctx, a) })
}

// change is one row of a table of objects the API server must refuse: what it does to a valid
// object, and what the refusal must say.
type change[T client.Object] struct {
	name   string
	mutate func(T)
	want   string
}

// expectRefused applies each change to an object from valid, sends it, and checks that the API
// server refuses it as Invalid with the message a person needs.
func expectRefused[T client.Object](t *testing.T, changes []change[T], valid func() T, send func(context.Context, T) error) {
	t.Helper()
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			obj := valid()
			c.mutate(obj)
			err := send(context.Background(), obj)
			if err == nil {
				t.Fatalf("accepted; want rejection with %q", c.want)
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v\nwant Invalid containing %q", err, c.want)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

// createNew creates obj under a name the API server generates, so that no row of a table meets an
// object an earlier row left behind.
func createNew[T client.Object](ctx context.Context, obj T) error {
	obj.SetGenerateName(obj.GetName() + "-")
	obj.SetName("")
	return env.Client.Create(ctx, obj)
}

func TestDeletingPortfolioCollectsItsArms(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	pf := validPortfolio(ns)
	if err := env.Client.Create(ctx, pf); err != nil {
		t.Fatal(err)
	}
	owned := validArm(ns)
	owned.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: v1.GroupVersion.String(), Kind: "PromptPortfolio", Name: pf.Name, UID: pf.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
	if err := env.Client.Create(ctx, owned); err != nil {
		t.Fatal(err)
	}
	unowned := validArm(ns)
	unowned.Name = "support-unowned"
	if err := env.Client.Create(ctx, unowned); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, pf, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(owned), &v1.PromptArm{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("owned arm still exists 60s after its portfolio was deleted (err=%v); kube-controller-manager log:\n%s", err, env.ControllerManagerLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(unowned), &v1.PromptArm{}); err != nil {
		t.Fatalf("an arm without owner reference must survive: %v", err)
	}
}
