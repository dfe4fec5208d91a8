// Package selector is the sidecar that workloads ask "which prompt now?". It watches the
// PromptArms of its portfolios, answers Thompson draws from their posteriors over HTTP with a
// signed decision token, takes rewards for those decisions back, and reports the counts to the
// controller exactly once.
//
// One reward's path: the HTTP handler (api.reward) verifies the token (token.go), rejects a
// replay (replay.go), writes the reward to the write-ahead record and waits for its group commit
// (wal.go, with disk acknowledgement), and adds one to the arm's acknowledged cumulative counts
// (registry.go); only then it answers 202. The flusher (flush.go) writes the cumulative counts
// into this writer's PromptCounterReport of the portfolio, about once per report interval; the
// controller sums the reports into the arms' status (internal/counters). On shutdown the selector
// stops taking rewards and writes once more; what it cannot write stays in the record for the
// next start.
package selector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// PortfolioLabel is the label every PromptArm carries with its portfolio's name.
const PortfolioLabel = v1alpha1.LabelPortfolio

// Acknowledgement levels (Config.Ack).
const (
	// AckDisk answers 202 once the reward is in the write-ahead record on disk: it survives
	// SIGKILL and OOMKill of the selector (its pod's emptyDir keeps the record), not the loss of
	// the node.
	AckDisk = "disk"
	// AckMemory answers 202 once the reward is in memory: a SIGKILL loses what the last report
	// write did not carry, at most one report interval of rewards.
	AckMemory = "memory"
)

// Config configures a selector. Zero values take the defaults of Defaults.
type Config struct {
	// Namespace of the portfolios; required.
	Namespace string
	// Portfolios to serve. Empty means every portfolio whose arms match LabelSelector.
	Portfolios []string
	// LabelSelector further selects the watched PromptArms.
	LabelSelector string
	// Addr is the HTTP listen address. Default 127.0.0.1:8088.
	Addr string
	// AdvertiseAddress is the host:port other selectors reach this one at: the home written
	// into its decisions, to which they forward the rewards of those decisions; "none" writes no
	// home. Default: the listen address when it names an address (loopback only when PodIP is
	// empty), else PodIP with the listen port, else none.
	AdvertiseAddress string
	// PodIP is the IP of the selector's pod, for the default AdvertiseAddress.
	PodIP string
	// ForwardTimeout bounds a reward forwarded to its decision's home. Default 5s.
	ForwardTimeout time.Duration
	// Writer names this writer's PromptCounterReports ("<writer>.<portfolio>"). It must stay the
	// same across restarts of the process that share a state directory, and differ between
	// processes that run at once. Default WriterID().
	Writer string
	// PodName and PodUID, when both are set, make the writer's reports owned by that pod, so
	// garbage collection deletes them with it (and the controller folds them first).
	PodName, PodUID string
	// Ack is the acknowledgement level, AckDisk or AckMemory. Default AckDisk when StateDir is
	// set, else AckMemory.
	Ack string
	// StateDir holds the write-ahead record of disk acknowledgement: in a pod, an emptyDir.
	StateDir string
	// KeyFile holds the decision key shared by all portfolios. Empty means a Secret per
	// portfolio (KeySecretName), created when missing.
	KeyFile string
	// KeyRefresh is how often the key file or Secrets are reread. Default 30s.
	KeyRefresh time.Duration
	// KeyGrace is how long a replaced key still verifies decisions. Default 1h.
	KeyGrace time.Duration
	// TokenTTL is how long a decision can be rewarded. Default 10m.
	TokenTTL time.Duration
	// FlushInterval is the shortest interval between two writes of a report; the controller's
	// report interval (status.reportInterval of the arms) makes it longer when a portfolio has
	// many writers. Default 1s.
	FlushInterval time.Duration
	// FlushJitter is the fraction by which the backoff after a failed report write varies.
	// Default 0.1.
	FlushJitter float64
	// MaxPending bounds the acknowledged rewards not yet written to the API server; beyond it
	// rewards are answered 503 (backlog_full). Default 1,000,000.
	MaxPending int64
	// APITimeout bounds each request to the API server. Default 10s.
	APITimeout time.Duration
	// FlushParallelism bounds concurrent writes. Default 4.
	FlushParallelism int
	// ShutdownTimeout bounds the final write. Default 25s.
	ShutdownTimeout time.Duration
	// MaxBodyBytes bounds request bodies. Default 8192.
	MaxBodyBytes int64
	// MaxHeaderBytes bounds request headers. Default 16384.
	MaxHeaderBytes int
}

