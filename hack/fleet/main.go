// Command fleet measures the counter data path with a fleet of writers: for each fleet size it
// starts a real control plane (etcd and kube-apiserver from bin/k8s), the promptfolio controller
// manager as a process of its own (as in a cluster, where it is its own pod) and S selectors in
// this one process, each with its own connection, informer, HTTP API and counter report, exactly
// as a sidecar runs. Every selector gets paced rewards through its HTTP
// handler; part of the fleet is restarted in a storm (stopped, its reports deleted as garbage
// collection deletes them with their pods, and replaced by new writers) and the kube-apiserver
// process is paused with SIGSTOP and resumed. It prints, from the API server's /metrics, writes
// per second (all, and counter reports), watch events and bytes per second; object sizes;
// staleness (from a reward's 202 to the arm's status holding it) p50 and p99; and rewards
// acknowledged against rewards counted in the arms' status.
//
//	go run ./hack/fleet -writers 1,10,100,1000 -rate 10 -duration 60s
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"go.uber.org/zap/zapcore"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/counters"
	"github.com/promptfolio/promptfolio/internal/selector"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

type options struct {
	sizes    []int
	rate     float64
	duration time.Duration
	warmup   time.Duration
	storm    float64
	pause    time.Duration
	budget   float64
	ack      string
	arms     int
	nice     int
	manager  string
}

// exit is the process's exit status, set by main before its deferred cleanups run.
var exit int

func main() {
	defer func() { os.Exit(exit) }()
	var o options
	var sizes string
	flag.StringVar(&sizes, "writers", "1,10,100,1000", "comma-separated fleet sizes S")
	flag.Float64Var(&o.rate, "rate", 10, "rewards per second per writer")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "measured window per fleet size")
	flag.DurationVar(&o.warmup, "warmup", 20*time.Second, "load before the window starts")
	flag.Float64Var(&o.storm, "storm", 0.2, "fraction of the writers restarted in a storm during the window")
	flag.DurationVar(&o.pause, "pause", 10*time.Second, "SIGSTOP of the kube-apiserver during the window (0: none)")
	flag.Float64Var(&o.budget, "budget", controllers.DefaultCounterWriteBudget, "counter report writes per second of the portfolio")
	flag.StringVar(&o.ack, "ack", selector.AckMemory, "acknowledgement level of the writers: memory or disk")
	flag.IntVar(&o.arms, "arms", 4, "arms of the portfolio")
	flag.IntVar(&o.nice, "nice", 5, "CPU niceness of the writers and the load, above the control plane's and the controller's (0: the same)")
	flag.StringVar(&o.manager, "manager", "", "the promptfolio binary whose manager subcommand runs the controller (default: built from this checkout)")
	flag.Parse()
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "-writers: %q is not a positive number\n", f)
			exit = 2
			return
		}
		o.sizes = append(o.sizes, n)
	}
	log.SetLogger(zap.New(zap.Level(zapcore.Level(5))))
	if o.manager == "" {
		bin, cleanup, err := buildManager()
		if err != nil {
			fmt.Fprintln(os.Stderr, "building the manager:", err)
			exit = 1
			return
		}
		defer cleanup()
		o.manager = bin
	}
	var results []result
	for _, s := range o.sizes {
		r, err := run(o, s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "S=%d: %v\n", s, err)
			exit = 1
			return
		}
		results = append(results, r)
		printTable(o, results)
	}
	for _, r := range results {
		if r.acked != r.counted || r.code504-r.pause504 > 0 {
			exit = 1
		}
	}
}

// result is what one fleet size measured.
type result struct {
	writers                      int
	rewardsPerSec                float64
	writesPerSec, reportsPerSec  float64
	selectorWritesPerSec         float64 // the writers' report creations and writes (audit log)
	watchEventsPerSec, watchBPS  float64
	armBytes, reportBytes        int
	ledgerBytes                  int
	p50, p99                     time.Duration
	code504, refused             int64
	pause504                     int64 // of code504, answered from the pause's start to the window's end
	acked, counted               int64
	inReports                    int64 // the ledger's and the reports' totals, what the arms converge to
	restarted                    int
	reportInterval               time.Duration
	foldedLeft                   int
	armEventsPerSec, armBytesSec float64
	stages                       stageQuantiles
	reconciles                   reconcileStats
	fifoP50, fifoP99             time.Duration
	measured                     int
	errors                       map[string]errorCounts
}

