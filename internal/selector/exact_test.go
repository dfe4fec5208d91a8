package selector_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/selector"
	"github.com/promptfolio/promptfolio/internal/selector/faultproxy"
)

// ledger counts the rewards acknowledged with 202, per arm. It is the test's own count of what the
// clients saw acknowledged, kept apart from the selector's counting (the write-ahead record's
// counts in wal.go) so that a fault in that code cannot hide from the test.
type ledger struct {
	mu   sync.Mutex
	acks map[string]counters.Counts
}

func (l *ledger) add(arm string, success bool) {
	one := counters.Counts{Failures: 1}
	if success {
		one = counters.Counts{Successes: 1}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks[arm] = l.acks[arm].Add(one)
}

// slot runs one selector at a time; restart stops it gracefully and starts it again with the
// same writer id and state directory, as a restarted sidecar container of one pod.
type slot struct {
	writer, dir string
	mu          sync.Mutex
	sel         *selector.Selector
	stop        context.CancelFunc
	done        chan error
	url         atomic.Pointer[string]
	busy        atomic.Bool
}

// TestExactCountsUnderFaults runs 20 selectors against a real API server through a proxy that
// injects faults, restarts some of them gracefully while rewards flow, and asserts that the
// totals in the arms' status equal the rewards acknowledged with 202.
func TestExactCountsUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	const (
		selectors = 20
		armCount  = 4
	)
	duration := 20 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SELECTOR_SOAK")); err == nil {
		duration = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, ns, arms := startWithArms(ctx, t, "sel", armCount, "Prompt %d: be \"helpful\".")

	proxy, err := faultproxy.Start(env.Config, faultproxy.Options{
		Rates:    faultproxy.Rates{faultproxy.Delay: 0.08, faultproxy.Drop: 0.04, faultproxy.Conflict: 0.04, faultproxy.ServerError: 0.04, faultproxy.Hold: 0.02, faultproxy.LoseResponse: 0.05},
		HoldFor:  1500 * time.Millisecond,
		MaxDelay: 150 * time.Millisecond,
		Seed:     7,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	logger := testLogger(true)
	start := func(s *slot) {
		// A restarted selector listens where it listened before, as a sidecar restarted in its
		// pod keeps the pod's address: it is the home of the decisions it issued.
		addr := "127.0.0.1:0"
		if u := s.url.Load(); u != nil {
			addr = strings.TrimPrefix(*u, "http://")
		}
		cfg := selector.Config{
			Namespace:       ns,
			Portfolios:      []string{"pf"},
			Addr:            addr,
			Writer:          s.writer,
			StateDir:        s.dir,
			FlushInterval:   150 * time.Millisecond,
			APITimeout:      time.Second,
			ShutdownTimeout: time.Minute,
		}
		sel, err := selector.New(cfg, proxy.Config(0))
		if err != nil {
			t.Error(err)
			return
		}
		runCtx, stop := context.WithCancel(log.IntoContext(ctx, logger))
		done := make(chan error, 1)
		go func() { done <- sel.Run(runCtx) }()
		u := "http://" + sel.Addr()
		s.mu.Lock()
		s.sel, s.stop, s.done = sel, stop, done
		s.mu.Unlock()
		s.url.Store(&u)
	}
	stopSlot := func(s *slot) error {
		s.mu.Lock()
		stop, done := s.stop, s.done
		s.mu.Unlock()
		stop()
		return <-done
	}
	slots := make([]*slot, selectors)
	for i := range slots {
		slots[i] = &slot{writer: fmt.Sprintf("sel-%d", i), dir: t.TempDir()}
		start(slots[i])
	}

	acked := &ledger{acks: map[string]counters.Counts{}}
	var stats struct{ draws, unavailable atomic.Int64 }
	var sent sendStats
	httpc := &http.Client{Timeout: 5 * time.Second}
	loadCtx, stopLoad := context.WithTimeout(ctx, duration)
	defer stopLoad()
	waitClients := runClients(loadCtx, len(slots), 2, func(i int, rng *rand.Rand) bool {
		c := loadClient{http: httpc, rng: rng, acked: acked, stats: &sent}
		base := *slots[i].url.Load()
		// Some rewards go to another selector of the portfolio, which forwards them to the
		// selector that drew them.
		target := base
		if rng.IntN(5) == 0 {
			target = *slots[rng.IntN(len(slots))].url.Load()
		}
		_, _, err := c.drawAndReward(base, func() string { return target })
		switch {
		case errors.Is(err, errDraw):
			stats.unavailable.Add(1)
			time.Sleep(20 * time.Millisecond)
		case err != nil:
			t.Error(err)
			return false
		default:
			stats.draws.Add(1)
		}
		return true
	})

	// Restart selectors gracefully while the load runs, a few at a time.
	var restarts atomic.Int64
	var restarting sync.WaitGroup
	rng := rand.New(rand.NewPCG(1, 2))
	for loadCtx.Err() == nil {
		select {
		case <-loadCtx.Done():
		case <-time.After(400 * time.Millisecond):
			s := slots[rng.IntN(len(slots))]
			if !s.busy.CompareAndSwap(false, true) {
				continue
			}
			restarting.Add(1)
			go func() {
				defer restarting.Done()
				defer s.busy.Store(false)
				if err := stopSlot(s); err != nil {
					t.Errorf("graceful stop: %v", err)
				}
				start(s)
				restarts.Add(1)
			}()
		}
	}
	waitClients()
	restarting.Wait()
	for _, s := range slots {
		if err := stopSlot(s); err != nil {
			t.Errorf("graceful stop: %v", err)
		}
	}
	proxy.WaitLate()

	total := checkCounted(ctx, t, env.Client, ns, arms, acked)
	faults := map[string]int64{}
	for f := faultproxy.Delay; f <= faultproxy.LoseResponse; f++ {
		faults[f.String()] = proxy.Count(f)
	}
	t.Logf("%d selectors, %d graceful restarts in %v: %d draws, %d rewards acknowledged (%d successes, %d failures), %d draws unavailable, "+
		"%d rewards refused and sent again, %d answers unknown and resolved by a retry; faults %v; report writes %d",
		selectors, restarts.Load(), duration, stats.draws.Load(), sent.acks.Load(), total.Successes, total.Failures,
		stats.unavailable.Load(), sent.refusals.Load(), sent.unknowns.Load(), faults, proxy.Writes(http.MethodPatch, "promptcounterreports"))
	if sent.acks.Load() < 1000 || restarts.Load() < 5 {
		t.Errorf("the run was too small to mean much: %d acknowledged rewards, %d restarts", sent.acks.Load(), restarts.Load())
	}
}

// checkCounted fails t unless the counter reports of ns hold, on every arm, exactly the rewards
// acked acknowledged, and returns the sum of those acknowledged.
func checkCounted(ctx context.Context, t *testing.T, c client.Client, ns string, arms []string, acked *ledger) counters.Counts {
	t.Helper()
	totals := reportTotals(ctx, t, c, ns)
	var total counters.Counts
	for _, name := range arms {
		got, want := totals[name], acked.acks[name]
		total = total.Add(want)
		if got != want {
			t.Errorf("arm %s: reports hold %+v, acknowledged %+v (lost or double counted: %+d successes, %+d failures)",
				name, got, want, got.Successes-want.Successes, got.Failures-want.Failures)
		}
	}
	return total
}

// reportTotals sums the counter reports of the namespace (there is no controller to fold them).
func reportTotals(ctx context.Context, t *testing.T, c client.Client, ns string) map[string]counters.Counts {
	t.Helper()
	var list v1alpha1.PromptCounterReportList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var reports []*v1alpha1.PromptCounterReport
	for i := range list.Items {
		reports = append(reports, &list.Items[i])
	}
	return counters.Totals(nil, reports)
}

type drawn struct {
	Arm, Decision string
}

func draw(c *http.Client, base string) (drawn, error) {
	var d drawn
	resp, err := c.Get(base + selector.PathDraw + "?portfolio=pf")
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("draw: %s", resp.Status)
	}
	return d, json.NewDecoder(resp.Body).Decode(&d)
}

// reward returns the status code, or 0 when no answer arrived.
func reward(c *http.Client, base, decision string, success bool) int {
	body, _ := json.Marshal(map[string]any{"decision": decision, "success": success})
	resp, err := c.Post(base+selector.PathReward, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// runClients runs perTarget load clients for each of targets, until ctx ends or step returns
// false; step gets the target's index and the client's own random source. The returned function
// waits for the clients to end.
func runClients(ctx context.Context, targets, perTarget int, step func(target int, rng *rand.Rand) bool) (wait func()) {
	var wg sync.WaitGroup
	for i := range targets {
		for w := range perTarget {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(i), uint64(w)))
				for ctx.Err() == nil {
					if !step(i, rng) {
						return
					}
				}
			})
		}
	}
	return wg.Wait
}

