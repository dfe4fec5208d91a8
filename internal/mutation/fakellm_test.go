package mutation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

const testKey = "sk-test-0123456789abcdefSECRETKEY"

// reply is one scripted answer of the fake endpoint.
type reply struct {
	status  int               // 0 means 200
	header  map[string]string // extra response headers
	body    string            // raw body; empty with status 200 means "a variant"
	content string            // with status 200 and no body: the variant text
	delay   time.Duration     // wait before answering (the request may give up first)
	echo    bool              // put the request's Authorization header into the body
}

// fakeLLM is a local OpenAI-compatible endpoint that answers from a script;
// the last reply repeats once the script is used up.
type fakeLLM struct {
	mu       sync.Mutex
	script   []reply
	calls    int
	requests []openai.ChatCompletionRequest
	headers  []http.Header
	paths    []string
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req openai.ChatCompletionRequest
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &req)
	f.mu.Lock()
	rep := f.script[min(f.calls, len(f.script)-1)]
	f.calls++
	f.requests = append(f.requests, req)
	f.headers = append(f.headers, r.Header.Clone())
	f.paths = append(f.paths, r.URL.RequestURI())
	f.mu.Unlock()

	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	status := rep.status
	if status == 0 {
		status = http.StatusOK
	}
	out := rep.body
	if rep.echo {
		out = strings.ReplaceAll(out, "$AUTH", r.Header.Get("Authorization")+r.Header.Get("api-key"))
	}
	if status == http.StatusOK && out == "" {
		out = completion(rep.content, "stop")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, out)
}

func (f *fakeLLM) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// completion is a chat-completion response body with one choice.
func completion(content, finish string) string {
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
		"choices": []map[string]any{{"index": 0, "finish_reason": finish,
			"message": map[string]any{"role": "assistant", "content": content}}},
	})
	return string(b)
}

// apiError is an OpenAI-style error body.
func apiError(msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "test"}})
	return string(b)
}

// sleepRecorder replaces time.Sleep: it records every wait and returns at
// once, so tests assert waits without spending them.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

// startLLM serves script on /v1/chat/completions and returns a mutator
// configured against it.
func startLLM(t *testing.T, script []reply, configure func(*OpenAIConfig)) (*OpenAI, *fakeLLM, *sleepRecorder) {
	t.Helper()
	fake := &fakeLLM{script: script}
	mux := http.NewServeMux()
	mux.Handle("/v1/chat/completions", fake)
	srv := serve(t, mux)
	rec := &sleepRecorder{}
	cfg := OpenAIConfig{
		Model:   "test-model",
		BaseURL: srv.URL + "/v1",
		APIKey:  testKey,
		Timeout: 2 * time.Second,
		Sleep:   rec.sleep,
	}
	if configure != nil {
		configure(&cfg)
	}
	m, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, fake, rec
}

// serve starts h on a local HTTP server that is closed when the test ends.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// assertNoKey fails when the API key, or a recognisable part of it, is in err.
func assertNoKey(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if s := err.Error(); strings.Contains(s, testKey) || strings.Contains(s, "SECRETKEY") || strings.Contains(s, testKey[:12]) {
		t.Fatalf("the API key leaked into the error: %s", s)
	}
}