// stageQuantiles are the p50 and p99 of each part of the staleness.
type stageQuantiles struct {
	wait, write, aggregate [2]time.Duration
}

func printTable(o options, rs []result) {
	fmt.Printf("\nrate %.0f rewards/s per writer, budget %.0f report writes/s, window %v, storm %.0f%%, API-server pause %v, ack %s\n",
		o.rate, o.budget, o.duration, 100*o.storm, o.pause, o.ack)
	fmt.Println("| S | rewards/s | writes/s (all) | selectors' report writes/s | report PATCHes/s (all) | report interval | watch events/s | watch KB/s | arm watch KB/s | arm B | report B | ledger B | staleness p50 | p99 | 504s (of them from the pause on) | refused | acknowledged | counted (in reports) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Printf("| %d | %.0f | %.1f | %.1f | %.1f | %v | %.0f | %.0f | %.0f | %d | %d | %d | %.1fs | %.1fs | %d (%d) | %d | %d | %d (%d) |\n",
			r.writers, r.rewardsPerSec, r.writesPerSec, r.selectorWritesPerSec, r.reportsPerSec, r.reportInterval, r.watchEventsPerSec, r.watchBPS/1024,
			r.armBytesSec/1024, r.armBytes, r.reportBytes, r.ledgerBytes, r.p50.Seconds(), r.p99.Seconds(), r.code504, r.pause504, r.refused,
			r.acked, r.counted, r.inReports)
	}
	fmt.Println("\nStaleness by part, p50 / p99 (wait: 202 to the report write that carries the reward; write: that write; aggregation: its answer to the arm status holding it), and the staleness of the k-th reward acknowledged matched to the k-th counted (FIFO, an underestimate of the tail):")
	fmt.Println("| S | rewards measured | wait | write | aggregation | total | FIFO-matched | portfolio reconciles (errors), mean duration |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		q, rc := r.stages, r.reconciles
		mean := 0.0
		if rc.count > 0 {
			mean = rc.seconds / rc.count
		}
		fmt.Printf("| %d | %d | %s | %s | %s | %s | %s | %.0f (%.0f), %.2fs |\n", r.writers, r.measured, pair(q.wait), pair(q.write), pair(q.aggregate),
			pair([2]time.Duration{r.p50, r.p99}), pair([2]time.Duration{r.fifoP50, r.fifoP99}), rc.count, rc.errors, mean)
	}
	fmt.Println("\nFailed requests seen by the clients, 504 / 429 / no answer (client timeout) / other / canceled by the client (a stop), by phase (pause: in flight while the API server was stopped; after pause: sent within the request timeout after it resumed):")
	fmt.Println("| S | steady | pause | after pause |")
	fmt.Println("|---|---|---|---|")
	for _, r := range rs {
		fmt.Printf("| %d | %v | %v | %v |\n", r.writers, r.errors[phaseSteady], r.errors[phasePause], r.errors[phaseAfter])
	}
}

func pair(q [2]time.Duration) string {
	return fmt.Sprintf("%.1fs / %.1fs", q[0].Seconds(), q[1].Seconds())
}

// writer is one simulated sidecar.
type writer struct {
	sel   *selector.Selector
	stop  context.CancelFunc
	done  chan error
	name  string
	track *track
}

// timeline holds, for one arm, when its cumulative acknowledged trials reached each value.
type timeline struct {
	mu    sync.Mutex
	times []int64 // times[i] is when trial i+1 was acknowledged, Unix ns
	seen  int     // trials the arm's status holds, as last polled
	lags  []time.Duration
}

