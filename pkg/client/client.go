// Package client is a small Go client for workloads that call a promptfolio selector sidecar:
// Draw asks which prompt to use, Reward reports whether it worked.
//
// Retries never count a reward twice. A reward is resent freely when it certainly did not reach
// the selector (the connection was refused, or the selector answered 503). When the answer was
// lost after the request was sent (or a selector that forwarded the reward answered 504), the
// retry reaches the decision's home, the selector that issued it, directly or forwarded: it
// answers 409 for a decision it already counted, which Reward treats as success. For a decision
// without a home, the retry names the selector process that may have counted it (the
// Promptfolio-Writer header), and another process refuses with 412, which Reward returns as
// ErrOutcomeUnknown instead of risking a second count.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// WriterHeader is the header that names a selector process.
const WriterHeader = "Promptfolio-Writer"

// Errors of Reward.
var (
	// ErrDuplicate: the decision was already rewarded before this call.
	ErrDuplicate = errors.New("decision already rewarded")
	// ErrOutcomeUnknown: the answer to a reward was lost and the retry reached a different
	// selector process, so whether the reward was counted cannot be known. It was counted at most
	// once.
	ErrOutcomeUnknown = errors.New("reward outcome unknown: the answer was lost and the selector restarted")
)

// Decision is the answer of a draw.
type Decision struct {
	// Portfolio the draw was for.
	Portfolio string `json:"portfolio"`
	// Arm is the name of the chosen PromptArm.
	Arm string `json:"arm"`
	// Prompt is the text to use.
	Prompt string `json:"prompt"`
	// Decision is the signed token to pass to Reward.
	Decision string `json:"decision"`
}

// Error is an error answer of the selector.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Reason is the machine-readable reason, for example "expired".
	Reason string `json:"reason"`
	// Message is the selector's explanation.
	Message string `json:"error"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("selector answered %d %s: %s", e.Status, e.Reason, e.Message)
}

// Client calls one selector. It is safe for concurrent use.
type Client struct {
	base     string
	http     *http.Client
	attempts int
	backoff  time.Duration

	mu     sync.Mutex
	writer string // the selector process that answered last
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one with a 2s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithTimeout sets the timeout of each attempt (default 2s).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.http = &http.Client{Timeout: d, Transport: c.http.Transport} }
}

// WithRetries sets how many times a call is retried after the first attempt (default 3) and the
// first backoff, which doubles (default 50ms).
func WithRetries(retries int, backoff time.Duration) Option {
	return func(c *Client) { c.attempts, c.backoff = retries+1, backoff }
}

// New returns a client of the selector at baseURL, for example "http://127.0.0.1:8088".
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		base:     strings.TrimRight(baseURL, "/"),
		http:     &http.Client{Timeout: 2 * time.Second},
		attempts: 4,
		backoff:  50 * time.Millisecond,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Draw asks for a Thompson draw of portfolio. It retries when the selector is not ready or
// cannot be reached; a retried draw only issues another decision.
func (c *Client) Draw(ctx context.Context, portfolio string) (Decision, error) {
	var d Decision
	target := c.base + "/v1/draw?portfolio=" + url.QueryEscape(portfolio)
	err := c.retry(ctx, func(int) (bool, error) {
		resp, err := c.send(ctx, http.MethodGet, target, nil, "")
		if err != nil {
			return true, err
		}
		defer drain(resp)
		if resp.StatusCode != http.StatusOK {
			e := decodeError(resp)
			return resp.StatusCode == http.StatusServiceUnavailable, e
		}
		return false, json.NewDecoder(resp.Body).Decode(&d)
	})
	return d, err
}

// Reward reports the outcome of a decision. It returns nil once the selector counted the reward
// (202, or 409 on a retry after a lost answer), ErrDuplicate when the decision had been rewarded
// before this call, ErrOutcomeUnknown (see the package documentation), or an *Error such as
// "expired".
func (c *Client) Reward(ctx context.Context, decision string, success bool) error {
	body, err := json.Marshal(struct {
		Decision string `json:"decision"`
		Success  bool   `json:"success"`
	}{decision, success})
	if err != nil {
		return err
	}
	var maybeCounted bool // an earlier attempt may have been counted
	var pinned string     // the process that may have counted it
	return c.retry(ctx, func(attempt int) (bool, error) {
		resp, err := c.send(ctx, http.MethodPost, c.base+"/v1/reward", body, pinned)
		if err != nil {
			if !notSent(err) && !maybeCounted {
				maybeCounted = true
				c.mu.Lock()
				pinned = c.writer
				c.mu.Unlock()
				if pinned == "" {
					return false, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
				}
			}
			return true, err
		}
		defer drain(resp)
		switch resp.StatusCode {
		case http.StatusAccepted:
			return false, nil
		case http.StatusConflict:
			if maybeCounted {
				return false, nil
			}
			return false, ErrDuplicate
		case http.StatusPreconditionFailed:
			return false, ErrOutcomeUnknown
		case http.StatusGatewayTimeout:
			// A selector forwarded the reward to the decision's home and lost the home's answer:
			// it may have been counted, and a retry that reaches the home answers 409 if it was.
			maybeCounted = true
			return true, decodeError(resp)
		case http.StatusServiceUnavailable:
			return true, decodeError(resp)
		}
		return false, decodeError(resp)
	})
}

// retry runs f until it succeeds, says not to retry, the attempts are used up, or ctx ends.
func (c *Client) retry(ctx context.Context, f func(attempt int) (retry bool, err error)) error {
	wait := c.backoff
	var err error
	for attempt := 0; attempt < max(1, c.attempts); attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(ctx.Err(), err)
			case <-time.After(wait):
			}
			wait *= 2
		}
		var again bool
		if again, err = f(attempt); err == nil || !again {
			return err
		}
	}
	return err
}

func (c *Client) send(ctx context.Context, method, target string, body []byte, writer string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if writer != "" {
		req.Header.Set(WriterHeader, writer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if w := resp.Header.Get(WriterHeader); w != "" {
		c.mu.Lock()
		c.writer = w
		c.mu.Unlock()
	}
	return resp, nil
}

// notSent reports whether err certainly happened before the request reached the selector.
func notSent(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

func decodeError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if json.Unmarshal(b, e) != nil || e.Reason == "" {
		e.Message = strings.TrimSpace(string(b))
	}
	return e
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
