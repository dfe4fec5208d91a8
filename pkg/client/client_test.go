package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeSelector imitates a selector's reward semantics: a per-process replay set, a writer id,
// and faults chosen per test.
type fakeSelector struct {
	mu      sync.Mutex
	writer  string
	seen    map[string]bool
	counted int
	// script answers the next requests: "lose" counts and drops the answer, "restart" starts a
	// new process (new writer, empty replay set) before handling, "503" answers 503.
	script []string
}

func (f *fakeSelector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	step := ""
	if len(f.script) > 0 {
		step, f.script = f.script[0], f.script[1:]
	}
	if step == "restart" {
		f.writer += "'"
		f.seen = map[string]bool{}
	}
	writer := f.writer
	f.mu.Unlock()
	w.Header().Set(WriterHeader, writer)
	reply := func(code int, reason string) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": reason, "reason": reason})
	}
	if r.URL.Path == "/v1/draw" {
		_ = json.NewEncoder(w).Encode(Decision{Portfolio: "pf", Arm: "pf-a", Prompt: "hi", Decision: "tok"})
		return
	}
	if step == "503" {
		reply(503, "shutting_down")
		return
	}
	if h := r.Header.Get(WriterHeader); h != "" && h != writer {
		reply(412, "writer_changed")
		return
	}
	var req struct{ Decision string }
	_ = json.NewDecoder(r.Body).Decode(&req)
	if req.Decision == "old" {
		reply(410, "expired")
		return
	}
	f.mu.Lock()
	dup := f.seen[req.Decision]
	if !dup {
		f.seen[req.Decision] = true
		f.counted++
	}
	f.mu.Unlock()
	if step == "lose" {
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
		return
	}
	if dup {
		reply(409, "duplicate")
		return
	}
	w.WriteHeader(202)
}

func TestReward(t *testing.T) {
	tests := []struct {
		name     string
		script   []string
		decision string
		before   bool // the decision was rewarded before the call
		wantErr  error
		reason   string
		counted  int
	}{
		{"accepted", nil, "d", false, nil, "", 1},
		{"selector busy, then accepted", []string{"503", "503"}, "d", false, nil, "", 1},
		{"answer lost, retry finds the duplicate", []string{"lose"}, "d", false, nil, "", 1},
		{"answer lost, selector restarted", []string{"lose", "restart"}, "d", false, ErrOutcomeUnknown, "", 1},
		{"rewarded before", nil, "d", true, ErrDuplicate, "", 1},
		{"expired", nil, "old", false, nil, "expired", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSelector{writer: "w", seen: map[string]bool{}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			c := New(srv.URL, WithRetries(3, time.Millisecond), WithTimeout(time.Second))
			ctx := context.Background()
			if _, err := c.Draw(ctx, "pf"); err != nil {
				t.Fatal(err)
			}
			if tt.before {
				if err := c.Reward(ctx, tt.decision, true); err != nil {
					t.Fatal(err)
				}
			}
			f.mu.Lock()
			f.script = tt.script
			f.mu.Unlock()
			err := c.Reward(ctx, tt.decision, true)
			var apiErr *Error
			switch {
			case tt.reason != "":
				if !errors.As(err, &apiErr) || apiErr.Reason != tt.reason {
					t.Errorf("err = %v, want reason %s", err, tt.reason)
				}
			case !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if f.counted != tt.counted {
				t.Errorf("counted %d times, want %d", f.counted, tt.counted)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c := New(srv.URL, WithRetries(2, time.Millisecond))
	if _, err := c.Draw(context.Background(), "pf"); err == nil {
		t.Error("draw from a closed selector succeeded")
	}
	if err := c.Reward(context.Background(), "d", true); err == nil || errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("reward to a closed selector: %v, want a plain connection error", err)
	}
}