func run(o options, size int) (res result, err error) {
	res.writers = size
	dir, err := os.MkdirTemp("", "fleet-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	setNice(baseNice)
	auditLog := filepath.Join(dir, "audit.log")
	env, err := testenv.Start(testenv.Options{AuditLog: auditLog})
	if err != nil {
		return res, err
	}
	defer func() { _ = env.Stop() }()
	// The controller is the real manager, a process of its own as in a cluster, at the control
	// plane's priority.
	mgr, err := startManager(o.manager, env.Kubeconfig, dir, o.budget)
	if err != nil {
		return res, err
	}
	defer mgr.stop()
	// In a cluster the selectors run in other pods, on other machines than the control plane
	// and the controller; here they share its cores, and the writers and their load yield to
	// etcd, the API server and the manager (started above, they keep their priority) so that
	// what is measured is the answer of the control plane to the fleet rather than the fleet's
	// own CPU use.
	setNice(baseNice + o.nice)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, err := env.CreateNamespace(ctx, "fleet")
	if err != nil {
		return res, err
	}

	errs := &errorLog{}

	var seedsList []v1alpha1.SeedPrompt
	for i := range o.arms {
		seedsList = append(seedsList, v1alpha1.SeedPrompt{Name: fmt.Sprintf("s%d", i), Text: fmt.Sprintf("Prompt number %d.", i)})
	}
	pf := &v1alpha1.PromptPortfolio{
		ObjectMeta: metav1.ObjectMeta{Name: "fleet", Namespace: ns},
		Spec:       v1alpha1.PromptPortfolioSpec{Prompts: seedsList},
	}
	if err := env.Client.Create(ctx, pf); err != nil {
		return res, err
	}
	if err := waitFor(time.Minute, func() bool { return len(listArms(ctx, env.Client, ns)) == o.arms }); err != nil {
		return res, fmt.Errorf("arms not created: %w", err)
	}

	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))), 0o600); err != nil {
		return res, err
	}
	// Every writer has its own connection, as sidecars in different pods do, and a probe that
	// sees its requests.
	lines := map[string]*timeline{}
	armLines := map[string]*armLine{}
	for _, a := range listArms(ctx, env.Client, ns) {
		lines[a.Name] = &timeline{}
		armLines[a.Name] = &armLine{}
	}
	measuring := atomic.Bool{}
	inWindow := func(time.Time) bool { return measuring.Load() }
	var nextID atomic.Int64
	startWriter := func() (*writer, error) {
		name := fmt.Sprintf("fleet-%d", nextID.Add(1))
		tr := newTrack(armLines, inWindow)
		restCfg := rest.CopyConfig(env.Config)
		restCfg.UserAgent = writerAgent
		restCfg.Dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
		restCfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return &probe{rt: rt, who: "writer", errs: errs, track: tr}
		}
		cfg := selector.Config{
			Namespace: ns, Portfolios: []string{"fleet"}, Addr: "127.0.0.1:0", KeyFile: keyFile, Writer: name, Ack: o.ack,
		}
		if o.ack == selector.AckDisk {
			cfg.StateDir = filepath.Join(dir, name)
		}
		sel, err := selector.New(cfg, restCfg)
		if err != nil {
			return nil, err
		}
		wctx, stop := context.WithCancel(ctx)
		w := &writer{sel: sel, stop: stop, done: make(chan error, 1), name: name, track: tr}
		go func() { w.done <- sel.Run(wctx) }()
		return w, nil
	}
	slots := make([]atomic.Pointer[writer], size)
	for i := range slots {
		w, err := startWriter()
		if err != nil {
			return res, err
		}
		slots[i].Store(w)
	}
	if err := waitFor(3*time.Minute, func() bool {
		for i := range slots {
			if !slots[i].Load().sel.Ready() || !ready(slots[i].Load().sel.Handler()) {
				return false
			}
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("writers not ready: %w", err)
	}

	// Load: every writer draws and rewards at o.rate per second through its handler.
	var acked, refused atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var load sync.WaitGroup
	for i := range slots {
		load.Add(1)
		go func() {
			defer load.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			every := time.Duration(float64(time.Second) / o.rate)
			// Start at a random phase so the fleet's rewards are spread.
			next := time.Now().Add(time.Duration(rng.Int64N(int64(every))))
			for {
				if d := time.Until(next); d > 0 {
					select {
					case <-loadCtx.Done():
						return
					case <-time.After(d):
					}
				}
				if loadCtx.Err() != nil {
					return
				}
				next = next.Add(every)
				w := slots[i].Load()
				h := w.sel.Handler()
				arm, tok, ok := drawOne(h)
				if !ok {
					continue
				}
				success := rng.IntN(3) == 0
				if code := rewardOne(h, tok, success); code != http.StatusAccepted {
					refused.Add(1)
					continue
				}
				now := time.Now()
				acked.Add(1)
				w.track.ack(arm, now)
				l := lines[arm]
				l.mu.Lock()
				l.times = append(l.times, now.UnixNano())
				l.mu.Unlock()
			}
		}()
	}

	// Staleness: poll the arms' totals and note, for every trial that became visible, how long
	// after its 202 it did: by the k-th reward acknowledged of an arm made visible by the k-th
	// trial counted (FIFO, within the window), and by each measured reward's report write.
	var fifoWindow atomic.Bool
	st := &stages{}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for pollCtx.Err() == nil {
			now := time.Now()
			for _, a := range listArms(ctx, env.Client, ns) {
				l := lines[a.Name]
				if l == nil {
					continue
				}
				armLines[a.Name].seen(a.Status.Trials, now, st)
				l.mu.Lock()
				visible := int(min(a.Status.Trials, int64(len(l.times))))
				for ; l.seen < visible; l.seen++ {
					if fifoWindow.Load() {
						l.lags = append(l.lags, now.Sub(time.Unix(0, l.times[l.seen])))
					}
				}
				l.mu.Unlock()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	time.Sleep(o.warmup)
	before, mgrBefore, err := scrapeAll(ctx, env.Config, mgr)
	if err != nil {
		return res, err
	}
	ackedBefore := acked.Load()
	measuring.Store(true)
	fifoWindow.Store(true)
	start := time.Now()

	// The storm at a third of the window, the pause at two thirds.
	var storm sync.WaitGroup
	time.Sleep(o.duration / 3)
	if n := int(o.storm * float64(size)); n > 0 {
		for _, i := range rand.Perm(size)[:n] {
			storm.Add(1)
			go func() {
				defer storm.Done()
				old := slots[i].Load()
				w, err := startWriter()
				if err != nil {
					fmt.Fprintln(os.Stderr, "restart:", err)
					return
				}
				for !w.sel.Ready() || !ready(w.sel.Handler()) {
					time.Sleep(50 * time.Millisecond)
				}
				slots[i].Store(w)
				old.stop()
				if err := <-old.done; err != nil {
					fmt.Fprintln(os.Stderr, "graceful stop:", err)
				}
				// The pod is gone: garbage collection deletes its report.
				rep := &v1alpha1.PromptCounterReport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: counters.ReportName(old.name, "fleet")}}
				if err := env.Client.Delete(ctx, rep); err != nil {
					fmt.Fprintln(os.Stderr, "deleting a report:", err)
				}
			}()
		}
		res.restarted = n
	}
	time.Sleep(o.duration / 3)
	var pauseFrom, pauseTo time.Time
	atPause := before
	if o.pause > 0 {
		if atPause, err = scrape(ctx, env.Config); err != nil {
			return res, err
		}
		pauseFrom = time.Now()
		if err := env.PauseAPIServer(o.pause); err != nil {
			return res, err
		}
		pauseTo = time.Now()
	}
	time.Sleep(time.Until(start.Add(o.duration)))
	elapsed := time.Since(start)
	after, mgrAfter, err := scrapeAll(ctx, env.Config, mgr)
	if err != nil {
		return res, err
	}
	end := time.Now()
	res.reconciles = mgrAfter.reconciles.minus(mgrBefore.reconciles)
	ackedWindow := acked.Load() - ackedBefore
	measuring.Store(false)
	fifoWindow.Store(false)
	storm.Wait()
	// The load goes on until the rewards of the window's end have had the time to show, so that
	// they are measured as those before them: the final writes of a stop would carry them early.
	cooldown := 15 * time.Second
	if a := listArms(ctx, env.Client, ns); len(a) > 0 && a[0].Status.ReportInterval != nil {
		cooldown += a[0].Status.ReportInterval.Duration
	}
	time.Sleep(cooldown)
	stopLoad()
	load.Wait()

	sec := elapsed.Seconds()
	res.rewardsPerSec = float64(ackedWindow) / sec
	res.writesPerSec = (after.writes - before.writes) / sec
	res.reportsPerSec = (after.reportWrites - before.reportWrites) / sec
	res.watchEventsPerSec = (after.watchEvents - before.watchEvents) / sec
	res.watchBPS = (after.watchBytes - before.watchBytes) / sec
	res.armEventsPerSec = (after.armEvents - before.armEvents) / sec
	res.armBytesSec = (after.armBytes - before.armBytes) / sec
	res.code504 = int64(after.code504 - before.code504)
	res.pause504 = int64(after.code504 - atPause.code504)
	if o.pause == 0 {
		res.pause504 = 0
	}
	var counts []string
	for k, v := range after.writesBy {
		if d := (v - before.writesBy[k]) / sec; d >= 0.05 {
			counts = append(counts, fmt.Sprintf("%s %.2f/s", k, d))
		}
	}
	slices.Sort(counts)
	fmt.Fprintf(os.Stderr, "S=%d: writes by verb and resource: %s\n", size, strings.Join(counts, ", "))
	fmt.Fprintf(os.Stderr, "S=%d: API server mean latency, by verb and resource: %s\n", size, meanLatencies(before.reqSum, before.reqCount, after.reqSum, after.reqCount, sec))
	fmt.Fprintf(os.Stderr, "S=%d: etcd mean latency, by operation: %s\n", size, meanLatencies(before.etcdSum, before.etcdCount, after.etcdSum, after.etcdCount, sec))
	fmt.Fprintf(os.Stderr, "S=%d: controller's requests seen by its client: %s\n", size, mgrAfter.requests(mgrBefore, sec))
	var detail []string
	res.errors, detail = errs.classify(start, end, pauseFrom, pauseTo, 10*time.Second)
	for _, d := range detail {
		fmt.Fprintf(os.Stderr, "S=%d: failed requests, %s\n", size, d)
	}
	for k, v := range after.by504 {
		if d := v - before.by504[k]; d > 0 {
			fmt.Fprintf(os.Stderr, "S=%d: %.0f answers 504 to %s\n", size, d, k)
		}
	}
	res.refused = refused.Load()

	// Stop every writer gracefully and wait for the totals to settle.
	for i := range slots {
		w := slots[i].Load()
		w.stop()
		if err := <-w.done; err != nil {
			fmt.Fprintln(os.Stderr, "final stop:", err)
		}
	}
	res.acked = acked.Load()
	_ = waitFor(2*time.Minute, func() bool {
		var n int64
		for _, a := range listArms(ctx, env.Client, ns) {
			n += a.Status.Trials
		}
		res.counted = n
		return n == res.acked
	})
	stopPoll()
	<-pollDone
	var lags []time.Duration
	for _, l := range lines {
		lags = append(lags, l.lags...)
	}
	res.fifoP50, res.fifoP99 = quantiles(lags)
	st.mu.Lock()
	res.measured = len(st.total)
	res.p50, res.p99 = quantiles(st.total)
	res.stages.wait[0], res.stages.wait[1] = quantiles(st.wait)
	res.stages.write[0], res.stages.write[1] = quantiles(st.write)
	res.stages.aggregate[0], res.stages.aggregate[1] = quantiles(st.aggregate)
	st.mu.Unlock()
	if int64(res.measured) < ackedWindow*9/10 {
		fmt.Fprintf(os.Stderr, "S=%d: only %d rewards of the window measured\n", size, res.measured)
	}
	res.armBytes, res.reportBytes, res.ledgerBytes, res.reportInterval, res.foldedLeft = sizes(ctx, env, ns)
	res.inReports = reportedTotal(ctx, env.Client, ns)
	audit, err := readAudit(auditLog, start, end)
	if err != nil {
		return res, fmt.Errorf("reading the audit log: %w", err)
	}
	res.selectorWritesPerSec = float64(audit.reportWrites) / sec
	fmt.Fprintf(os.Stderr, "S=%d: writes by party, verb and resource (audit log): %s\n", size, audit.perSecond(sec))
	for _, f := range audit.failed {
		fmt.Fprintf(os.Stderr, "S=%d: audit: %s\n", size, f)
	}
	if res.counted != res.acked {
		fmt.Fprintf(os.Stderr, "S=%d: the arms hold %d of %d acknowledged rewards after the wait; the reports and the ledger hold %d\n",
			size, res.counted, res.acked, res.inReports)
		for _, a := range listArms(ctx, env.Client, ns) {
			fmt.Fprintf(os.Stderr, "S=%d: arm %s: %d trials, phase %s\n", size, a.Name, a.Status.Trials, a.Status.Phase)
		}
		var pf v1alpha1.PromptPortfolio
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fleet"}, &pf); err == nil {
			fmt.Fprintf(os.Stderr, "S=%d: portfolio conditions %+v\n", size, pf.Status.Conditions)
		}
		fmt.Fprintf(os.Stderr, "S=%d: the manager's log ends with: %s\n", size, tail(mgr.log))
	}
	return res, nil
}

