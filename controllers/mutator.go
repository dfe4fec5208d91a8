package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/metrics"
	"github.com/promptfolio/promptfolio/internal/mutation"
)

// MutatorFactory builds the mutator of one evolution cycle from the portfolio's spec.mutator.
// apiKey is the key read from apiKeySecretRef ("" without one); maxCalls bounds the calls of the
// whole cycle to the provider, retries included.
type MutatorFactory func(pf *promptsv1alpha1.PromptPortfolio, apiKey string, maxCalls int) (mutation.Mutator, error)

// OpenAITuning holds the settings of the OpenAI-compatible mutator that are not in the API:
// retry pacing, which operators set with manager flags and tests shorten.
type OpenAITuning struct {
	// MaxRetries bounds consecutive failed calls for one variant. Zero means the package default.
	MaxRetries int
	// InitialBackoff and MaxBackoff pace retries; zero means the package defaults.
	InitialBackoff, MaxBackoff time.Duration
}

// NewMutatorFactory returns the built-in factory: the Offline mutator unless spec.mutator.provider
// is OpenAI, then an OpenAI-compatible mutator whose HTTP calls are counted in the LLM metrics and
// limited to maxCalls for the whole cycle.
func NewMutatorFactory(tuning OpenAITuning) MutatorFactory {
	return func(pf *promptsv1alpha1.PromptPortfolio, apiKey string, maxCalls int) (mutation.Mutator, error) {
		spec := pf.Spec.Evolution.Mutator
		if spec.Provider != promptsv1alpha1.MutatorOpenAI {
			return mutation.Offline{}, nil
		}
		b := &budgetedOpenAI{limit: int64(maxCalls), model: orDefault(spec.Model, defaultOpenAIModel)}
		cfg := mutation.OpenAIConfig{
			Model:          b.model,
			BaseURL:        spec.BaseURL,
			APIKey:         apiKey,
			MaxRetries:     tuning.MaxRetries,
			InitialBackoff: tuning.InitialBackoff,
			MaxBackoff:     tuning.MaxBackoff,
			HTTPClient:     &http.Client{Transport: b.countCalls(metrics.InstrumentTransport(nil))},
		}
		if spec.Timeout != nil {
			cfg.Timeout = spec.Timeout.Duration
		}
		b.build = func(calls int) (mutation.Mutator, error) {
			c := cfg
			c.MaxCalls = calls
			return mutation.NewOpenAI(c)
		}
		if _, err := b.build(1); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// errCallBudgetSpent stops a cycle's mutation when its calls to the provider are used up.
var errCallBudgetSpent = errors.New("the cycle's budget of mutator calls is spent")

// budgetedOpenAI shares one budget of HTTP calls among all the Mutate calls of a cycle: the
// mutation driver asks again after guardrail rejections, and each ask may only spend what is
// left.
type budgetedOpenAI struct {
	limit int64
	calls atomic.Int64
	model string
	build func(maxCalls int) (mutation.Mutator, error)
}

func (b *budgetedOpenAI) Name() string  { return "openai" }
func (b *budgetedOpenAI) Model() string { return b.model }

// Mutate asks the provider with the calls left in the budget.
func (b *budgetedOpenAI) Mutate(ctx context.Context, req mutation.Request) ([]mutation.Candidate, error) {
	left := b.limit - b.calls.Load()
	if left <= 0 {
		return nil, errCallBudgetSpent
	}
	m, err := b.build(int(left))
	if err != nil {
		return nil, err
	}
	return m.Mutate(ctx, req)
}

// countCalls counts every HTTP call against the budget.
func (b *budgetedOpenAI) countCalls(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		b.calls.Add(1)
		return next.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// errSecret is a problem with apiKeySecretRef; its text names the Secret and key, never a value.
type errSecret struct{ msg string }

func (e *errSecret) Error() string { return e.msg }

// errSecretRead is a failure to read the Secret of apiKeySecretRef other than its absence: the
// controller may not read it, or the API server did not answer. The cycle waits in progress and
// the reconcile is retried with backoff.
type errSecretRead struct {
	msg string
	err error
}

func (e *errSecretRead) Error() string { return e.msg + ": " + e.err.Error() }
func (e *errSecretRead) Unwrap() error { return e.err }

// apiKey reads the API key of an OpenAI mutator from the Secret named by apiKeySecretRef, through
// the API reader: the controller does not cache Secrets. It returns "" when no Secret is named.
func (r *PortfolioReconciler) apiKey(ctx context.Context, pf *promptsv1alpha1.PromptPortfolio) (string, error) {
	ref := pf.Spec.Evolution.Mutator.APIKeySecretRef
	if pf.Spec.Evolution.Mutator.Provider != promptsv1alpha1.MutatorOpenAI || ref == nil {
		return "", nil
	}
	key := orDefault(ref.Key, defaultSecretKey)
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pf.Namespace, Name: ref.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &errSecret{msg: fmt.Sprintf("secret %s/%s not found", pf.Namespace, ref.Name)}
		}
		return "", &errSecretRead{msg: fmt.Sprintf("reading secret %s/%s", pf.Namespace, ref.Name), err: err}
	}
	value, ok := secret.Data[key]
	if !ok || len(strings.TrimSpace(string(value))) == 0 {
		return "", &errSecret{msg: fmt.Sprintf("secret %s/%s has no key %q", pf.Namespace, ref.Name, key)}
	}
	return strings.TrimSpace(string(value)), nil
}

// maxMessageLength bounds the messages the controller writes into conditions and events.
const maxMessageLength = 512

// scrubMessage prepares an error text for status and events: it removes every occurrence of the
// API key (the mutation package scrubs its own errors; this is the controller's own guard) and
// shortens the text.
func scrubMessage(msg, apiKey string) string {
	if apiKey != "" {
		msg = strings.ReplaceAll(msg, apiKey, "[redacted]")
	}
	return truncate(strings.Join(strings.Fields(msg), " "), maxMessageLength)
}
