package selector_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/selector"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

// buildSelector builds the selector-only binary, as the sidecar image has it, into dir.
func buildSelector(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "promptfolio-selector")
	cmd := exec.Command("go", "build", "-tags", "selectoronly", "-o", bin, ".")
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the selector: %v\n%s", err, out)
	}
	return bin
}

// proc is one selector process that can be killed and started again with the same writer id and
// state directory: a sidecar container restarted in its pod.
type proc struct {
	name, url string
	args      []string
	bin       string
	log       *os.File

	mu  sync.Mutex
	cmd *exec.Cmd
	gen atomic.Int64 // incarnation, raised on every start
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	p.gen.Add(1)
}

// waitReady polls /readyz for up to a minute.
func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := c.Get(p.url + selector.PathReadyz); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("selector %s not ready within a minute (log %s)", p.name, p.log.Name())
}

// signal sends sig and waits for the process to end.
func (p *proc) signal(sig os.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		return err
	}
	return cmd.Wait()
}

// sendStats counts what reward answers were seen.
type sendStats struct{ acks, replayed, duplicates, refusals, unknowns atomic.Int64 }

// sendUntilKnown sends the reward of decision, each attempt to the selector that pick returns,
// until an answer says whether it is counted: 202 (counted now) or 409 (counted before). It
// returns that code and whether an earlier attempt's outcome was unknown: no answer (its selector
// was killed) or 504 (a selector forwarded it and lost its home's answer). Refusals (503: the
// home, or the selector asked, is restarting) are sent again. Any other answer, or no definite
// answer within two minutes, is an error.
func sendUntilKnown(c *http.Client, pick func() string, decision string, success bool, stats *sendStats) (code int, maybeCounted bool, err error) {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		switch code := reward(c, pick(), decision, success); code {
		case http.StatusAccepted, http.StatusConflict:
			return code, maybeCounted, nil
		case 0, http.StatusGatewayTimeout:
			maybeCounted = true
			stats.unknowns.Add(1)
		case http.StatusServiceUnavailable:
			stats.refusals.Add(1)
		default:
			return code, maybeCounted, fmt.Errorf("reward answered %d", code)
		}
	}
	return 0, maybeCounted, errors.New("no definite answer to a reward within two minutes")
}

