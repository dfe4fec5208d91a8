package controllers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
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
// is OpenAI, then an OpenAI-compatible mutator whose HTTP calls are counted in the LLM metrics.
// The OpenAI mutator is built for one cycle and holds the cycle's budget of maxCalls HTTP calls,
// retries included (mutation.OpenAIConfig.MaxCalls): the one place that budget is kept.
func NewMutatorFactory(tuning OpenAITuning) MutatorFactory {
	return func(pf *promptsv1alpha1.PromptPortfolio, apiKey string, maxCalls int) (mutation.Mutator, error) {
		spec := pf.Spec.Evolution.Mutator
		if spec.Provider != promptsv1alpha1.MutatorOpenAI {
			return mutation.Offline{}, nil
		}
		cfg := mutation.OpenAIConfig{
			Model:          orDefault(spec.Model, defaultOpenAIModel),
			BaseURL:        spec.BaseURL,
			APIKey:         apiKey,
			MaxCalls:       maxCalls,
			MaxRetries:     tuning.MaxRetries,
			InitialBackoff: tuning.InitialBackoff,
			MaxBackoff:     tuning.MaxBackoff,
			HTTPClient:     &http.Client{Transport: metrics.InstrumentTransport(nil)},
		}
		if spec.Timeout != nil {
			cfg.Timeout = spec.Timeout.Duration
		}
		return mutation.NewOpenAI(cfg)
	}
}

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
