package mutation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Defaults of [OpenAIConfig].
const (
	// DefaultModel is the model a portfolio's OpenAI mutator asks when its spec names none.
	DefaultModel          = "gpt-4.1-mini"
	DefaultBaseURL        = "https://api.openai.com/v1"
	DefaultTimeout        = 30 * time.Second
	DefaultMaxCalls       = 8
	DefaultMaxRetries     = 3
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = time.Minute
)

// maxResponseBytes caps how much of a provider response is read, so that a
// misbehaving endpoint cannot exhaust the controller's memory.
const maxResponseBytes = 1 << 20

// OpenAIConfig configures an [OpenAI] mutator. Zero values select the
// documented defaults.
type OpenAIConfig struct {
	// Model is the model to ask, for example "gpt-4.1-mini" or, for vLLM, the
	// served model name. With Azure it is the deployment name. Required.
	Model string
	// BaseURL is the API root that "/chat/completions" is appended to, for
	// example "http://vllm:8000/v1" or "http://ollama:11434/v1". Default
	// [DefaultBaseURL]. For Azure it is the resource endpoint, such as
	// "https://example.openai.azure.com".
	BaseURL string
	// APIKey is sent as a bearer token (as the "api-key" header for Azure).
	// It may be empty for local servers. It never appears in errors.
	APIKey string
	// Azure selects the Azure OpenAI protocol (deployment in the path,
	// api-version query, api-key header). It is also selected when BaseURL's
	// host ends in ".openai.azure.com" or ".cognitiveservices.azure.com".
	Azure bool
	// AzureAPIVersion is the api-version query parameter for Azure. Default:
	// the version go-openai's Azure configuration uses.
	AzureAPIVersion string
	// Timeout bounds one HTTP call. Default [DefaultTimeout].
	Timeout time.Duration
	// MaxCalls bounds the HTTP calls of the mutator over its life, retries
	// included: every Mutate spends from the same budget, and once it is spent
	// Mutate returns [ErrBudgetSpent]. A cycle builds one mutator, so this is
	// the cycle's worst-case cost and the only call budget there is. Default
	// [DefaultMaxCalls].
	MaxCalls int
	// MaxRetries bounds the consecutive failed calls for one variant after
	// its first call. Default [DefaultMaxRetries]; negative means no retries.
	MaxRetries int
	// InitialBackoff is the nominal wait before the first retry; it doubles
	// with every further retry. Default [DefaultInitialBackoff].
	InitialBackoff time.Duration
	// MaxBackoff caps every wait. When a provider's Retry-After asks for more,
	// or a wait would outlast the context's deadline, the mutator stops and
	// returns the error instead. Default [DefaultMaxBackoff].
	MaxBackoff time.Duration
	// HTTPClient sends the requests, for example with a proxy or custom TLS.
	// Its own timeout, if any, applies in addition to Timeout. Default: a
	// client with no timeout of its own.
	HTTPClient *http.Client
	// Sleep waits between retries; tests replace it to record the waits.
	// It must return early with ctx.Err() when ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now reads the clock, to resolve a Retry-After given as an HTTP date.
	// Default time.Now.
	Now func() time.Time
}

// OpenAI is a [Mutator] that asks an OpenAI-compatible chat-completions
// endpoint for one variant per call. Transient failures (timeouts, 429, 5xx,
// unreachable endpoint) are retried with exponential backoff and jitter,
// honouring Retry-After; 400, 401, 403, 404 and other client errors are not.
// Every error it returns is an [*Error]. It is safe for concurrent use.
type OpenAI struct {
	client     *openai.Client
	model      string
	timeout    time.Duration
	maxCalls   int
	calls      atomic.Int64 // HTTP calls made, of maxCalls
	maxRetries int
	backoff    backoff
	sleep      func(context.Context, time.Duration) error
	now        func() time.Time
	secrets    []string
}

