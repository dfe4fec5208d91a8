package selector_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/selector"
	"github.com/promptfolio/promptfolio/internal/selector/faultproxy"
)

// TestFirstWriteCreatesReport checks, against a real API server, that a writer's report is
// created by its first write rather than at its start, and that the counts stay exact in the
// cases this opens: a writer that takes no reward writes nothing; a report that an earlier
// process of the writer created after this one had looked (a late create) adds up with this
// process's counts; a process with disk acknowledgement stopped before its first write leaves
// its counts to the next start, which creates the report with them; and once a report this
// writer created is deleted (and folded), a start that restores its counts refuses to count them
// again.
func TestFirstWriteCreatesReport(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, ns, arms := startWithArms(ctx, t, "create", 2, "Prompt %d.")
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))), 0o600); err != nil {
		t.Fatal(err)
	}
	type running struct {
		sel  *selector.Selector
		stop func() error
	}
	start := func(writer, stateDir string, cfg *rest.Config, floor, shutdown time.Duration) running {
		t.Helper()
		c := selector.Config{
			Namespace: ns, Portfolios: []string{"pf"}, Addr: "127.0.0.1:0", KeyFile: keyFile, Writer: writer,
			StateDir: stateDir, FlushInterval: floor, APITimeout: time.Second, ShutdownTimeout: shutdown,
		}
		sel, err := selector.New(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sel.Run(runCtx) }()
		for deadline := time.Now().Add(time.Minute); !sel.Ready() || !handlerReady(sel.Handler()); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("writer %s did not become ready", writer)
			}
		}
		return running{sel, func() error { stop(); return <-done }}
	}
	getReport := func(writer string) (*v1alpha1.PromptCounterReport, error) {
		r := &v1alpha1.PromptCounterReport{}
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: counters.ReportName(writer, "pf")}, r)
		return r, err
	}
	counts := func(r *v1alpha1.PromptCounterReport) map[string]counters.Counts {
		out := map[string]counters.Counts{}
		for _, a := range r.Spec.Arms {
			out[a.Arm] = counters.Counts{Successes: a.Successes, Failures: a.Failures}
		}
		return out
	}
	check := func(what, writer string, want map[string]counters.Counts) {
		t.Helper()
		r, err := getReport(writer)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := counts(r)
		for _, arm := range arms {
			if got[arm] != want[arm] {
				t.Errorf("%s: arm %s holds %+v, want %+v", what, arm, got[arm], want[arm])
			}
		}
	}

	t.Run("a writer without rewards writes nothing", func(t *testing.T) {
		w := start("idle", "", env.Config, 100*time.Millisecond, 10*time.Second)
		time.Sleep(time.Second)
		if _, err := getReport("idle"); !apierrors.IsNotFound(err) {
			t.Errorf("an idle writer's report: %v, want not found", err)
		}
		acked := rewardN(t, w.sel.Handler(), 7)
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
		check("after its first rewards and a graceful stop", "idle", acked)
	})

	t.Run("a late create of an earlier process adds up", func(t *testing.T) {
		w := start("late", "", env.Config, time.Hour, 10*time.Second)
		earlier := &v1alpha1.PromptCounterReport{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: counters.ReportName("late", "pf"),
				Labels: map[string]string{v1alpha1.LabelPortfolio: "pf"}},
			Spec: v1alpha1.PromptCounterReportSpec{Portfolio: "pf", Role: v1alpha1.RoleWriter, Writer: "late",
				Arms: []v1alpha1.ArmCount{{Arm: arms[0], Successes: 7, Failures: 2}}},
		}
		if err := env.Client.Create(ctx, earlier); err != nil {
			t.Fatal(err)
		}
		acked := rewardN(t, w.sel.Handler(), 9)
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
		acked[arms[0]] = acked[arms[0]].Add(counters.Counts{Successes: 7, Failures: 2})
		check("after the stop", "late", acked)
	})

	t.Run("disk: stopped before the first write, then deleted", func(t *testing.T) {
		dir := t.TempDir()
		// Every creation of a report is dropped: the stop cannot write.
		proxy, err := faultproxy.Start(env.Config, faultproxy.Options{
			Rates: faultproxy.Rates{faultproxy.Drop: 1},
			Eligible: func(r *http.Request) bool {
				return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/promptcounterreports")
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		w := start("disk", dir, proxy.Config(time.Second), time.Hour, 2*time.Second)
		acked := rewardN(t, w.sel.Handler(), 11)
		if err := w.stop(); err == nil {
			t.Fatal("the stop wrote its report through a proxy that drops every creation")
		}
		if _, err := getReport("disk"); !apierrors.IsNotFound(err) {
			t.Fatalf("the report after a stop that could not write: %v, want not found", err)
		}
		// The next start restores the counts and its first write creates the report with them.
		w = start("disk", dir, env.Config, 100*time.Millisecond, 10*time.Second)
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
		check("after the restart", "disk", acked)

		// The report goes (as with its pod, folded by the controller): a start that restores
		// the counts must not count them again under a new report.
		r, err := getReport("disk")
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Patch(ctx, r, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Delete(ctx, r); err != nil {
			t.Fatal(err)
		}
		w = start("disk", dir, env.Config, 100*time.Millisecond, 10*time.Second)
		time.Sleep(time.Second)
		if _, code := rewardOne(w.sel.Handler(), true); code == http.StatusAccepted {
			t.Errorf("a reward to a writer whose report was folded was answered %d", code)
		}
		_ = w.stop()
		if _, err := getReport("disk"); !apierrors.IsNotFound(err) {
			t.Errorf("a start after the report was deleted recreated it (%v): its counts would count twice", err)
		}
	})
}

// handlerReady reports whether h answers its readiness probe with 200.
func handlerReady(h http.Handler) bool {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, selector.PathReadyz, nil))
	return w.Code == http.StatusOK
}

// rewardN draws and rewards n decisions through h (every third a success) and returns what was
// acknowledged, by arm.
func rewardN(t *testing.T, h http.Handler, n int) map[string]counters.Counts {
	t.Helper()
	acked := map[string]counters.Counts{}
	for i := range n {
		success := i%3 == 0
		arm, code := rewardOne(h, success)
		if code != http.StatusAccepted {
			t.Fatalf("reward %d answered %d", i, code)
		}
		c := counters.Counts{Failures: 1}
		if success {
			c = counters.Counts{Successes: 1}
		}
		acked[arm] = acked[arm].Add(c)
	}
	return acked
}

// rewardOne draws a decision through h and rewards it, and returns its arm and the reward's
// status code (0 when the draw failed).
func rewardOne(h http.Handler, success bool) (string, int) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, selector.PathDraw+"?portfolio=pf", nil))
	var d drawn
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &d) != nil {
		return "", 0
	}
	body, _ := json.Marshal(map[string]any{"decision": d.Decision, "success": success})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, selector.PathReward, bytes.NewReader(body)))
	return d.Arm, w.Code
}