// TestSIGKILLKeepsAcknowledgedRewards runs real selector processes with disk acknowledgement
// against a real API server, sends rewards from many clients, and SIGKILLs the processes at random
// moments (and stops some with SIGTERM), starting each again with its state directory, as the
// kubelet restarts a sidecar container; in the middle the kube-apiserver process is paused with
// SIGSTOP for 10 s. Half the rewards go to another process than the one that drew the decision
// (which forwards them to it), and half the decisions are rewarded a second time at a random
// process, as a client retrying through a Service does: that second reward must be answered 409
// wherever it lands. A reward whose answer was lost to a kill is sent again until it answers: 202
// (it was not recorded) or 409 (it was, and the restart replayed it). At the end the processes
// stop gracefully and the counts in their reports must equal the rewards acknowledged, exactly,
// per arm.
//
// SELECTOR_KILL_PROCS (default 4), SELECTOR_KILL_RATE (rewards per second per process; default
// as fast as 6 clients per process go) and SELECTOR_KILL_DURATION (default 20s) size the run:
//
//	SELECTOR_KILL_PROCS=20 SELECTOR_KILL_RATE=10 SELECTOR_KILL_DURATION=60s go test ./internal/selector -run TestSIGKILL -v
func TestSIGKILLKeepsAcknowledgedRewards(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and selector processes")
	}
	const (
		clients  = 6 // per process
		armCount = 4
	)
	procs := 4
	if n, err := strconv.Atoi(os.Getenv("SELECTOR_KILL_PROCS")); err == nil && n > 0 {
		procs = n
	}
	rate := 0.0
	if r, err := strconv.ParseFloat(os.Getenv("SELECTOR_KILL_RATE"), 64); err == nil && r > 0 {
		rate = r
	}
	duration := 20 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SELECTOR_KILL_DURATION")); err == nil {
		duration = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	bin := buildSelector(t, dir)
	env, ns, arms := startWithArms(ctx, t, "kill", armCount, "Prompt %d.")
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))), 0o600); err != nil {
		t.Fatal(err)
	}

	ps := make([]*proc, procs)
	for i := range ps {
		port, err := testenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("sel-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		p := &proc{name: fmt.Sprintf("kill-%d", i), url: fmt.Sprintf("http://127.0.0.1:%d", port), bin: bin, log: logf}
		p.args = []string{"selector", "--kubeconfig", env.Kubeconfig, "--namespace", ns, "--portfolios", "pf",
			"--decision-key-file", keyFile, "--listen", "127.0.0.1:" + strconv.Itoa(port), "--writer", p.name,
			"--state-dir", filepath.Join(dir, p.name), "--flush-interval", "300ms", "--zap-log-level", "error"}
		ps[i] = p
		p.start(t)
	}
	for _, p := range ps {
		p.waitReady(t)
	}

	acked := &ledger{acks: map[string]counters.Counts{}}
	var stats sendStats
	httpc := &http.Client{Timeout: 5 * time.Second}
	loadCtx, stopLoad := context.WithTimeout(ctx, duration)
	defer stopLoad()
	waitClients := runClients(loadCtx, len(ps), clients, func(i int, rng *rand.Rand) bool {
		c := loadClient{http: httpc, rng: rng, acked: acked, stats: &stats}
		anyProc := func() string { return ps[rng.IntN(len(ps))].url }
		drawnHereOrAny := func() string {
			if rng.IntN(2) == 0 {
				return ps[i].url
			}
			return anyProc()
		}
		d, success, err := c.drawAndReward(ps[i].url, drawnHereOrAny)
		switch {
		case errors.Is(err, errDraw):
			time.Sleep(20 * time.Millisecond)
			return true
		case err != nil:
			t.Error(err)
			return false
		}
		if rng.IntN(2) == 0 {
			code, _, err := sendUntilKnown(httpc, anyProc, d.Decision, success, &stats)
			if err != nil || code != http.StatusConflict {
				t.Errorf("a decision rewarded again at another selector was answered %d (%v): counted twice", code, err)
				return false
			}
			stats.duplicates.Add(1)
		}
		if rate > 0 {
			time.Sleep(time.Duration(float64(clients) / rate * float64(time.Second)))
		} else {
			time.Sleep(time.Duration(rng.IntN(4)) * time.Millisecond)
		}
		return true
	})

	// In the middle, pause the API server for 10 s: selectors keep answering draws and taking
	// rewards, and write them once it runs again.
	paused := make(chan error, 1)
	go func() {
		select {
		case <-loadCtx.Done():
			paused <- nil
		case <-time.After(duration / 2):
			paused <- env.PauseAPIServer(10 * time.Second)
		}
	}()
	// Every 0.5–1.5 s, SIGKILL a random process (one time in four: stop it with SIGTERM) and start
	// it again at once.
	kills, stops := 0, 0
	rng := rand.New(rand.NewPCG(3, 4))
	for loadCtx.Err() == nil {
		select {
		case <-loadCtx.Done():
			continue
		case <-time.After(500*time.Millisecond + time.Duration(rng.IntN(1000))*time.Millisecond):
		}
		p := ps[rng.IntN(len(ps))]
		sig := os.Signal(syscall.SIGKILL)
		if rng.IntN(4) == 0 {
			sig = syscall.SIGTERM
			stops++
		} else {
			kills++
		}
		if err := p.signal(sig); err != nil {
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("stopping %s: %v", p.name, err)
			}
		}
		p.start(t)
	}
	if err := <-paused; err != nil {
		t.Fatalf("pausing the API server: %v", err)
	}
	waitClients()
	for _, p := range ps {
		p.waitReady(t)
		if err := p.signal(syscall.SIGTERM); err != nil {
			t.Errorf("graceful stop of %s: %v (log %s)", p.name, err, p.log.Name())
		}
	}

	total := checkCounted(ctx, t, env.Client, ns, arms, acked)
	t.Logf("%d processes, %d SIGKILLs, %d graceful restarts and a 10 s API-server pause in %v: %d rewards acknowledged "+
		"(%d successes, %d failures), %d decisions rewarded again at a random selector and answered 409, "+
		"%d answers lost to a kill (%d rewards found counted by the retry: 409), %d refusals (starting, stopping)",
		procs, kills, stops, duration, stats.acks.Load(), total.Successes, total.Failures, stats.duplicates.Load(),
		stats.unknowns.Load(), stats.replayed.Load(), stats.refusals.Load())
	if kills < 5 || stats.acks.Load() < 1000 || stats.duplicates.Load() < 100 {
		t.Errorf("the run was too small to mean much: %d kills, %d acknowledged, %d rewarded twice", kills, stats.acks.Load(), stats.duplicates.Load())
	}
}