// Defaults fills the zero fields of c.
func (c *Config) Defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8088"
	}
	if c.Writer == "" {
		c.Writer = WriterID(c.PodName, c.PodUID)
	}
	if c.Ack == "" {
		c.Ack = AckMemory
		if c.StateDir != "" {
			c.Ack = AckDisk
		}
	}
	set(&c.KeyRefresh, 30*time.Second)
	set(&c.KeyGrace, time.Hour)
	set(&c.TokenTTL, 10*time.Minute)
	set(&c.FlushInterval, time.Second)
	set(&c.APITimeout, 10*time.Second)
	set(&c.ForwardTimeout, 5*time.Second)
	set(&c.ShutdownTimeout, 25*time.Second)
	if c.FlushJitter <= 0 {
		c.FlushJitter = 0.1
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 1_000_000
	}
	if c.FlushParallelism <= 0 {
		c.FlushParallelism = 4
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 8192
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 16384
	}
}

// WriterID returns the writer id of a selector: in a pod, "<pod name>-<start of the pod's uid>",
// the same for every restart of the sidecar (which keeps its state record in the pod's emptyDir)
// and never the same for two pods, even of one StatefulSet name; elsewhere "<host name>-<random
// suffix>", new on every call. It is a lowercase DNS label.
func WriterID(podName, podUID string) string {
	host := podName
	if host == "" {
		host, _ = os.Hostname()
	}
	host = strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, host), "-")
	if len(host) > 44 {
		host = strings.TrimRight(host[:44], "-")
	}
	if host == "" {
		host = "selector"
	}
	if uid := strings.ReplaceAll(strings.ToLower(podUID), "-", ""); podName != "" && len(uid) >= 10 {
		return host + "-" + uid[:10]
	}
	suffix := make([]byte, 5)
	_, _ = rand.Read(suffix)
	return host + "-" + hex.EncodeToString(suffix)
}

// Selector is one selector process.
type Selector struct {
	cfg     Config
	kube    *kubeClient
	arms    toolscache.SharedIndexInformer
	reg     *registry
	api     *api
	metrics *metrics
	flusher *flusher
	keys    *secretKeys
	fileKey *Keyring

	synced   atomic.Bool
	addr     atomic.Pointer[string]
	listened chan struct{}

	keyCtx    context.Context
	keyWG     sync.WaitGroup
	watchOnce sync.Map

	// restoredDecisions is the number of unexpired rewarded decisions the state record held.
	restoredDecisions int
}

