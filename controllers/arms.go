package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/metrics"
)

// textHashLength is the number of hex digits of a SHA-256 that tell apart the arms of one seed
// prompt whose text changed.
const textHashLength = 8

// maxArmNameLength is the longest arm name the controller makes (the limit of a label value, as
// arm names are also used in labels and metrics).
const maxArmNameLength = 63

// seedArmName is the name of the arm that holds text for the seed prompt seed: "<portfolio>-<seed>"
// while that name is free or already holds this text, otherwise hashedSeedArmName.
func seedArmName(portfolio, seed, text string, taken func(name string) (text string, ok bool)) string {
	plain := portfolio + "-" + seed
	if existing, ok := taken(plain); !ok || existing == text {
		return plain
	}
	return hashedSeedArmName(portfolio, seed, text)
}

// hashedSeedArmName is "<portfolio>-<seed>-<hash>", where hash is the first hex digits of the
// SHA-256 of the seed's name and text; the "<portfolio>-<seed>" part is shortened when the
// whole would exceed maxArmNameLength.
func hashedSeedArmName(portfolio, seed, text string) string {
	sum := sha256.Sum256([]byte(seed + "\x00" + text))
	suffix := "-" + hex.EncodeToString(sum[:])[:textHashLength]
	plain := portfolio + "-" + seed
	if len(plain)+len(suffix) > maxArmNameLength {
		plain = plain[:maxArmNameLength-len(suffix)]
	}
	return plain + suffix
}

// seedOf returns the seed prompt an arm of origin Seed was made for: the one whose plain arm name
// is the arm's name, or whose hashed name for the arm's own text is. It returns "" for arms of
// other origins and for seed arms whose prompt is no longer in spec.
func seedOf(pf *promptsv1alpha1.PromptPortfolio, arm *promptsv1alpha1.PromptArm) string {
	if arm.Spec.Origin.Type != promptsv1alpha1.OriginSeed {
		return ""
	}
	for _, p := range pf.Spec.Prompts {
		if arm.Name == pf.Name+"-"+p.Name || arm.Name == hashedSeedArmName(pf.Name, p.Name, arm.Spec.Prompt) {
			return p.Name
		}
	}
	return ""
}

// reconcileArms makes the arms follow spec.prompts: every seed has an Active arm with its text;
// an arm whose seed's text changed is retired (SeedChanged) and one whose seed was removed is
// retired (SeedRemoved); a seed arm that was retired that way comes back when its text returns.
// Arms that carry the portfolio's label but no controller reference are adopted. Nothing is
// deleted.
func (r *PortfolioReconciler) reconcileArms(ctx context.Context, s *portfolioState) error {
	pf := s.pf
	// Retire or reactivate the existing seed arms, and adopt orphans.
	wantText := make(map[string]string, len(pf.Spec.Prompts))
	for _, p := range pf.Spec.Prompts {
		wantText[p.Name] = p.Text
	}
	for _, arm := range s.arms {
		if err := r.adopt(ctx, pf, arm); err != nil {
			return err
		}
		if arm.Spec.Origin.Type != promptsv1alpha1.OriginSeed {
			continue
		}
		seed := seedOf(pf, arm)
		text, inSpec := wantText[seed]
		switch {
		case !inSpec:
			r.retire(s, arm, promptsv1alpha1.RetiredSeedRemoved, "the seed prompt was removed from spec.prompts", 0)
		case text != arm.Spec.Prompt:
			r.retire(s, arm, promptsv1alpha1.RetiredSeedChanged, fmt.Sprintf("the text of seed prompt %q changed", seed), 0)
		default:
			reactivate(arm)
		}
	}
	// Create the arms of seeds that have none with their current text.
	taken := func(name string) (string, bool) {
		if arm := s.arm(name); arm != nil {
			return arm.Spec.Prompt, true
		}
		return "", false
	}
	for _, p := range pf.Spec.Prompts {
		name := seedArmName(pf.Name, p.Name, p.Text, taken)
		if s.arm(name) != nil {
			continue
		}
		arm := r.newArm(pf, name, p.Text, pf.Spec.Selection.Prior, promptsv1alpha1.ArmOrigin{Type: promptsv1alpha1.OriginSeed})
		if err := r.createArm(ctx, s, arm); err != nil {
			return err
		}
	}
	return nil
}

// newArm builds an arm of the portfolio, labelled and owned by it.
func (r *PortfolioReconciler) newArm(pf *promptsv1alpha1.PromptPortfolio, name, text string, prior promptsv1alpha1.BetaPrior, origin promptsv1alpha1.ArmOrigin) *promptsv1alpha1.PromptArm {
	prior.Alpha, prior.Beta = prior.Params()
	return &promptsv1alpha1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: pf.Namespace,
			Labels:    map[string]string{promptsv1alpha1.LabelPortfolio: pf.Name},
		},
		Spec: promptsv1alpha1.PromptArmSpec{Portfolio: pf.Name, Prompt: text, Prior: prior, Origin: origin},
	}
}

