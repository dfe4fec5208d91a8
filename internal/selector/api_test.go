package selector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

type drawAnswer struct {
	Portfolio, Arm, Prompt, Decision string
}

func drawOne(t *testing.T, a *api) drawAnswer {
	t.Helper()
	w := do(a, http.MethodGet, PathDraw+"?portfolio=pf", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("draw: %d %s", w.Code, w.Body)
	}
	var d drawAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
		t.Fatalf("draw answer %q: %v", w.Body, err)
	}
	return d
}

func rewardBody(decision string, success bool) []byte {
	b, _ := json.Marshal(map[string]any{"decision": decision, "success": success})
	return b
}

func TestDraw(t *testing.T) {
	a, _ := newTestAPI(t, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive, "pf-b": "", "pf-old": v1alpha1.ArmRetired})
	seen := map[string]int{}
	for range 200 {
		d := drawOne(t, a)
		seen[d.Arm]++
		if d.Portfolio != "pf" || d.Prompt != `Say "hi" to `+d.Arm || d.Decision == "" {
			t.Fatalf("draw answer %+v", d)
		}
	}
	if seen["pf-old"] != 0 || seen["pf-a"] == 0 || seen["pf-b"] == 0 {
		t.Errorf("draws by arm: %v", seen)
	}
	w := do(a, http.MethodPost, PathDraw, []byte(`{"portfolio":"pf"}`))
	if w.Code != http.StatusOK {
		t.Errorf("POST draw: %d %s", w.Code, w.Body)
	}
}

func TestDrawFollowsRewards(t *testing.T) {
	a, _ := newTestAPI(t, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive, "pf-b": v1alpha1.ArmActive})
	arm := (*a.reg.portfolio("pf").all.Load())["pf-b"]
	arm.ackedS.Store(500) // this process's unflushed successes count in draws
	other := (*a.reg.portfolio("pf").all.Load())["pf-a"]
	other.ackedF.Store(500)
	for range 50 {
		if d := drawOne(t, a); d.Arm != "pf-b" {
			t.Fatalf("drew %s against 500:0 evidence", d.Arm)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	a, clock := newTestAPI(t, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive, "pf-old": v1alpha1.ArmRetired})
	good := drawOne(t, a).Decision
	forged := string(appendToken(nil, new([]byte), newSigningKey([]byte(strings.Repeat("z", 32))),
		Decision{Portfolio: "pf", Arm: "pf-a", IssuedAt: clock.t, Issuer: 1, Seq: 1}))
	signed := func(portfolio, arm string, at time.Time) string {
		return string(appendToken(nil, new([]byte), newSigningKey(testKey), Decision{Portfolio: portfolio, Arm: arm, IssuedAt: at, Issuer: 1, Seq: 99}))
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		status int
		reason string
	}{
		{"unknown path", http.MethodGet, "/nope", nil, 404, ReasonNotFound},
		{"draw by PUT", http.MethodPut, PathDraw, nil, 405, ReasonMethod},
		{"reward by GET", http.MethodGet, PathReward, nil, 405, ReasonMethod},
		{"draw without portfolio", http.MethodGet, PathDraw, nil, 400, ReasonMalformed},
		{"draw of unknown portfolio", http.MethodGet, PathDraw + "?portfolio=zz", nil, 404, ReasonUnknownPortfolio},
		{"draw with bad JSON", http.MethodPost, PathDraw, []byte(`{"portfolio":`), 400, ReasonMalformed},
		{"reward with bad JSON", http.MethodPost, PathReward, []byte(`[1,2]`), 400, ReasonMalformed},
		{"reward without success", http.MethodPost, PathReward, []byte(`{"decision":"` + good + `"}`), 400, ReasonMalformed},
		{"reward with garbage token", http.MethodPost, PathReward, rewardBody("abc", true), 400, ReasonMalformed},
		{"reward too large", http.MethodPost, PathReward, []byte(`{"decision":"` + strings.Repeat("a", 9000) + `"}`), 413, ReasonTooLarge},
		{"forged token", http.MethodPost, PathReward, rewardBody(forged, true), 401, ReasonBadSignature},
		{"unknown portfolio", http.MethodPost, PathReward, rewardBody(signed("zz", "pf-a", clock.t), true), 404, ReasonUnknownPortfolio},
		{"unknown arm", http.MethodPost, PathReward, rewardBody(signed("pf", "pf-zz", clock.t), true), 404, ReasonUnknownArm},
		{"expired", http.MethodPost, PathReward, rewardBody(signed("pf", "pf-a", clock.t.Add(-11*time.Minute)), true), 410, ReasonExpired},
		{"from the future", http.MethodPost, PathReward, rewardBody(signed("pf", "pf-a", clock.t.Add(time.Hour)), true), 400, ReasonMalformed},
		{"retired arm still collects", http.MethodPost, PathReward, rewardBody(signed("pf", "pf-old", clock.t), false), 202, ""},
		{"first reward", http.MethodPost, PathReward, rewardBody(good, true), 202, ""},
		{"duplicate", http.MethodPost, PathReward, rewardBody(good, false), 409, ReasonDuplicate},
		{"healthz", http.MethodGet, PathHealthz, nil, 200, ""},
		{"readyz", http.MethodGet, PathReadyz, nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(a, tt.method, tt.path, tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.reason == "" {
				return
			}
			var e errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Reason != tt.reason || e.Error == "" {
				t.Errorf("error body %s, want reason %s", w.Body, tt.reason)
			}
		})
	}
	all := *a.reg.portfolio("pf").all.Load()
	if s, f := all["pf-a"].ackedS.Load(), all["pf-a"].ackedF.Load(); s != 1 || f != 0 {
		t.Errorf("pf-a acknowledged %d/%d, want 1/0", s, f)
	}
	if f := all["pf-old"].ackedF.Load(); f != 1 {
		t.Errorf("pf-old acknowledged %d failures, want 1", f)
	}
	if w := do(a, http.MethodGet, PathMetrics, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `promptfolio_selector_rejections_total{reason="duplicate"} 1`) {
		t.Errorf("metrics: %d %s", w.Code, w.Body)
	}
}