// sizes returns the largest arm and writer report, the ledger's size as stored (JSON), and the
// report interval the controller publishes.
func sizes(ctx context.Context, env *testenv.Env, ns string) (arm, report, ledger int, interval time.Duration, folded int) {
	for _, a := range listArms(ctx, env.Client, ns) {
		b, _ := json.Marshal(a)
		arm = max(arm, len(b))
		if a.Status.ReportInterval != nil {
			interval = a.Status.ReportInterval.Duration
		}
	}
	var list v1alpha1.PromptCounterReportList
	_ = env.Client.List(ctx, &list, client.InNamespace(ns))
	for i := range list.Items {
		b, _ := json.Marshal(&list.Items[i])
		if counters.IsLedger(&list.Items[i]) {
			ledger = len(b)
			folded = len(list.Items[i].Spec.Folded)
		} else {
			report = max(report, len(b))
		}
	}
	return
}

// reportedTotal returns the rewards the ledger and the writers' reports of the namespace hold,
// which the controller sums into the arms.
func reportedTotal(ctx context.Context, c client.Client, ns string) int64 {
	var list v1alpha1.PromptCounterReportList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return -1
	}
	var ledger *v1alpha1.PromptCounterReport
	var reports []*v1alpha1.PromptCounterReport
	for i := range list.Items {
		if counters.IsLedger(&list.Items[i]) {
			ledger = &list.Items[i]
		} else {
			reports = append(reports, &list.Items[i])
		}
	}
	var n int64
	for _, t := range counters.Totals(ledger, reports) {
		n += t.Trials()
	}
	return n
}