// New builds a selector for the API server of restCfg.
func New(cfg Config, restCfg *rest.Config) (*Selector, error) {
	cfg.Defaults()
	if cfg.Namespace == "" {
		return nil, errors.New("a namespace is required")
	}
	if errs := validation.IsDNS1123Label(cfg.Writer); len(errs) > 0 {
		return nil, fmt.Errorf("writer id %q: %s", cfg.Writer, strings.Join(errs, "; "))
	}
	switch {
	case cfg.Ack != AckDisk && cfg.Ack != AckMemory:
		return nil, fmt.Errorf("acknowledgement %q: want %s or %s", cfg.Ack, AckDisk, AckMemory)
	case cfg.Ack == AckDisk && cfg.StateDir == "":
		return nil, errors.New("disk acknowledgement needs a state directory")
	}
	sel, err := armSelector(cfg)
	if err != nil {
		return nil, err
	}
	kube, err := newKubeClient(restCfg, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	s := &Selector{cfg: cfg, kube: kube, listened: make(chan struct{})}
	// Only the arms of the served portfolios are listed and watched, and each is cut down to what
	// draws and rewards read before it is stored.
	s.arms = toolscache.NewSharedIndexInformerWithOptions(kube.armListWatch(sel.String()), &v1alpha1.PromptArm{},
		toolscache.SharedIndexInformerOptions{ObjectDescription: "PromptArms"})
	if err := s.arms.SetTransform(trimArm); err != nil {
		return nil, err
	}
	if _, err := s.arms.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.observe(obj) },
		UpdateFunc: func(_, obj any) { s.observe(obj) },
		DeleteFunc: func(obj any) { s.forget(obj) },
	}); err != nil {
		return nil, err
	}
	if cfg.KeyFile != "" {
		s.fileKey = NewKeyring(cfg.KeyGrace)
		k, err := readKeyFile(cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		if err := s.fileKey.Set(k, nil, time.Now()); err != nil {
			return nil, err
		}
	} else {
		s.keys = &secretKeys{kube: kube}
	}
	s.reg = newRegistry(cfg.Writer, s.newPortfolio)
	s.metrics = newMetrics(func() float64 { return float64(s.api.pending.Load()) }, func() float64 { return float64(s.api.replay.len()) })
	s.api = newAPI(s.reg, s.metrics, cfg.TokenTTL, cfg.MaxBodyBytes, cfg.MaxPending, cfg.ForwardTimeout, s.synced.Load)
	s.flusher = &flusher{
		kube: kube, reg: s.reg, api: s.api, metrics: s.metrics, writer: cfg.Writer,
		timeout: cfg.APITimeout, floor: cfg.FlushInterval, jitter: cfg.FlushJitter, parallel: cfg.FlushParallelism, now: time.Now,
		instance: fmt.Sprintf("%016x", s.api.issuer),
	}
	if cfg.Ack == AckDisk {
		s.flusher.stateDir = cfg.StateDir
	}
	if cfg.PodName != "" && cfg.PodUID != "" {
		s.flusher.owner = &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: cfg.PodName, UID: types.UID(cfg.PodUID)}
	}
	s.reg.initArm = s.flusher.initArm
	if cfg.Ack == AckDisk {
		if err := s.openState(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// openState opens the write-ahead record of the state directory, which must belong to this
// writer, and restores the counts and the replay record it holds.
func (s *Selector) openState() error {
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	idFile := filepath.Join(s.cfg.StateDir, "writer")
	switch b, err := os.ReadFile(idFile); {
	case err == nil && strings.TrimSpace(string(b)) != s.cfg.Writer:
		return fmt.Errorf("the state directory %s belongs to writer %q, not %q", s.cfg.StateDir, strings.TrimSpace(string(b)), s.cfg.Writer)
	case errors.Is(err, os.ErrNotExist):
		if err := os.WriteFile(idFile, []byte(s.cfg.Writer+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing the state directory's writer id: %w", err)
		}
	case err != nil:
		return fmt.Errorf("reading the state directory's writer id: %w", err)
	}
	w, rep, err := openWAL(s.cfg.StateDir, max(s.cfg.TokenTTL/4, time.Minute), time.Now)
	if err != nil {
		return err
	}
	now := time.Now()
	if s.api.lineage, err = openLineage(s.cfg.StateDir, s.api.issuer, s.cfg.TokenTTL, now); err != nil {
		_ = w.close()
		return err
	}
	for _, d := range rep.decisions {
		s.api.replay.firstUse(d.issuer, d.seq, d.expires, now)
	}
	s.api.wal = w
	s.flusher.restored = rep.counts
	s.restoredDecisions = len(rep.decisions)
	return nil
}

// armSelector returns the label selector of the watched arms.
func armSelector(cfg Config) (labels.Selector, error) {
	sel := labels.Everything()
	if cfg.LabelSelector != "" {
		var err error
		if sel, err = labels.Parse(cfg.LabelSelector); err != nil {
			return nil, fmt.Errorf("label selector: %w", err)
		}
	}
	req, err := labels.NewRequirement(PortfolioLabel, selection.Exists, nil)
	if len(cfg.Portfolios) > 0 {
		req, err = labels.NewRequirement(PortfolioLabel, selection.In, cfg.Portfolios)
	}
	if err != nil {
		return nil, fmt.Errorf("portfolios: %w", err)
	}
	return sel.Add(*req), nil
}

// newPortfolio is called under the registry's lock when a portfolio's first arm is seen.
func (s *Selector) newPortfolio(name string) *portfolioState {
	p := &portfolioState{
		name:      name,
		draws:     s.metrics.draws.WithLabelValues(name),
		successes: s.metrics.rewards.WithLabelValues(name, "success"),
		fails:     s.metrics.rewards.WithLabelValues(name, "failure"),
	}
	empty := []*armState{}
	p.active.Store(&empty)
	all := map[string]*armState{}
	p.all.Store(&all)
	if s.fileKey != nil {
		p.keys = s.fileKey
	} else {
		p.keys = NewKeyring(s.cfg.KeyGrace)
		if _, loaded := s.watchOnce.LoadOrStore(name, true); !loaded && s.keyCtx != nil {
			s.keyWG.Add(1)
			go func() {
				defer s.keyWG.Done()
				s.keys.watch(s.keyCtx, name, p.keys, s.cfg.KeyRefresh)
			}()
		}
	}
	return p
}

// Writer returns the writer id.
func (s *Selector) Writer() string { return s.cfg.Writer }

// Handler returns the HTTP API.
func (s *Selector) Handler() http.Handler { return s.api }

// Addr returns the address the API listens on, once it listens.
func (s *Selector) Addr() string {
	<-s.listened
	return *s.addr.Load()
}

// Ready reports whether the cache has synced.
func (s *Selector) Ready() bool { return s.synced.Load() }

// Run serves until ctx ends, then shuts down: it stops taking rewards (503), writes its reports
// once more and returns. It returns an error when acknowledged counts could not be written; with
// disk acknowledgement they stay in the state record, and the next start writes them.
func (s *Selector) Run(ctx context.Context) error {
	logger := logr.FromContextOrDiscard(ctx).WithValues("writer", s.cfg.Writer)
	ctx = logr.NewContext(ctx, logger)

	// Background work stops at ctx's end; the shutdown sequence below uses its own context.
	work, stopWork := context.WithCancel(ctx)
	defer stopWork()
	s.keyCtx = work

	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		s.arms.RunWithContext(work)
	}()

	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		stopWork()
		bg.Wait()
		return fmt.Errorf("listening: %w", err)
	}
	addr := ln.Addr().String()
	home, err := advertisedAddress(s.cfg.AdvertiseAddress, s.cfg.PodIP, ln.Addr())
	if err != nil {
		ln.Close()
		stopWork()
		bg.Wait()
		return err
	}
	// Set before the server starts: no decision is issued without its home.
	s.api.home = home
	s.addr.Store(&addr)
	close(s.listened)
	srv := &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	bg.Add(1)
	go func() {
		defer bg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(err, "HTTP server stopped")
		}
	}()
	logger.Info("selector listening", "addr", addr, "home", home, "namespace", s.cfg.Namespace, "acknowledgement", s.cfg.Ack,
		"restoredDecisions", s.restoredDecisions)

	if s.fileKey != nil {
		bg.Add(1)
		go func() {
			defer bg.Done()
			watchKeyFile(work, s.cfg.KeyFile, s.fileKey, s.cfg.KeyRefresh)
		}()
	}

	if !toolscache.WaitForCacheSync(work.Done(), s.arms.HasSynced) {
		// Stopped before the cache synced: no reward was taken, so there is nothing to lose.
		return s.shutdown(logger, srv, stopWork, &bg, nil)
	}
	s.synced.Store(true)
	logger.Info("arm cache synced")

	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		s.flusher.run(work)
	}()
	<-ctx.Done()
	return s.shutdown(logger, srv, stopWork, &bg, flushDone)
}

