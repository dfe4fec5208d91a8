package controllers_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/metrics"
)

func TestSeedArmsLifecycle(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, ns, controllers.Options{})
	ctx := context.Background()

	createPortfolio(t, ns, "support", seeds(
		"formal", "You are a formal support agent. Answer {{question}} precisely.",
		"casual", "Hey! You help customers. Answer {{question}} in a relaxed way.",
	), func(s *promptsv1alpha1.PromptPortfolioSpec) {
		s.Selection.Prior = promptsv1alpha1.BetaPrior{Alpha: 2, Beta: 3}
	})

	// Seeds become Active arms, owned and labelled, with the selection prior.
	eventually(t, 30*time.Second, func() (bool, string) {
		arms := armsOf(t, ns, "support")
		for _, n := range []string{"support-formal", "support-casual"} {
			if a := arms[n]; a == nil || a.Status.Phase != promptsv1alpha1.ArmActive {
				return false, fmt.Sprintf("arms %v", names(arms))
			}
		}
		return true, ""
	})
	arms := armsOf(t, ns, "support")
	pf := getPortfolio(t, ns, "support")
	for _, a := range arms {
		ref := metav1.GetControllerOf(a)
		if ref == nil || ref.UID != pf.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("arm %s: controller reference %+v, want the portfolio with blockOwnerDeletion", a.Name, ref)
		}
		if a.Spec.Origin.Type != promptsv1alpha1.OriginSeed || a.Spec.Prior.Alpha != 2 || a.Spec.Prior.Beta != 3 {
			t.Errorf("arm %s: origin %q prior %+v", a.Name, a.Spec.Origin.Type, a.Spec.Prior)
		}
		if a.Status.Alpha != 2 || a.Status.Beta != 3 || a.Status.Mean != 0.4 || a.Status.ProbBest != 0.5 {
			t.Errorf("arm %s: status %+v", a.Name, a.Status)
		}
	}

	// The portfolio is Ready, and kstatus and kubectl agree.
	pf = waitPortfolio(t, ns, "support", func(pf *promptsv1alpha1.PromptPortfolio) (bool, string) {
		return pf.Status.ObservedGeneration == pf.Generation && kstatusOf(t, pf) == status.CurrentStatus, fmt.Sprintf("status %+v", pf.Status)
	})
	if pf.Status.ActiveArms != 2 || pf.Status.BestArm == "" || pf.Status.NextCycleTime == nil {
		t.Errorf("portfolio status %+v", pf.Status)
	}
	if c := condition(pf, promptsv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != pf.Generation {
		t.Errorf("Ready = %+v", c)
	}
	if out, err := env.Kubectl(ctx, "wait", "--for=condition=Ready", "--timeout=30s", "-n", ns, "promptportfolio/support"); err != nil {
		t.Errorf("kubectl wait: %v: %s", err, out)
	}

	// A changed seed text makes a new arm and retires the old one; a removed seed retires its arm.
	updatePortfolio(t, ns, "support", func(pf *promptsv1alpha1.PromptPortfolio) {
		pf.Spec.Prompts = seeds("formal", "You are a formal, courteous support agent. Answer {{question}} precisely.")
	})
	eventually(t, 30*time.Second, func() (bool, string) {
		arms = armsOf(t, ns, "support")
		return len(arms) == 3 && arms["support-formal"].Status.Phase == promptsv1alpha1.ArmRetired &&
			arms["support-casual"].Status.Phase == promptsv1alpha1.ArmRetired, fmt.Sprintf("arms %v", names(arms))
	})
	var changed *promptsv1alpha1.PromptArm
	for n, a := range arms {
		if strings.HasPrefix(n, "support-formal-") {
			changed = a
		}
	}
	if changed == nil || !strings.Contains(changed.Spec.Prompt, "courteous") {
		t.Fatalf("no arm with the new text: %v", names(arms))
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		a := armsOf(t, ns, "support")[changed.Name]
		return a.Status.Phase == promptsv1alpha1.ArmActive, string(a.Status.Phase)
	})
	if r := arms["support-formal"].Status.Retirement; r == nil || r.Reason != promptsv1alpha1.RetiredSeedChanged {
		t.Errorf("old formal arm retirement %+v", r)
	}
	if r := arms["support-casual"].Status.Retirement; r == nil || r.Reason != promptsv1alpha1.RetiredSeedRemoved {
		t.Errorf("casual arm retirement %+v", r)
	}

	// A hand-written arm with the portfolio's label is adopted.
	manual := &promptsv1alpha1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{Name: "support-handwritten", Namespace: ns, Labels: map[string]string{promptsv1alpha1.LabelPortfolio: "support"}},
		Spec:       promptsv1alpha1.PromptArmSpec{Portfolio: "support", Prompt: "Be kind and answer {{question}}."},
	}
	if err := env.Client.Create(ctx, manual); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		a := armsOf(t, ns, "support")["support-handwritten"]
		ref := metav1.GetControllerOf(a)
		return ref != nil && ref.UID == pf.UID && a.Status.Phase == promptsv1alpha1.ArmActive, fmt.Sprintf("%+v", a.OwnerReferences)
	})
	pf = waitPortfolio(t, ns, "support", func(pf *promptsv1alpha1.PromptPortfolio) (bool, string) {
		return pf.Status.ActiveArms == 2 && pf.Status.RetiredArms == 2, fmt.Sprintf("active %d retired %d", pf.Status.ActiveArms, pf.Status.RetiredArms)
	})
	ev := eventsOf(t, ns, "support")
	if len(ev[promptsv1alpha1.EventArmCreated]) < 3 || len(ev[promptsv1alpha1.EventArmRetired]) < 2 {
		t.Errorf("events %v", ev)
	}

	// Deleting the portfolio lets the garbage collector delete its arms.
	if !withGC {
		return
	}
	if err := env.Client.Delete(ctx, pf, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func() (bool, string) {
		arms := armsOf(t, ns, "support")
		return len(arms) == 0, fmt.Sprintf("arms left %v", names(arms))
	})
}