// TestParseRewardBody checks which bodies the fast path decodes, and that encoding/json decodes
// them to the same values. Every other body goes to encoding/json.
func TestParseRewardBody(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		ok       bool
		decision string
		success  bool
	}{
		{"compact", `{"decision":"AQ-_x","success":true}`, true, "AQ-_x", true},
		{"false", `{"decision":"AQ","success":false}`, true, "AQ", false},
		{"keys reversed", `{"success":false,"decision":"AQ"}`, true, "AQ", false},
		{"whitespace everywhere", " \t\r\n{ \n\"decision\" :\t\"AQ\" ,\r\"success\"\n: true }\n ", true, "AQ", true},
		{"empty decision", `{"decision":"","success":true}`, true, "", true},
		{"printable ASCII", `{"decision":" !#~","success":true}`, true, " !#~", true},
		{"escape", `{"decision":"A\u0051","success":true}`, false, "", false},
		{"escaped quote", `{"decision":"A\"Q","success":true}`, false, "", false},
		{"non-ASCII", `{"decision":"Ä","success":true}`, false, "", false},
		{"control character", "{\"decision\":\"A\x01\",\"success\":true}", false, "", false},
		{"capitalised key", `{"Decision":"AQ","success":true}`, false, "", false},
		{"escaped key", `{"decisio\u006e":"AQ","success":true}`, false, "", false},
		{"duplicate key", `{"decision":"AQ","decision":"BQ"}`, false, "", false},
		{"unknown key", `{"decision":"AQ","success":true,"x":1}`, false, "", false},
		{"missing success", `{"decision":"AQ"}`, false, "", false},
		{"missing decision", `{"success":true}`, false, "", false},
		{"null", `{"decision":null,"success":true}`, false, "", false},
		{"success null", `{"decision":"AQ","success":null}`, false, "", false},
		{"success number", `{"decision":"AQ","success":1}`, false, "", false},
		{"success string", `{"decision":"AQ","success":"true"}`, false, "", false},
		{"truthy prefix", `{"decision":"AQ","success":truex}`, false, "", false},
		{"nested", `{"decision":{"a":"b"},"success":true}`, false, "", false},
		{"trailing data", `{"decision":"AQ","success":true}x`, false, "", false},
		{"two objects", `{"decision":"AQ","success":true}{}`, false, "", false},
		{"trailing comma", `{"decision":"AQ","success":true,}`, false, "", false},
		{"unterminated string", `{"decision":"AQ`, false, "", false},
		{"truncated", `{"decision":"AQ","success":tru`, false, "", false},
		{"array", `["decision","AQ"]`, false, "", false},
		{"empty", ``, false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decision, success, ok := parseRewardBody([]byte(tt.body))
			if ok != tt.ok || string(decision) != tt.decision || success != tt.success {
				t.Errorf("parseRewardBody = %q, %v, %v; want %q, %v, %v", decision, success, ok, tt.decision, tt.success, tt.ok)
			}
			checkRewardBodyAsJSON(t, []byte(tt.body))
		})
	}
}