// createArm creates arm, owned by the portfolio, and adds it to the state. An arm of that name
// that exists already (created by an earlier, interrupted reconcile) is read and used when it
// holds the same text; with another text it is an error, because a name must never stand for two
// texts.
func (r *PortfolioReconciler) createArm(ctx context.Context, s *portfolioState, arm *promptsv1alpha1.PromptArm) error {
	if err := controllerutil.SetControllerReference(s.pf, arm, r.Scheme); err != nil {
		return fmt.Errorf("owning arm %s: %w", arm.Name, err)
	}
	err := r.Client.Create(ctx, arm, client.FieldOwner(promptsv1alpha1.FieldManagerController))
	if apierrors.IsAlreadyExists(err) {
		existing := &promptsv1alpha1.PromptArm{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(arm), existing); err != nil {
			return fmt.Errorf("reading existing arm %s: %w", arm.Name, err)
		}
		if existing.Spec.Prompt != arm.Spec.Prompt || existing.Spec.Portfolio != arm.Spec.Portfolio {
			return &errArmNameTaken{name: arm.Name, portfolio: existing.Spec.Portfolio}
		}
		s.armSnapshots[existing.Name] = controllerArmStatus(&existing.Status)
		s.addArm(existing)
		return r.adopt(ctx, s.pf, existing)
	}
	if err != nil {
		return fmt.Errorf("creating arm %s: %w", arm.Name, err)
	}
	log.FromContext(ctx).Info("arm created", "arm", arm.Name, "origin", arm.Spec.Origin.Type)
	r.event(s.pf, arm, "Normal", promptsv1alpha1.EventArmCreated, "Create",
		fmt.Sprintf("created %s arm %s", arm.Spec.Origin.Type, arm.Name))
	s.addArm(arm)
	return nil
}

// errArmNameTaken is a PromptArm the controller must create whose name is held by an arm of
// another prompt or another portfolio. A person resolves it (renames the seed, or deletes or
// renames the other arm); the controller retries with backoff until then.
type errArmNameTaken struct{ name, portfolio string }

func (e *errArmNameTaken) Error() string {
	return fmt.Sprintf("arm name %s is taken by a PromptArm of portfolio %q with another prompt; rename the seed prompt or remove that arm", e.name, e.portfolio)
}

// adopt makes the portfolio the controller owner of an arm that carries its label but has no
// controller. Arms controlled by something else are left alone.
func (r *PortfolioReconciler) adopt(ctx context.Context, pf *promptsv1alpha1.PromptPortfolio, arm *promptsv1alpha1.PromptArm) error {
	if metav1.GetControllerOf(arm) != nil {
		return nil
	}
	patch := client.MergeFromWithOptions(arm.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if err := controllerutil.SetControllerReference(pf, arm, r.Scheme); err != nil {
		return fmt.Errorf("owning arm %s: %w", arm.Name, err)
	}
	if err := r.Client.Patch(ctx, arm, patch, client.FieldOwner(promptsv1alpha1.FieldManagerController)); err != nil {
		return fmt.Errorf("adopting arm %s: %w", arm.Name, err)
	}
	log.FromContext(ctx).Info("arm adopted", "arm", arm.Name)
	return nil
}

// retire marks an Active arm Retired in its working status; the status is applied at the end of
// the reconcile. Arms already retired keep their first retirement.
func (r *PortfolioReconciler) retire(s *portfolioState, arm *promptsv1alpha1.PromptArm, reason, message string, generation int32) {
	if arm.Status.Phase == promptsv1alpha1.ArmRetired {
		return
	}
	arm.Status.Phase = promptsv1alpha1.ArmRetired
	arm.Status.Retirement = &promptsv1alpha1.Retirement{
		Time: metav1.NewTime(s.now), Reason: reason, Message: truncate(message, 1024), Generation: generation,
	}
	metrics.ArmRetired(reason)
	r.event(s.pf, arm, "Normal", promptsv1alpha1.EventArmRetired, "Retire", fmt.Sprintf("retired arm %s: %s: %s", arm.Name, reason, message))
}

// reactivate makes a seed arm Active again when it was retired because its seed changed or was
// removed and the seed now has its text again. Arms retired by evolution stay retired.
func reactivate(arm *promptsv1alpha1.PromptArm) {
	ret := arm.Status.Retirement
	if arm.Status.Phase != promptsv1alpha1.ArmRetired || ret == nil ||
		(ret.Reason != promptsv1alpha1.RetiredSeedChanged && ret.Reason != promptsv1alpha1.RetiredSeedRemoved) {
		return
	}
	arm.Status.Phase = promptsv1alpha1.ArmActive
	arm.Status.Retirement = nil
}

// truncate shortens s to at most n bytes, on a rune boundary, marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