func TestStatisticsCoalesceCounterFlushes(t *testing.T) {
	ns := newNamespace(t)
	const interval = time.Second
	startManager(t, ns, controllers.Options{StatisticsInterval: interval})

	createPortfolio(t, ns, "faq", seeds("a", "Answer briefly.", "b", "Answer with an example.", "c", "Answer step by step."), nil)
	eventually(t, 30*time.Second, func() (bool, string) {
		pf := getPortfolio(t, ns, "faq")
		return pf.Status.ActiveArms == 3, fmt.Sprintf("%d active", pf.Status.ActiveArms)
	})
	time.Sleep(2 * interval) // let the creation settle

	// Two selectors flush cumulative counts for three arms, as fast as they can, for ~4s.
	writesBefore := metrics.StatusWrites("PromptArm") + metrics.StatusWrites("PromptPortfolio")
	rates := map[string]float64{"faq-a": 0.2, "faq-b": 0.5, "faq-c": 0.8}
	counts := map[string]*[2]int64{}
	flushes := 0
	start := time.Now()
	for i := 0; time.Since(start) < 4*time.Second; i++ {
		for _, arm := range []string{"faq-a", "faq-b", "faq-c"} {
			for _, w := range []string{"sel-1", "sel-2"} {
				key := arm + "/" + w
				c := counts[key]
				if c == nil {
					c = &[2]int64{}
					counts[key] = c
				}
				n := int64(10)
				s := int64(math.Round(rates[arm] * float64(n)))
				c[0] += s
				c[1] += n - s
				flush(t, ns, arm, w, c[0], c[1])
				flushes++
			}
		}
	}
	// Wait for the totals to reach the arms.
	eventually(t, 30*time.Second, func() (bool, string) {
		arms := armsOf(t, ns, "faq")
		for arm := range rates {
			want := counts[arm+"/sel-1"][0] + counts[arm+"/sel-2"][0]
			if arms[arm].Status.Successes != want {
				return false, fmt.Sprintf("%s successes %d, want %d", arm, arms[arm].Status.Successes, want)
			}
		}
		return true, ""
	})
	time.Sleep(2 * interval)
	writes := metrics.StatusWrites("PromptArm") + metrics.StatusWrites("PromptPortfolio") - writesBefore
	elapsed := time.Since(start)
	t.Logf("counter flushes: %d in %v; controller status writes: %.0f; writes per flush: %.4f", flushes, elapsed.Round(time.Millisecond), writes, writes/float64(flushes))
	// At most one statistics pass per interval, however many flushes arrive: (elapsed/interval +
	// settle) passes × (3 arms + 1 portfolio). A slow machine sends fewer flushes, not more passes.
	if limit := (elapsed.Seconds()/interval.Seconds() + 3) * 4; writes > limit {
		t.Errorf("%.0f controller writes in %v for %d flushes, want at most %.0f: statistics were not coalesced", writes, elapsed, flushes, limit)
	}
	if flushes < 4*int(elapsed/interval) {
		t.Errorf("only %d flushes in %v: too few to show coalescing", flushes, elapsed)
	}

	arms := armsOf(t, ns, "faq")
	pf := getPortfolio(t, ns, "faq")
	var total int64
	var sumProbBest float64
	for _, a := range arms {
		st := a.Status
		total += st.Trials
		sumProbBest += st.ProbBest
		if st.Alpha != 1+float64(st.Successes) || st.Beta != 1+float64(st.Failures) {
			t.Errorf("%s: alpha %v beta %v from %d/%d", a.Name, st.Alpha, st.Beta, st.Successes, st.Failures)
		}
		if ci := st.CredibleInterval; ci == nil || ci.Level != 0.95 || !(ci.Lower < st.Mean && st.Mean < ci.Upper) {
			t.Errorf("%s: credible interval %+v around %v", a.Name, ci, st.Mean)
		}
	}
	if math.Abs(sumProbBest-1) > 1e-5 {
		t.Errorf("P(best) sums to %v", sumProbBest)
	}
	if pf.Status.TotalTrials != total || pf.Status.BestArm != "faq-c" {
		t.Errorf("portfolio total %d (arms %d), best %q", pf.Status.TotalTrials, total, pf.Status.BestArm)
	}
	if _, err := env.Kubectl(context.Background(), "get", "promptarms", "-n", ns); err != nil {
		t.Error(err)
	}
}