// NewOpenAI returns an [OpenAI] mutator for cfg.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("openai mutator: model is required")
	}
	baseURL := cmpOr(cfg.BaseURL, DefaultBaseURL)
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai mutator: base URL %q is not an absolute http(s) URL", scrub(baseURL, cfg.APIKey))
	}
	secrets := []string{cfg.APIKey}
	if pw, ok := u.User.Password(); ok {
		secrets = append(secrets, pw)
	}

	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	var oc openai.ClientConfig
	if cfg.Azure || isAzureHost(u.Hostname()) {
		oc = openai.DefaultAzureConfig(cfg.APIKey, baseURL)
		if cfg.AzureAPIVersion != "" {
			oc.APIVersion = cfg.AzureAPIVersion
		}
		// The deployment is named by the user; use it as written.
		oc.AzureModelMapperFunc = func(model string) string { return model }
	} else {
		oc = openai.DefaultConfig(cfg.APIKey)
		oc.BaseURL = baseURL
	}
	oc.HTTPClient = limitedDoer{client: httpClient, limit: maxResponseBytes}

	m := &OpenAI{
		client:     openai.NewClientWithConfig(oc),
		model:      cfg.Model,
		timeout:    cmpOr(cfg.Timeout, DefaultTimeout),
		maxCalls:   cmpOr(cfg.MaxCalls, DefaultMaxCalls),
		maxRetries: cmpOr(cfg.MaxRetries, DefaultMaxRetries),
		backoff: backoff{
			initial: cmpOr(cfg.InitialBackoff, DefaultInitialBackoff),
			max:     cmpOr(cfg.MaxBackoff, DefaultMaxBackoff),
		},
		sleep:   cfg.Sleep,
		now:     cfg.Now,
		secrets: secrets,
	}
	if m.maxRetries < 0 {
		m.maxRetries = 0
	}
	if m.sleep == nil {
		m.sleep = sleepContext
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.timeout < 0 || m.maxCalls < 0 || m.backoff.initial < 0 || m.backoff.max < m.backoff.initial {
		return nil, errors.New("openai mutator: timeout, maxCalls and backoffs must be positive, and maxBackoff at least initialBackoff")
	}
	return m, nil
}

// cmpOr returns v, or def when v is the zero value.
func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// isAzureHost reports whether host is an Azure OpenAI resource endpoint.
func isAzureHost(host string) bool {
	host = strings.ToLower(host)
	return strings.HasSuffix(host, ".openai.azure.com") || strings.HasSuffix(host, ".cognitiveservices.azure.com")
}

// limitedDoer sends requests with an http.Client and reads at most limit
// bytes of each response body.
type limitedDoer struct {
	client *http.Client
	limit  int64
}

// Do implements openai.HTTPDoer.
func (d limitedDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, d.limit), resp.Body}
	return resp, nil
}

// Name returns "openai".
func (m *OpenAI) Name() string { return "openai" }

// Model returns the configured model.
func (m *OpenAI) Model() string { return m.model }

// OperatorLLM is the [Candidate.Operator] of candidates written by a language
// model.
const OperatorLLM = "llm"

// Mutate asks for req.Count variants, one per call, each with a different
// angle of variation chosen from req.Seed, spending calls from the mutator's
// MaxCalls budget; it returns [ErrBudgetSpent] when none is left.
// It stops at the first error that retrying cannot fix, when a variant has
// failed more than MaxRetries times in a row, or when the next wait would
// outlast the context; it then returns the variants obtained so far and the
// error.
func (m *OpenAI) Mutate(ctx context.Context, req Request) ([]Candidate, error) {
	if req.Count <= 0 {
		return nil, nil
	}
	if m.calls.Load() >= int64(m.maxCalls) {
		return nil, ErrBudgetSpent
	}
	angles := rand.New(rand.NewPCG(req.Seed, seedStreamAngles)).Perm(len(angleHints))
	var (
		out      []Candidate
		lastErr  *Error
		failures int // consecutive failed calls for the current variant
	)
	for calls := 0; len(out) < req.Count && m.spendCall(); calls++ {
		if err := ctx.Err(); err != nil {
			return out, &Error{Kind: KindCanceled, Attempts: failures, Detail: err.Error(), cause: err}
		}
		hint := angleHints[angles[calls%len(angles)]]
		text, err := m.call(ctx, m.chatRequest(req, hint, out))
		if err == nil {
			out = append(out, Candidate{Text: text, Operator: OperatorLLM})
			failures, lastErr = 0, nil
			continue
		}
		failures++
		err.Attempts = failures
		lastErr = err
		if err.Kind == KindCanceled || failures > m.maxRetries {
			return out, err
		}
		if err.Kind == KindBadResponse {
			continue // a fresh call with another angle; nothing to wait for
		}
		if !err.Kind.retryable() {
			return out, err
		}
		wait, ok := m.backoff.wait(failures-1, err.RetryAfter, jitter())
		if !ok {
			return out, err
		}
		if deadline, has := ctx.Deadline(); has && time.Until(deadline) < wait {
			return out, err
		}
		if serr := m.sleep(ctx, wait); serr != nil {
			return out, &Error{Kind: KindCanceled, Attempts: failures, Detail: serr.Error(), cause: serr}
		}
	}
	if len(out) < req.Count && lastErr != nil {
		return out, lastErr
	}
	return out, nil
}