// errDraw says that a load client's draw failed: its selector is starting or stopping.
var errDraw = errors.New("draw failed")

// loadClient draws decisions and rewards them until their outcome is known, and adds what was
// acknowledged to acked.
type loadClient struct {
	http  *http.Client
	rng   *rand.Rand
	acked *ledger
	stats *sendStats
}

// drawAndReward draws at base and rewards the decision at random, each attempt at the selector
// that pick returns. It returns the decision, the answer that settled it (202, or 409 after an
// attempt whose outcome was unknown) and errDraw when the draw failed; any other error is a
// failure of the test.
func (c *loadClient) drawAndReward(base string, pick func() string) (drawn, bool, error) {
	d, err := draw(c.http, base)
	if err != nil {
		return d, false, errDraw
	}
	success := c.rng.IntN(3) == 0
	code, maybeCounted, err := sendUntilKnown(c.http, pick, d.Decision, success, c.stats)
	switch {
	case err != nil:
		return d, success, err
	case code == http.StatusConflict && !maybeCounted:
		return d, success, errors.New("a first attempt was answered 409")
	}
	c.acked.add(d.Arm, success)
	c.stats.acks.Add(1)
	if code == http.StatusConflict {
		c.stats.replayed.Add(1)
	}
	return d, success, nil
}

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