// checkRewardBodyAsJSON fails t when parseRewardBody accepts body but encoding/json decodes it to
// other values, or not at all.
func checkRewardBodyAsJSON(t *testing.T, body []byte) {
	t.Helper()
	decision, success, ok := parseRewardBody(body)
	if !ok {
		return
	}
	var req rewardRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json: %v", body, err)
	}
	if req.Decision != string(decision) || req.Success == nil || *req.Success != success {
		t.Fatalf("fast path decoded %q as %q, %v; encoding/json as %+v", body, decision, success, req)
	}
}

// TestRewardBodies checks that bodies of every shape reach the same answers, whichever decoder
// reads them.
func TestRewardBodies(t *testing.T) {
	a, _ := newTestAPI(t, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive})
	escapeFirst := func(tok string) string { return fmt.Sprintf(`\u%04x`, tok[0]) + tok[1:] }
	tests := []struct {
		name   string
		body   func(tok string) string
		status int
		reason string
	}{
		{"compact", func(tok string) string { return `{"decision":"` + tok + `","success":true}` }, 202, ""},
		{"reversed, spaced", func(tok string) string { return "\n{ \"success\" : false ,\t\"decision\" : \"" + tok + "\" }\r\n" }, 202, ""},
		{"escaped token", func(tok string) string { return `{"decision":"` + escapeFirst(tok) + `","success":true}` }, 202, ""},
		{"capitalised keys", func(tok string) string { return `{"DECISION":"` + tok + `","Success":true}` }, 202, ""},
		{"duplicate key, last wins", func(tok string) string { return `{"decision":"x","decision":"` + tok + `","success":true}` }, 202, ""},
		{"unknown key ignored", func(tok string) string { return `{"decision":"` + tok + `","success":true,"extra":[1]}` }, 202, ""},
		{"success null", func(tok string) string { return `{"decision":"` + tok + `","success":null}` }, 400, ReasonMalformed},
		{"decision null", func(string) string { return `{"decision":null,"success":true}` }, 400, ReasonMalformed},
		{"empty decision", func(string) string { return `{"decision":"","success":true}` }, 400, ReasonMalformed},
		{"success string", func(tok string) string { return `{"decision":"` + tok + `","success":"yes"}` }, 400, ReasonMalformed},
		{"trailing data", func(tok string) string { return `{"decision":"` + tok + `","success":true} {}` }, 400, ReasonMalformed},
		{"not a token", func(string) string { return `{"decision":"!!","success":true}` }, 400, ReasonMalformed},
		{"token with line breaks", func(tok string) string { return `{"decision":"` + tok[:4] + `\n` + tok[4:] + `","success":true}` }, 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body(drawOne(t, a).Decision)
			w := do(a, http.MethodPost, PathReward, []byte(body))
			if w.Code != tt.status || (tt.reason != "" && !strings.Contains(w.Body.String(), `"reason":"`+tt.reason+`"`)) {
				t.Errorf("%s: %d %s, want %d %s", body, w.Code, w.Body, tt.status, tt.reason)
			}
		})
	}
}