func listArms(ctx context.Context, c client.Client, ns string) []v1alpha1.PromptArm {
	var list v1alpha1.PromptArmList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil
	}
	return list.Items
}

func ready(h http.Handler) bool {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, selector.PathReadyz, nil))
	return w.Code == http.StatusOK
}

func drawOne(h http.Handler) (arm, decision string, ok bool) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, selector.PathDraw+"?portfolio=fleet", nil))
	var d struct{ Arm, Decision string }
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &d) != nil {
		return "", "", false
	}
	return d.Arm, d.Decision, true
}

func rewardOne(h http.Handler, decision string, success bool) int {
	body, _ := json.Marshal(map[string]any{"decision": decision, "success": success})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, selector.PathReward, bytes.NewReader(body)))
	return w.Code
}

func waitFor(d time.Duration, cond func() bool) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return nil
		}
	}
	return errors.New("timed out")
}

// apiMetrics are the API server's counters this harness reads.
type apiMetrics struct {
	writes, reportWrites    float64
	watchEvents, watchBytes float64
	armEvents, armBytes     float64
	code504                 float64
	by504                   map[string]float64 // by verb and resource
	writesBy                map[string]float64 // by verb and resource
	// latency sums and counts of the API server's requests (by verb and resource) and of its
	// etcd requests (by operation), in seconds
	reqSum, reqCount   map[string]float64
	etcdSum, etcdCount map[string]float64
}

