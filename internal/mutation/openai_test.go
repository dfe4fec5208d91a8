package mutation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const parentPrompt = "You are a support agent for {{company}}. Answer politely and never promise refunds.\n\nQuestion: {{question}}"

func TestOpenAIMutateSendsAWellFormedRequest(t *testing.T) {
	m, fake, _ := startLLM(t, []reply{
		{content: "You are a cheerful support agent for {{company}}. Answer kindly; never promise refunds.\n\nQuestion: {{question}}"},
		{content: "```text\nYou are a support agent for {{company}}. Be brief and never promise refunds.\n\nQuestion: {{question}}\n```"},
		{content: `"Here is the rewritten prompt:` + "\n" + `Support agent for {{company}}: answer politely, no refund promises. Question: {{question}}"`},
	}, nil)
	cands, err := m.Mutate(context.Background(), Request{Parent: parentPrompt, Count: 3, Instructions: "Prefer short sentences.", Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"You are a cheerful support agent for {{company}}. Answer kindly; never promise refunds.\n\nQuestion: {{question}}",
		"You are a support agent for {{company}}. Be brief and never promise refunds.\n\nQuestion: {{question}}",
		"Support agent for {{company}}: answer politely, no refund promises. Question: {{question}}",
	}
	if len(cands) != len(want) {
		t.Fatalf("got %d candidates, want %d", len(cands), len(want))
	}
	for i := range want {
		if cands[i].Text != want[i] || cands[i].Operator != OperatorLLM {
			t.Errorf("candidate %d = %+v, want %q", i, cands[i], want[i])
		}
	}
	if m.Name() != "openai" || m.Model() != "test-model" {
		t.Errorf("Name, Model = %q, %q", m.Name(), m.Model())
	}
	for i, req := range fake.requests {
		if got := fake.headers[i].Get("Authorization"); got != "Bearer "+testKey {
			t.Errorf("request %d: Authorization %q", i, got)
		}
		if req.Model != "test-model" || len(req.Messages) != 2 {
			t.Fatalf("request %d: model %q with %d messages", i, req.Model, len(req.Messages))
		}
		sys, user := req.Messages[0].Content, req.Messages[1].Content
		for _, s := range []string{"{{company}}, {{question}}", "Prefer short sentences.", "Reply with the new prompt only"} {
			if !strings.Contains(sys, s) {
				t.Errorf("request %d: system message lacks %q", i, s)
			}
		}
		if !strings.Contains(user, parentPrompt) {
			t.Errorf("request %d: the parent is missing from the user message", i)
		}
		if i > 0 && !strings.Contains(user, want[i-1]) {
			t.Errorf("request %d: earlier variants are not shown", i)
		}
	}
	if fake.requests[0].Messages[0].Content == fake.requests[1].Messages[0].Content {
		t.Error("successive calls should ask for different kinds of variation")
	}
}

func TestOpenAIAzure(t *testing.T) {
	fake := &fakeLLM{script: []reply{{content: "A variant."}}}
	srv := serve(t, fake)
	m, err := NewOpenAI(OpenAIConfig{Model: "my-deployment", BaseURL: srv.URL, APIKey: testKey, Azure: true, AzureAPIVersion: "2024-06-01"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Mutate(context.Background(), Request{Parent: "Say hi.", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if want := "/openai/deployments/my-deployment/chat/completions?api-version=2024-06-01"; fake.paths[0] != want {
		t.Errorf("path %q, want %q", fake.paths[0], want)
	}
	if got := fake.headers[0].Get("api-key"); got != testKey {
		t.Errorf("api-key header %q", got)
	}
	if !isAzureHost("my-resource.openai.azure.com") || isAzureHost("api.openai.com") {
		t.Error("isAzureHost misclassifies hosts")
	}
}

func TestNewOpenAIRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  OpenAIConfig
	}{
		{"no model", OpenAIConfig{BaseURL: "http://localhost"}},
		{"relative URL", OpenAIConfig{Model: "m", BaseURL: "localhost:8000/v1"}},
		{"other scheme", OpenAIConfig{Model: "m", BaseURL: "ftp://host/v1"}},
		{"negative timeout", OpenAIConfig{Model: "m", Timeout: -time.Second}},
		{"max backoff below initial", OpenAIConfig{Model: "m", InitialBackoff: time.Minute, MaxBackoff: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.APIKey = testKey
			_, err := NewOpenAI(tt.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			assertNoKey(t, err)
		})
	}
}

func TestOpenAIFaults(t *testing.T) {
	ok := reply{content: "Answer {{question}} for {{company}} warmly, and never promise refunds."}
	rateLimited := func(retryAfter string) reply {
		return reply{status: 429, header: map[string]string{"Retry-After": retryAfter}, body: apiError("Rate limit reached")}
	}
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		script    []reply
		configure func(*OpenAIConfig)
		count     int
		wantKind  ErrorKind // "" means no error
		wantCands int
		wantCalls int
		checkWait func(t *testing.T, waits []time.Duration)
	}{
		{
			name:      "429 storm honours Retry-After in seconds, then succeeds",
			script:    []reply{rateLimited("3"), rateLimited("3"), rateLimited("5"), ok},
			count:     1,
			wantCands: 1, wantCalls: 4,
			checkWait: func(t *testing.T, waits []time.Duration) {
				want := []time.Duration{3 * time.Second, 3 * time.Second, 5 * time.Second}
				if len(waits) != len(want) {
					t.Fatalf("waits %v, want %v", waits, want)
				}
				for i := range want {
					// At least what the provider asked, at most the jittered backoff if that is longer.
					if waits[i] < want[i] || waits[i] > max(want[i], DefaultInitialBackoff<<i) {
						t.Errorf("wait %d = %v, want %v", i, waits[i], want[i])
					}
				}
			},
		},
		{
			name:      "Retry-After as an HTTP date",
			script:    []reply{rateLimited(now.Add(20 * time.Second).Format(http.TimeFormat)), ok},
			configure: func(c *OpenAIConfig) { c.Now = func() time.Time { return now } },
			count:     1,
			wantCands: 1, wantCalls: 2,
			checkWait: func(t *testing.T, waits []time.Duration) {
				if len(waits) != 1 || waits[0] != 20*time.Second {
					t.Errorf("waits %v, want [20s]", waits)
				}
			},
		},
		{
			name:      "an endless 429 storm is bounded by MaxRetries",
			script:    []reply{rateLimited("1")},
			configure: func(c *OpenAIConfig) { c.MaxRetries = 3 },
			count:     2,
			wantKind:  KindRateLimited, wantCalls: 4,
			checkWait: waitCount(3),
		},
		{
			name:     "Retry-After beyond MaxBackoff stops without waiting",
			script:   []reply{rateLimited("3600")},
			count:    1,
			wantKind: KindRateLimited, wantCalls: 1,
			checkWait: waitCount(0),
		},
		{
			name:      "500s then success, with exponential backoff",
			script:    []reply{{status: 500, body: "upstream exploded"}, {status: 503, body: apiError("overloaded")}, ok},
			count:     1,
			wantCands: 1, wantCalls: 3,
			checkWait: func(t *testing.T, waits []time.Duration) {
				if len(waits) != 2 || waits[0] < 500*time.Millisecond || waits[0] > time.Second || waits[1] < time.Second || waits[1] > 2*time.Second {
					t.Errorf("waits %v, want about 1s then 2s with equal jitter", waits)
				}
			},
		},
		{
			name:      "MaxCalls bounds a whole Mutate",
			script:    []reply{ok, {status: 502, body: "bad gateway"}, ok, {status: 502}, {status: 502}, ok},
			configure: func(c *OpenAIConfig) { c.MaxCalls = 4 },
			count:     5,
			wantKind:  KindServer, wantCands: 2, wantCalls: 4,
		},
		{
			name:      "slow responses beyond the timeout",
			script:    []reply{{delay: 5 * time.Second}},
			configure: func(c *OpenAIConfig) { c.Timeout = 50 * time.Millisecond; c.MaxRetries = 1 },
			count:     1,
			wantKind:  KindTimeout, wantCalls: 2,
		},
		{
			name:      "one slow response, then success",
			script:    []reply{{delay: 5 * time.Second}, ok},
			configure: func(c *OpenAIConfig) { c.Timeout = 50 * time.Millisecond },
			count:     1,
			wantCands: 1, wantCalls: 2,
		},
		{name: "400 is not retried", script: []reply{{status: 400, body: apiError("bad parameter")}}, count: 1, wantKind: KindBadRequest, wantCalls: 1},
		{name: "401 is not retried", script: []reply{{status: 401, body: apiError("invalid key")}}, count: 1, wantKind: KindUnauthorized, wantCalls: 1},
		{name: "403 is not retried", script: []reply{{status: 403, body: "forbidden"}}, count: 1, wantKind: KindUnauthorized, wantCalls: 1},
		{name: "404 is not retried", script: []reply{{status: 404, body: apiError("model not found")}}, count: 1, wantKind: KindBadRequest, wantCalls: 1},
		{
			name:     "malformed JSON",
			script:   []reply{{body: `{"choices": [{"message": {"content": "trunc`}},
			count:    1,
			wantKind: KindBadResponse, wantCalls: DefaultMaxRetries + 1,
		},
		{
			name:      "malformed JSON once, then a good variant",
			script:    []reply{{body: `not json at all`}, ok},
			count:     1,
			wantCands: 1, wantCalls: 2,
		},
		{name: "no choices", script: []reply{{body: `{"choices": []}`}}, count: 1, wantKind: KindBadResponse, wantCalls: 4},
		{name: "empty text", script: []reply{{content: "```\n\n```"}}, count: 1, wantKind: KindBadResponse, wantCalls: 4},
		{name: "truncated output", script: []reply{{body: completion("Answer the", "length")}}, count: 1, wantKind: KindBadResponse, wantCalls: 4},
		{name: "Count zero makes no call", script: []reply{ok}, count: 0, wantCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, fake, rec := startLLM(t, tt.script, tt.configure)
			start := time.Now()
			cands, err := m.Mutate(context.Background(), Request{Parent: parentPrompt, Count: tt.count, Seed: 1})
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("Mutate took %v", elapsed)
			}
			assertNoKey(t, err)
			if got := KindOf(err); got != tt.wantKind {
				t.Fatalf("error kind %q (%v), want %q", got, err, tt.wantKind)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Attempts == 0 || len(e.Detail) > maxDetail+3 {
					t.Errorf("error %#v should be an *Error with attempts and a short detail", err)
				}
			}
			if len(cands) != tt.wantCands {
				t.Errorf("%d candidates, want %d", len(cands), tt.wantCands)
			}
			if got := fake.callCount(); got != tt.wantCalls {
				t.Errorf("%d calls, want %d", got, tt.wantCalls)
			}
			if tt.checkWait != nil {
				tt.checkWait(t, rec.waits)
			}
		})
	}
}

// waitCount checks that the client waited n times before it gave up or succeeded.
func waitCount(n int) func(*testing.T, []time.Duration) {
	return func(t *testing.T, waits []time.Duration) {
		t.Helper()
		if len(waits) != n {
			t.Errorf("waits %v, want %d of them", waits, n)
		}
	}
}

func TestOpenAIErrorsNeverContainTheKey(t *testing.T) {
	long := strings.Repeat("blah ", 400)
	tests := []struct {
		name string
		rep  reply
	}{
		{"JSON error echoing the header", reply{status: 401, echo: true, body: apiError("Incorrect API key provided: $AUTH. " + long)}},
		{"plain-text error echoing the header", reply{status: 403, echo: true, body: "Authorization: $AUTH rejected " + long}},
		{"server error echoing the header", reply{status: 500, echo: true, body: `{"detail": "$AUTH"}` + long}},
		{"bad request quoting the bare key", reply{status: 400, body: apiError("key " + testKey + " has no access")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, _ := startLLM(t, []reply{tt.rep}, func(c *OpenAIConfig) { c.MaxRetries = -1 })
			_, err := m.Mutate(context.Background(), Request{Parent: parentPrompt, Count: 1})
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			assertNoKey(t, err)
			if n := len(err.Error()); n > 300 {
				t.Errorf("error is %d bytes long; provider bodies must be trimmed", n)
			}
			if !strings.Contains(err.Error(), redacted) {
				t.Errorf("expected a redaction marker in %q", err)
			}
		})
	}
}

func TestOpenAIContext(t *testing.T) {
	t.Run("a wait past the deadline is not started", func(t *testing.T) {
		m, fake, rec := startLLM(t, []reply{{status: 429, header: map[string]string{"Retry-After": "30"}}}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := m.Mutate(ctx, Request{Parent: parentPrompt, Count: 1})
		if KindOf(err) != KindRateLimited || fake.callCount() != 1 || len(rec.waits) != 0 {
			t.Fatalf("err %v, %d calls, waits %v", err, fake.callCount(), rec.waits)
		}
		var e *Error
		if errors.As(err, &e); e.RetryAfter != 30*time.Second {
			t.Errorf("RetryAfter = %v, want 30s", e.RetryAfter)
		}
	})
	t.Run("cancellation during a call", func(t *testing.T) {
		m, _, _ := startLLM(t, []reply{{delay: 5 * time.Second}}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := m.Mutate(ctx, Request{Parent: parentPrompt, Count: 1})
		if KindOf(err) != KindCanceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled wrapping context.Canceled", err)
		}
	})
	t.Run("real sleep ends with the context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := sleepContext(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("sleepContext = %v", err)
		}
	})
}