// TestRewardBodyLimit checks the 413 answers: a body longer than the limit closes the connection,
// as http.MaxBytesReader makes the server do, and a body of exactly the limit is read.
func TestRewardBodyLimit(t *testing.T) {
	a, _ := newTestAPI(t, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive})
	a.maxBody = 64
	srv := httptest.NewServer(a)
	defer srv.Close()
	// post returns the answer's status and whether the server closes the connection.
	post := func(body io.Reader, length int64) (status int, closes bool) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+PathReward, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Close
	}
	// Without a Content-Length the body is sent chunked and only reading it finds its size.
	long := io.MultiReader(strings.NewReader(`{"decision":"`), strings.NewReader(strings.Repeat("A", 100)))
	if status, closes := post(long, -1); status != 413 || !closes {
		t.Errorf("chunked body over the limit: %d, connection close %v", status, closes)
	}
	if status, _ := post(strings.NewReader(strings.Repeat(" ", 65)), 65); status != 413 {
		t.Errorf("Content-Length over the limit: %d", status)
	}
	exact := `{"decision":"x","success":true}`
	exact += strings.Repeat(" ", 64-len(exact))
	if status, closes := post(io.MultiReader(strings.NewReader(exact)), -1); status != 400 || closes {
		t.Errorf("body of exactly the limit: %d, connection close %v", status, closes)
	}
}

// TestRewardBodyReadError checks that a body that fails to read is answered 400. What was read
// before the error is a complete, valid reward, so only the read error can make the answer 400.
func TestRewardBodyReadError(t *testing.T) {
	a, _ := newTestAPI(t, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive})
	valid := rewardBody(drawOne(t, a).Decision, true)
	r := httptest.NewRequest(http.MethodPost, PathReward, io.MultiReader(bytes.NewReader(valid), iotest.ErrReader(errors.New("reset"))))
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	if w.Code != 400 || !strings.Contains(w.Body.String(), ReasonMalformed) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

func TestNotReadyAndShutdown(t *testing.T) {
	a, _ := newTestAPI(t, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive})
	tok := drawOne(t, a).Decision
	a.synced = func() bool { return false }
	for _, p := range []string{PathReadyz, PathDraw + "?portfolio=pf"} {
		if w := do(a, http.MethodGet, p, nil); w.Code != 503 || !strings.Contains(w.Body.String(), ReasonNotReady) {
			t.Errorf("%s before sync: %d %s", p, w.Code, w.Body)
		}
	}
	a.synced = func() bool { return true }
	a.stopAccepting(nil)
	if w := do(a, http.MethodPost, PathReward, rewardBody(tok, true)); w.Code != 503 || !strings.Contains(w.Body.String(), ReasonShuttingDown) {
		t.Errorf("reward during shutdown: %d %s", w.Code, w.Body)
	}
	if w := do(a, http.MethodGet, PathReadyz, nil); w.Code != 503 {
		t.Errorf("readyz during shutdown: %d", w.Code)
	}
}

