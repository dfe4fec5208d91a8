package selector_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/selector"
	"github.com/promptfolio/promptfolio/internal/selector/faultproxy"
)

// TestWritesPerFlushInterval measures how many report writes the API server receives per flush
// interval while rewards arrive at a paced rate, and checks that the totals written equal
// the rewards acknowledged. Rewards go through the selector's HTTP handler in process (the same
// code a request takes after the server has read it), so the rate does not depend on how fast a
// load generator can open requests on the machine. Writes are counted by a proxy in front of a
// real API server and by the selector's own write metric.
//
// It starts a control plane and runs for a while, so it only runs when SELECTOR_WRITES is set:
//
//	SELECTOR_WRITES=1 go test ./internal/selector -run TestWritesPerFlushInterval -v
//
// SELECTOR_WRITES_RATES (default "100,10000") lists the rewards per second and
// SELECTOR_WRITES_INTERVALS (default 10) the flush intervals of 1 s measured at each rate.
func TestWritesPerFlushInterval(t *testing.T) {
	if os.Getenv("SELECTOR_WRITES") == "" {
		t.Skip("set SELECTOR_WRITES=1 to measure API-server writes per flush interval")
	}
	const (
		armCount = 10
		interval = time.Second
	)
	rates := []int{100, 10000}
	if v := os.Getenv("SELECTOR_WRITES_RATES"); v != "" {
		rates = nil
		for _, f := range strings.Split(v, ",") {
			r, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || r <= 0 {
				t.Fatalf("SELECTOR_WRITES_RATES: %q is not a positive rate", f)
			}
			rates = append(rates, r)
		}
	}
	intervals := 10
	if v, err := strconv.Atoi(os.Getenv("SELECTOR_WRITES_INTERVALS")); err == nil && v > 0 {
		intervals = v
	}

	logger := testLogger(false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, ns, arms := startWithArms(ctx, t, "writes", armCount, "Prompt %d.")
	proxy, err := faultproxy.Start(env.Config, faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))), 0o600); err != nil {
		t.Fatal(err)
	}
	sel, err := selector.New(selector.Config{
		Namespace: ns, Portfolios: []string{"pf"}, Addr: "127.0.0.1:0", KeyFile: keyFile, FlushInterval: interval,
	}, proxy.Config(0))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(log.IntoContext(ctx, logger))
	done := make(chan error, 1)
	go func() { done <- sel.Run(runCtx) }()
	h := sel.Handler()
	for deadline := time.Now().Add(time.Minute); !sel.Ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the selector did not become ready")
		}
	}

	acked := &ledger{acks: map[string]counters.Counts{}}
	for _, rate := range rates {
		m := measureWrites(t, h, proxy, rate, intervals, interval, acked)
		perReport := float64(m.writes) / float64(intervals)
		t.Logf("rate %d rewards/s (reached %.0f/s, %d acknowledged): %d report writes in %d flush intervals of %v for %d arms = %.2f writes per interval (selector's own count: %d)",
			rate, m.reached, m.acked, m.writes, intervals, interval, armCount, perReport, m.metric)
		// The two counts are read at slightly different moments; a flush in flight at either end
		// of the window may show in one and not yet in the other.
		if d := m.writes - m.metric; d > 1 || d < -1 {
			t.Errorf("the proxy saw %d report writes, the selector counted %d", m.writes, m.metric)
		}
		// One report holds every arm; jitter varies each interval by up to ±10 %.
		if perReport > 1.15 {
			t.Errorf("rate %d: %.2f report writes per flush interval, want at most one (plus jitter)", rate, perReport)
		}
		if m.reached < 0.9*float64(rate) {
			t.Errorf("rate %d: the generator reached only %.0f rewards/s; the figure does not describe the rate asked for", rate, m.reached)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("selector stopped with %v", err)
	}
	checkCounted(ctx, t, env.Client, ns, arms, acked)
}

// writesMeasurement is the outcome of one paced run.
type writesMeasurement struct {
	writes, metric, acked int64
	reached               float64
}

// measureWrites draws rate·intervals decisions, then sends their rewards through h at rate per
// second for intervals flush intervals, and counts the status writes made meanwhile. It adds the
// acknowledged rewards to acked, by arm.
func measureWrites(t *testing.T, h http.Handler, proxy *faultproxy.Proxy, rate, intervals int, interval time.Duration, acked *ledger) writesMeasurement {
	t.Helper()
	n := rate * intervals * int(interval/time.Second)
	type pending struct {
		arm     string
		success bool
		body    []byte
	}
	work := make([]pending, n)
	for i := range work {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, selector.PathDraw+"?portfolio=pf", nil))
		var d drawn
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &d) != nil {
			t.Fatalf("draw answered %d: %s", w.Code, w.Body)
		}
		success := i%3 == 0
		body, _ := json.Marshal(map[string]any{"decision": d.Decision, "success": success})
		work[i] = pending{arm: d.Arm, success: success, body: body}
	}

	// Let the previous rate's last rewards be flushed before counting starts.
	time.Sleep(interval + interval/2)
	w0, m0 := proxy.Writes(http.MethodPatch, "promptcounterreports"), writeMetric(t, h)
	const senders = 4
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		accepted atomic.Int64
	)
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				// Pace: reward i is due i/rate seconds after the start.
				if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
					time.Sleep(wait)
				}
				p := work[i]
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, selector.PathReward, bytes.NewReader(p.body))
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusAccepted {
					t.Errorf("reward answered %d: %s", rec.Code, rec.Body)
					continue
				}
				accepted.Add(1)
				acked.add(p.arm, p.success)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// The window is the time the rewards took, rounded to whole intervals.
	if rest := time.Duration(intervals)*interval - elapsed; rest > 0 {
		time.Sleep(rest)
	}
	return writesMeasurement{
		writes:  proxy.Writes(http.MethodPatch, "promptcounterreports") - w0,
		metric:  writeMetric(t, h) - m0,
		acked:   accepted.Load(),
		reached: float64(accepted.Load()) / elapsed.Seconds(),
	}
}

// writeMetric reads the selector's count of counter applies from its metrics endpoint.
func writeMetric(t *testing.T, h http.Handler) int64 {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, selector.PathMetrics, nil))
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `promptfolio_selector_api_writes_total{kind="report"} `); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(f)
		}
	}
	return 0
}