// scrape reads the API server's /metrics, trying up to three times within a minute: on a loaded
// machine a connection can break.
func scrape(ctx context.Context, cfg *rest.Config) (apiMetrics, error) {
	var err error
	for range 3 {
		var m apiMetrics
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		m, err = scrapeOnce(sctx, cfg)
		cancel()
		if err == nil {
			return m, nil
		}
		fmt.Fprintln(os.Stderr, "reading the API server's metrics:", err)
	}
	return apiMetrics{}, err
}

// scrapeAll reads the API server's metrics, then the manager's.
func scrapeAll(ctx context.Context, cfg *rest.Config, mgr *manager) (apiMetrics, managerMetrics, error) {
	api, err := scrape(ctx, cfg)
	if err != nil {
		return api, managerMetrics{}, err
	}
	mm, err := mgr.scrape(ctx)
	return api, mm, err
}

func scrapeOnce(ctx context.Context, cfg *rest.Config) (apiMetrics, error) {
	var m apiMetrics
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return m, err
	}
	err = readMetrics(ctx, hc, strings.TrimSuffix(cfg.Host, "/")+"/metrics", func(name string, labels map[string]string, value float64) {
		switch name {
		case "apiserver_request_total":
			switch labels["verb"] {
			case "POST", "PUT", "PATCH", "DELETE", "APPLY":
				m.writes += value
				if m.writesBy == nil {
					m.writesBy = map[string]float64{}
				}
				m.writesBy[labels["verb"]+" "+labels["resource"]+"/"+labels["subresource"]] += value
				if labels["resource"] == "promptcounterreports" && labels["verb"] == "PATCH" {
					m.reportWrites += value
				}
			}
			if labels["code"] == "504" {
				m.code504 += value
				if m.by504 == nil {
					m.by504 = map[string]float64{}
				}
				m.by504[labels["verb"]+" "+labels["resource"]] += value
			}
		case "apiserver_request_duration_seconds_sum", "apiserver_request_duration_seconds_count":
			if m.reqSum == nil {
				m.reqSum, m.reqCount = map[string]float64{}, map[string]float64{}
			}
			k := labels["verb"] + " " + labels["resource"] + "/" + labels["subresource"]
			if strings.HasSuffix(name, "_sum") {
				m.reqSum[k] += value
			} else {
				m.reqCount[k] += value
			}
		case "etcd_request_duration_seconds_sum", "etcd_request_duration_seconds_count":
			if m.etcdSum == nil {
				m.etcdSum, m.etcdCount = map[string]float64{}, map[string]float64{}
			}
			k := labels["operation"]
			if strings.HasSuffix(name, "_sum") {
				m.etcdSum[k] += value
			} else {
				m.etcdCount[k] += value
			}
		case "apiserver_watch_events_total":
			m.watchEvents += value
			if labels["resource"] == "promptarms" || labels["kind"] == "PromptArm" {
				m.armEvents += value
			}
		case "apiserver_watch_events_sizes_sum":
			m.watchBytes += value
			if labels["resource"] == "promptarms" || labels["kind"] == "PromptArm" {
				m.armBytes += value
			}
		}
	})
	return m, err
}