// TestBacklogBound checks that rewards beyond the bound of unwritten ones are refused with a
// JSON 503, not acknowledged and dropped.
func TestBacklogBound(t *testing.T) {
	a, _ := newTestAPI(t, map[string]v1alpha1.ArmPhase{"pf-a": v1alpha1.ArmActive})
	a.maxPending = 3
	for i := range 3 {
		if w := do(a, http.MethodPost, PathReward, rewardBody(drawOne(t, a).Decision, true)); w.Code != 202 {
			t.Fatalf("reward %d: %d", i, w.Code)
		}
	}
	w := do(a, http.MethodPost, PathReward, rewardBody(drawOne(t, a).Decision, true))
	if w.Code != 503 || !strings.Contains(w.Body.String(), ReasonBacklogFull) || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("reward beyond the backlog bound: %d %s", w.Code, w.Body)
	}
	arm := (*a.reg.portfolio("pf").all.Load())["pf-a"]
	if got := arm.ackedS.Load(); got != 3 {
		t.Errorf("acknowledged %d, want 3", got)
	}
	a.settle(&arm.flushedS, 3)
	if w := do(a, http.MethodPost, PathReward, rewardBody(drawOne(t, a).Decision, true)); w.Code != 202 {
		t.Errorf("reward after the backlog was written: %d %s", w.Code, w.Body)
	}
}

func BenchmarkDraw(b *testing.B) {
	arms := map[string]v1alpha1.ArmPhase{}
	for i := range 10 {
		arms["pf-"+string(rune('a'+i))] = v1alpha1.ArmActive
	}
	a, _ := newTestAPI(b, arms)
	w := &discardWriter{h: http.Header{}}
	r, _ := http.NewRequest(http.MethodGet, PathDraw+"?portfolio=pf", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			a.ServeHTTP(w, r)
		}
	})
	_ = w
}

type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }

// TestTrimArm checks that the cache transform keeps what the registry reads and drops the rest.
func TestTrimArm(t *testing.T) {
	arm := testArm("a", v1alpha1.ArmRetired, 3, 4)
	arm.ResourceVersion = "42"
	arm.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
	arm.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "m"}}
	arm.Spec.Origin = v1alpha1.ArmOrigin{Parent: "p"}
	arm.Status.Mean = 0.5
	got, err := trimArm(arm)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := got.(*v1alpha1.PromptArm)
	if trimmed.Annotations != nil || trimmed.ManagedFields != nil || trimmed.Spec.Origin.Parent != "" || trimmed.Status.Mean != 0 {
		t.Errorf("fields the selector does not read were kept: %+v", trimmed)
	}
	if trimmed.Name != "a" || trimmed.Namespace != "ns" || trimmed.ResourceVersion != "42" || trimmed.Labels[PortfolioLabel] != "pf" ||
		trimmed.Spec.Portfolio != "pf" || trimmed.Spec.Prompt != arm.Spec.Prompt || trimmed.Spec.Prior != arm.Spec.Prior ||
		trimmed.Status.Phase != v1alpha1.ArmRetired || trimmed.Status.Failures != 4 {
		t.Errorf("fields the selector reads were lost: %+v", trimmed)
	}
	if other, _ := trimArm("not an arm"); other != "not an arm" {
		t.Errorf("other objects changed: %v", other)
	}
}

// BenchmarkReward measures the reward handler on distinct, valid decisions for K = 10 arms.
func BenchmarkReward(b *testing.B) {
	arms := map[string]v1alpha1.ArmPhase{}
	for i := range 10 {
		arms["pf-"+string(rune('a'+i))] = v1alpha1.ArmActive
	}
	a, clock := newTestAPI(b, arms)
	key := newSigningKey(testKey)
	bodies := make([][]byte, b.N)
	for i := range bodies {
		tok := appendToken(nil, new([]byte), key, Decision{Portfolio: "pf", Arm: "pf-" + string(rune('a'+i%10)), IssuedAt: clock.t, Issuer: 1, Seq: uint64(i)})
		bodies[i] = rewardBody(string(tok), i%3 == 0)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		body := &bytes.Reader{}
		r, _ := http.NewRequest(http.MethodPost, PathReward, body)
		for pb.Next() {
			body.Reset(bodies[next.Add(1)-1])
			r.Body = io.NopCloser(body)
			r.ContentLength = int64(body.Len())
			a.ServeHTTP(w, r)
			if w.status != http.StatusAccepted {
				b.Fatalf("status %d", w.status)
			}
		}
	})
}