// shutdown runs the graceful stop: no new rewards, the end of the report write in flight (when
// flushDone, closed once the flusher has stopped, is not nil), a final write of every report,
// the state record closed, all within ShutdownTimeout.
func (s *Selector) shutdown(logger logr.Logger, srv *http.Server, stopWork context.CancelFunc, bg *sync.WaitGroup, flushDone <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	ctx = logr.NewContext(ctx, logger)
	s.api.stopAccepting(ctx.Done())
	stopWork()
	if flushDone != nil {
		// Its requests end within the API timeout (by default below the shutdown timeout).
		select {
		case <-flushDone:
		case <-ctx.Done():
		}
	}

	var errs []error
	if s.synced.Load() {
		for {
			err := s.flusher.pass(ctx, nil, true)
			if err == nil && s.api.pending.Load() <= 0 {
				break
			}
			if ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("final write: %d acknowledged rewards not written: %w", s.api.pending.Load(), errors.Join(err, ctx.Err())))
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	_ = srv.Shutdown(ctx)
	bg.Wait()
	s.keyWG.Wait()
	if s.api.wal != nil {
		if err := s.api.wal.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the state record: %w", err))
		}
	}
	pending := s.api.pending.Load()
	if pending > 0 {
		msg := "acknowledged rewards were not written; they are lost with memory acknowledgement"
		if s.api.wal != nil {
			msg = "acknowledged rewards were not written; the state record keeps them for the next start"
		}
		logger.Error(errors.Join(errs...), msg, "pending", pending)
	}
	logger.Info("selector stopped", "pending", pending)
	return errors.Join(errs...)
}

// trimArm is the cache transform of PromptArms: it keeps only the fields the registry reads
// (name, namespace, labels, resource version, portfolio, prompt, prior, phase, totals and report
// interval), so
// that annotations such as kubectl's last-applied configuration, managedFields, the origin and the
// controller's derived statistics are not held in memory. Other objects pass unchanged.
func trimArm(obj any) (any, error) {
	arm, ok := obj.(*v1alpha1.PromptArm)
	if !ok {
		return obj, nil
	}
	return &v1alpha1.PromptArm{
		TypeMeta: arm.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: arm.Name, Namespace: arm.Namespace, UID: arm.UID,
			ResourceVersion: arm.ResourceVersion, Labels: arm.Labels,
		},
		Spec: v1alpha1.PromptArmSpec{Portfolio: arm.Spec.Portfolio, Prompt: arm.Spec.Prompt, Prior: arm.Spec.Prior},
		Status: v1alpha1.PromptArmStatus{Phase: arm.Status.Phase, Successes: arm.Status.Successes, Failures: arm.Status.Failures,
			ReportInterval: arm.Status.ReportInterval},
	}, nil
}

func (s *Selector) observe(obj any) {
	if arm, ok := obj.(*v1alpha1.PromptArm); ok {
		s.reg.observe(arm)
	}
}

func (s *Selector) forget(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if arm, ok := obj.(*v1alpha1.PromptArm); ok {
		s.reg.forget(arm.Namespace, arm.Name, arm.Spec.Portfolio)
	}
}
