package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/promptfolio/promptfolio/internal/testenv"
)

// buildManager builds the promptfolio binary of this checkout at the lowest CPU and I/O priority
// and returns its path and a function that removes it.
func buildManager() (string, func(), error) {
	dir, err := os.MkdirTemp("", "fleet-manager-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	bin := filepath.Join(dir, "promptfolio")
	cmd := exec.Command("nice", "-n", "19", "ionice", "-c3", "go", "build", "-o", bin, ".")
	cmd.Dir = testenv.RepoRoot()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nil, err
	}
	return bin, cleanup, nil
}

// manager is the promptfolio controller manager, run as a process of its own against the API
// server, as it runs in its own pod in a cluster.
type manager struct {
	cmd     *exec.Cmd
	done    chan error
	metrics string // the URL of its /metrics
	log     string
}

// startManager starts `bin manager` with the kubeconfig and the write budget, its output in
// dir/manager.log, and waits until it is ready.
func startManager(bin, kubeconfig, dir string, budget float64) (*manager, error) {
	metricsPort, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	probePort, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	m := &manager{metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort), log: filepath.Join(dir, "manager.log"), done: make(chan error, 1)}
	logf, err := os.Create(m.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	m.cmd = exec.Command(bin, "manager",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		"--counter-write-budget="+strconv.FormatFloat(budget, 'g', -1, 64),
		"--zap-log-level=error")
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-m.done:
			m.done <- err
			return nil, fmt.Errorf("the manager exited: %w: %s", err, tail(m.log))
		default:
		}
		if resp, err := hc.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
	}
	m.stop()
	return nil, fmt.Errorf("the manager was not ready within a minute: %s", tail(m.log))
}

// stop ends the manager with SIGTERM, and SIGKILL if it has not stopped within 40 s.
func (m *manager) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		m.done <- err
	case <-time.After(40 * time.Second):
		_ = m.cmd.Process.Kill()
		m.done <- <-m.done
	}
}

// tail returns the end of a log file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	return string(b[max(0, len(b)-2000):])
}

// managerMetrics are the manager's counters the harness reads.
type managerMetrics struct {
	reconciles reconcileStats
	// the controller's requests to the API server (client-go's metrics): count by method and
	// answer code, latency sum and count by verb
	byCode           map[string]float64
	latSum, latCount map[string]float64
}

// reconcileStats are the portfolio controller's reconciles, from controller-runtime's metrics.
type reconcileStats struct {
	count, errors, seconds float64
}

func (a reconcileStats) minus(b reconcileStats) reconcileStats {
	return reconcileStats{a.count - b.count, a.errors - b.errors, a.seconds - b.seconds}
}

// scrape reads the manager's /metrics.
func (m *manager) scrape(ctx context.Context) (managerMetrics, error) {
	mm := managerMetrics{byCode: map[string]float64{}, latSum: map[string]float64{}, latCount: map[string]float64{}}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := readMetrics(ctx, http.DefaultClient, m.metrics, func(name string, labels map[string]string, value float64) {
		switch name {
		case "controller_runtime_reconcile_errors_total":
			if labels["controller"] == "promptportfolio" {
				mm.reconciles.errors += value
			}
		case "controller_runtime_reconcile_time_seconds_count":
			if labels["controller"] == "promptportfolio" {
				mm.reconciles.count += value
			}
		case "controller_runtime_reconcile_time_seconds_sum":
			if labels["controller"] == "promptportfolio" {
				mm.reconciles.seconds += value
			}
		case "rest_client_requests_total":
			mm.byCode[labels["method"]+" "+labels["code"]] += value
		case "rest_client_request_duration_seconds_sum":
			mm.latSum[labels["verb"]] += value
		case "rest_client_request_duration_seconds_count":
			mm.latCount[labels["verb"]] += value
		}
	})
	if err != nil {
		return mm, fmt.Errorf("reading the manager's metrics: %w", err)
	}
	if len(mm.byCode) == 0 {
		return mm, errors.New("the manager's metrics hold no client requests")
	}
	return mm, nil
}

// requests formats the controller's requests between b and m: mean latency by verb, and the
// answers that were not 2xx by method and code.
func (m managerMetrics) requests(b managerMetrics, sec float64) string {
	out := []string{meanLatencies(b.latSum, b.latCount, m.latSum, m.latCount, sec)}
	var failed []string
	for k, v := range m.byCode {
		_, code, _ := strings.Cut(k, " ")
		if d := v - b.byCode[k]; d > 0 && !strings.HasPrefix(code, "2") {
			failed = append(failed, fmt.Sprintf("%s: %.0f", k, d))
		}
	}
	slices.Sort(failed)
	if len(failed) == 0 {
		failed = []string{"none"}
	}
	return strings.Join(out, "") + "; answers other than 2xx: " + strings.Join(failed, ", ")
}