// spendCall takes one call from the budget; false when it is spent.
func (m *OpenAI) spendCall() bool {
	for {
		n := m.calls.Load()
		if n >= int64(m.maxCalls) {
			return false
		}
		if m.calls.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// call makes one chat-completion call and extracts the prompt it returns.
func (m *OpenAI) call(ctx context.Context, creq openai.ChatCompletionRequest) (string, *Error) {
	callCtx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	resp, err := m.client.CreateChatCompletion(callCtx, creq)
	if err != nil {
		return "", m.classify(ctx, err, resp.Header())
	}
	if len(resp.Choices) == 0 {
		return "", &Error{Kind: KindBadResponse, Detail: "the response has no choices"}
	}
	choice := resp.Choices[0]
	switch choice.FinishReason {
	case openai.FinishReasonLength:
		return "", &Error{Kind: KindBadResponse, Detail: "the output was cut off at the token limit"}
	case openai.FinishReasonContentFilter:
		return "", &Error{Kind: KindBadResponse, Detail: "the output was withheld by a content filter"}
	}
	text := cleanOutput(choice.Message.Content)
	if text == "" {
		return "", &Error{Kind: KindBadResponse, Detail: "the output holds no prompt text"}
	}
	return text, nil
}

// classify turns a go-openai error into an *Error without credentials.
func (m *OpenAI) classify(ctx context.Context, err error, header http.Header) *Error {
	if cerr := ctx.Err(); cerr != nil {
		return &Error{Kind: KindCanceled, Detail: cerr.Error(), cause: cerr}
	}
	var (
		apiErr *openai.APIError
		reqErr *openai.RequestError
		urlErr *url.Error
		status int
		detail string
	)
	switch {
	case errors.As(err, &apiErr):
		status, detail = apiErr.HTTPStatusCode, apiErr.Message
	case errors.As(err, &reqErr):
		status, detail = reqErr.HTTPStatusCode, string(reqErr.Body)
		if strings.TrimSpace(detail) == "" && reqErr.Err != nil {
			detail = reqErr.Err.Error()
		}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Detail: fmt.Sprintf("no response within %s", m.timeout)}
	case errors.As(err, &urlErr):
		return &Error{Kind: KindUnreachable, Detail: scrub(urlErr.Err.Error(), m.secrets...)}
	case isDecodeError(err):
		return &Error{Kind: KindBadResponse, Detail: "malformed response: " + scrub(err.Error(), m.secrets...)}
	default:
		return &Error{Kind: KindBadRequest, Detail: scrub(err.Error(), m.secrets...)}
	}
	return &Error{
		Kind:       kindForStatus(status),
		StatusCode: status,
		RetryAfter: retryAfterFrom(header, m.now()),
		Detail:     scrub(detail, m.secrets...),
	}
}

// isDecodeError reports whether err comes from reading or decoding a
// response body.
func isDecodeError(err error) bool {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	return errors.As(err, &syntaxErr) || errors.As(err, &typeErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// kindForStatus maps an HTTP status of a failed call to its kind.
func kindForStatus(status int) ErrorKind {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return KindUnauthorized
	case status == http.StatusRequestTimeout:
		return KindTimeout
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status >= 500:
		return KindServer
	case status >= 400:
		return KindBadRequest
	default:
		return KindBadResponse
	}
}