// readMetrics reads a Prometheus text endpoint with hc and hands each sample to sample.
func readMetrics(ctx context.Context, hc *http.Client, url string, sample func(name string, labels map[string]string, value float64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if name, labels, value, ok := parseSample(sc.Text()); ok {
			sample(name, labels, value)
		}
	}
	return sc.Err()
}

// parseSample parses one line of the Prometheus text format.
func parseSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	labels = map[string]string{}
	var rest string
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", nil, 0, false
		}
		name, rest = line[:i], strings.TrimSpace(line[j+1:])
		for _, kv := range strings.Split(line[i+1:j], ",") {
			k, v, found := strings.Cut(kv, "=")
			if found {
				labels[k] = strings.Trim(v, `"`)
			}
		}
	} else {
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", nil, 0, false
		}
		name, rest = f[0], f[1]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return name, labels, v, err == nil
}

// meanLatencies formats the mean latency of every key with at least 0.1 requests per second in
// the window.
func meanLatencies(sum0, n0, sum1, n1 map[string]float64, sec float64) string {
	var out []string
	for k, n := range n1 {
		d := n - n0[k]
		if d/sec < 0.1 {
			continue
		}
		out = append(out, fmt.Sprintf("%s %.0f ms (%.1f/s)", k, 1000*(sum1[k]-sum0[k])/d, d/sec))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// setNice sets the niceness of every thread of this process to n (threads started later inherit
// it); child processes keep the niceness they were started with. Lowering it back needs the
// privilege to (root); without it the niceness stays.
func setNice(n int) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, n)
		}
	}
}

// baseNice is the niceness this process started with.
var baseNice = func() int {
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return 0
	}
	return 20 - p // the system call returns 20 - nice
}()