func TestOpenAIUnreachable(t *testing.T) {
	srv := serve(t, http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	rec := &sleepRecorder{}
	m, err := NewOpenAI(OpenAIConfig{Model: "m", BaseURL: url + "/v1", APIKey: testKey, Sleep: rec.sleep, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Mutate(context.Background(), Request{Parent: "Say hi.", Count: 1})
	if KindOf(err) != KindUnreachable || len(rec.waits) != 2 {
		t.Fatalf("err %v, waits %v", err, rec.waits)
	}
	assertNoKey(t, err)
}

// TestOpenAIConcurrentMutate shares one mutator between goroutines; run with
// -race. Their calls come out of one budget: exactly enough for all of them,
// and a further Mutate finds it spent without calling.
func TestOpenAIConcurrentMutate(t *testing.T) {
	m, fake, _ := startLLM(t, []reply{
		{status: 429, header: map[string]string{"Retry-After": "1"}},
		{content: "Variant for {{company}} and {{question}}."},
	}, func(c *OpenAIConfig) { c.MaxCalls = 17 })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := m.Mutate(context.Background(), Request{Parent: parentPrompt, Count: 2})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if fake.callCount() != 17 {
		t.Errorf("%d calls, want 17 (one rate-limited call in total)", fake.callCount())
	}
	if cands, err := m.Mutate(context.Background(), Request{Parent: parentPrompt, Count: 1}); !errors.Is(err, ErrBudgetSpent) || len(cands) != 0 || fake.callCount() != 17 {
		t.Errorf("Mutate after the budget = %v, %v with %d calls; want ErrBudgetSpent and no call", cands, err, fake.callCount())
	}
}

// TestGenerateEndsWhenTheBudgetIsSpent: a provider whose every answer is
// rejected (the parent's own text) is asked until the mutator's budget is
// spent, not MaxAttempts times, and that is no error.
func TestGenerateEndsWhenTheBudgetIsSpent(t *testing.T) {
	m, fake, _ := startLLM(t, []reply{{content: parentPrompt}}, func(c *OpenAIConfig) { c.MaxCalls = 3 })
	admitted, rejected, err := Generate(context.Background(), m, Guardrails{MaxLength: 4096, MinNovelty: 0.15}, Request{Parent: parentPrompt, Count: 2}, nil, MaxAttempts)
	if err != nil || len(admitted) != 0 || fake.callCount() != 3 || len(rejected) != 3 {
		t.Errorf("Generate = %d admitted, %d rejected, %v after %d calls; want 0, 3, nil after 3", len(admitted), len(rejected), err, fake.callCount())
	}
}

// TestGenerateWithOpenAI runs the driver against the fake endpoint: bad
// outputs of every kind are rejected with their reasons and only the good
// variant is admitted.
func TestGenerateWithOpenAI(t *testing.T) {
	history := []string{
		parentPrompt,
		"You are a patient support agent for {{company}}. Answer politely and never promise refunds.\n\nQuestion: {{question}}",
	}
	good := "As the {{company}} support team, reply to {{question}} in two friendly sentences without promising refunds."
	m, fake, _ := startLLM(t, []reply{
		{content: "You are a support agent for {{company}}. Answer politely and never promise refunds."},            // drops a placeholder
		{content: "You are a support agent for {{company}}. We guarantee a full refund!\n\nQuestion: {{question}}"}, // forbidden
		{content: history[1]},                     // copies history
		{content: "```\n" + history[1] + "\n```"}, // copies history in a fence
		{content: "You are a support agent for {{company}} and {{brand}}. Answer politely, never promise refunds. {{question}}"}, // invents
		{content: good},
		{content: good}, // a duplicate of what was just admitted
	}, nil)
	forbidden, err := CompilePatterns([]string{`(?i)\bguarantee`})
	if err != nil {
		t.Fatal(err)
	}
	g := Guardrails{MaxLength: 500, Forbidden: forbidden, PreservePlaceholders: true, MinNovelty: 0.2}
	admitted, rejected, err := Generate(context.Background(), m, g, Request{Parent: parentPrompt, Count: 2, Seed: 3}, history, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(admitted) != 1 || admitted[0].Text != good {
		t.Fatalf("admitted %v, want only the good variant", admitted)
	}
	var reasons []Reason
	for _, r := range rejected {
		reasons = append(reasons, r.Reason)
	}
	want := []Reason{ReasonPlaceholderMissing, ReasonForbiddenPattern, ReasonDuplicate, ReasonDuplicate, ReasonPlaceholderInvented, ReasonDuplicate}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("reasons %v, want %v", reasons, want)
	}
	if fake.callCount() != 7 {
		t.Errorf("%d calls, want 7 (2+2+2+1 over four attempts)", fake.callCount())
	}
}

func FuzzCleanOutput(f *testing.F) {
	for _, s := range []string{"", "```\nx\n```", `"quoted"`, `{"prompt": "p"}`, "<prompt>\nx\n</prompt>", "Here is it:\nx", "“a”"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := cleanOutput(s)
		if out != strings.TrimSpace(out) {
			t.Fatalf("cleanOutput(%q) = %q has surrounding space", s, out)
		}
		if len(out) > len(s) && !strings.HasPrefix(strings.TrimSpace(s), "{") && !strings.HasPrefix(strings.TrimSpace(s), `"`) {
			t.Fatalf("cleanOutput(%q) = %q grew", s, out)
		}
	})
}

func TestCleanOutput(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  plain prompt  ", "plain prompt"},
		{"```\nfenced\n```", "fenced"},
		{"```markdown\nfenced with tag\n```", "fenced with tag"},
		{`"double quoted"`, "double quoted"},
		{"“curly quoted”", "curly quoted"},
		{`"say "hi" now"`, `"say "hi" now"`},
		{"<prompt>\ntagged\n</prompt>", "tagged"},
		{"Sure! Here is the new prompt:\nthe prompt", "the prompt"},
		{"Variant: labelled", "labelled"},
		{`{"prompt": "from json"}`, "from json"},
		{`{"anything": "single field"}`, "single field"},
		{`{"a": "x", "b": "y"}`, `{"a": "x", "b": "y"}`},
		{"```\n\"both\"\n```", "both"},
		{"```\n```", ""},
		{`""`, ""},
	}
	for _, tt := range tests {
		if got := cleanOutput(tt.in); got != tt.want {
			t.Errorf("cleanOutput(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Compile-time checks that both mutators satisfy the interface.
var (
	_ Mutator = (*OpenAI)(nil)
	_ Mutator = Offline{}
)
