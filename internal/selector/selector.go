// Package selector is the sidecar that workloads ask "which prompt now?". It watches the
// PromptArms of its portfolios, answers Thompson draws from their posteriors over HTTP with a
// signed decision token, takes rewards for those decisions back, and writes the counts into the
// arms' status exactly once.
//
// One reward's path: the HTTP handler (api.reward) verifies the token (token.go), rejects a
// replay (replay.go), and adds one to the arm's acknowledged cumulative counts (registry.go); only
// then it answers 202. The flusher (flush.go) applies the cumulative counts as this process's
// entry of status.counters.writers with server-side apply; the controller sums the entries
// (internal/counters) into the posterior. On shutdown the selector stops taking rewards, writes
// once more, and folds its entry into the base.
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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/counters"
)

// PortfolioLabel is the label every PromptArm carries with its portfolio's name.
const PortfolioLabel = "promptfolio.dev/portfolio"

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
	// Writer is this process's counter entry and Lease name; it must be unique per process
	// incarnation. Default NewWriterID().
	Writer string
	// KeyFile holds the decision key shared by all portfolios. Empty means a Secret per
	// portfolio (KeySecretName), created when missing.
	KeyFile string
	// KeyRefresh is how often the key file or Secrets are reread. Default 30s.
	KeyRefresh time.Duration
	// KeyGrace is how long a replaced key still verifies decisions. Default 1h.
	KeyGrace time.Duration
	// TokenTTL is how long a decision can be rewarded. Default 10m.
	TokenTTL time.Duration
	// FlushInterval between writes of the counters. Default 1s.
	FlushInterval time.Duration
	// FlushJitter is the fraction by which intervals vary. Default 0.2.
	FlushJitter float64
	// FlushAfter rewards start a flush before the interval ends. Default 20000.
	FlushAfter int64
	// APITimeout bounds each request to the API server. Default 10s.
	APITimeout time.Duration
	// FlushParallelism bounds concurrent writes. Default 4.
	FlushParallelism int
	// LeaseDuration of the writer's Lease; it is renewed every third of it. Default 30s.
	LeaseDuration time.Duration
	// ShutdownTimeout bounds the final flush and fold. Default 25s.
	ShutdownTimeout time.Duration
	// FoldAttempts bounds the optimistic-locked fold of each arm on shutdown. Default 10.
	FoldAttempts int
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
		c.Writer = NewWriterID()
	}
	set(&c.KeyRefresh, 30*time.Second)
	set(&c.KeyGrace, time.Hour)
	set(&c.TokenTTL, 10*time.Minute)
	set(&c.FlushInterval, time.Second)
	set(&c.APITimeout, 10*time.Second)
	set(&c.LeaseDuration, 30*time.Second)
	set(&c.ShutdownTimeout, 25*time.Second)
	if c.FlushJitter <= 0 {
		c.FlushJitter = 0.2
	}
	if c.FlushAfter <= 0 {
		c.FlushAfter = 20000
	}
	if c.FlushParallelism <= 0 {
		c.FlushParallelism = 4
	}
	if c.FoldAttempts <= 0 {
		c.FoldAttempts = 10
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 8192
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 16384
	}
}

// NewWriterID returns "<hostname>-<random suffix>" as a lowercase DNS label, unique per call.
func NewWriterID() string {
	host, _ := os.Hostname()
	if pod := os.Getenv("POD_NAME"); pod != "" {
		host = pod
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
	suffix := make([]byte, 5)
	_, _ = rand.Read(suffix)
	return host + "-" + hex.EncodeToString(suffix)
}

// FieldManager returns the server-side apply field manager of a writer.
func FieldManager(writer string) string {
	return "promptfolio-selector-" + writer
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
}

// New builds a selector for the API server of restCfg.
func New(cfg Config, restCfg *rest.Config) (*Selector, error) {
	cfg.Defaults()
	if cfg.Namespace == "" {
		return nil, errors.New("a namespace is required")
	}
	if errs := validation.IsDNS1123Subdomain(cfg.Writer); len(errs) > 0 {
		return nil, fmt.Errorf("writer id %q: %s", cfg.Writer, strings.Join(errs, "; "))
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
	s.metrics = newMetrics(s.pendingTotal, func() float64 { return float64(s.api.replay.len()) })
	s.api = newAPI(s.reg, s.metrics, cfg.TokenTTL, cfg.MaxBodyBytes, cfg.FlushAfter, s.synced.Load)
	s.flusher = &flusher{
		kube: kube, reg: s.reg, api: s.api, metrics: s.metrics, writer: cfg.Writer, manager: FieldManager(cfg.Writer),
		timeout: cfg.APITimeout, parallel: cfg.FlushParallelism, now: time.Now,
	}
	return s, nil
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

func (s *Selector) pendingTotal() float64 {
	var n int64
	s.reg.each(func(_ *portfolioState, a *armState) { n += a.pending() })
	return float64(n)
}

// Run serves until ctx ends, then shuts down: it stops taking rewards (503), writes the counters
// once more, folds this writer's entries into the arms' bases, deletes its Lease and returns. It
// returns an error when acknowledged counts could not be written.
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
	logger.Info("selector listening", "addr", addr, "namespace", s.cfg.Namespace)

	if err := s.ensureLease(work); err != nil {
		logger.Error(err, "could not create the writer Lease; retrying while running")
	}
	bg.Add(1)
	go func() {
		defer bg.Done()
		s.renewLease(work)
	}()

	if s.fileKey != nil {
		bg.Add(1)
		go func() {
			defer bg.Done()
			watchKeyFile(work, s.cfg.KeyFile, s.fileKey, s.cfg.KeyRefresh)
		}()
	}

	if !toolscache.WaitForCacheSync(work.Done(), s.arms.HasSynced) {
		// Stopped before the cache synced: no reward was taken, so there is nothing to lose.
		return s.shutdown(logger, srv, stopWork, &bg)
	}
	s.synced.Store(true)
	logger.Info("arm cache synced")

	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		s.flusher.run(work, s.cfg.FlushInterval, s.cfg.FlushJitter)
	}()
	<-ctx.Done()
	stopWork()
	<-flushDone
	return s.shutdown(logger, srv, stopWork, &bg)
}

// shutdown runs the graceful stop: no new rewards, final flush, fold, Lease deletion.
func (s *Selector) shutdown(logger logr.Logger, srv *http.Server, stopWork context.CancelFunc, bg *sync.WaitGroup) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	ctx = logr.NewContext(ctx, logger)
	s.api.stopAccepting(ctx.Done())
	stopWork()

	var errs []error
	flushErr := s.flusher.flushAll(ctx)
	failed := s.flusher.foldAll(ctx, s.cfg.FoldAttempts)
	if flushErr != nil && len(failed) > 0 {
		errs = append(errs, fmt.Errorf("final flush: %w", flushErr))
	}
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("fold failed for arms %s", strings.Join(failed, ", ")))
	} else if err := s.deleteLease(ctx); err != nil {
		logger.Error(err, "could not delete the writer Lease")
	}
	_ = srv.Shutdown(ctx)
	bg.Wait()
	s.keyWG.Wait()
	logger.Info("selector stopped", "pending", s.pendingTotal(), "foldFailures", len(failed))
	return errors.Join(errs...)
}

// trimArm is the cache transform of PromptArms: it keeps only the fields the registry reads
// (name, namespace, labels, resource version, portfolio, prompt, prior, phase and counters), so
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
		Spec:   v1alpha1.PromptArmSpec{Portfolio: arm.Spec.Portfolio, Prompt: arm.Spec.Prompt, Prior: arm.Spec.Prior},
		Status: v1alpha1.PromptArmStatus{Phase: arm.Status.Phase, Counters: arm.Status.Counters},
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

// ensureLease creates the writer's Lease.
func (s *Selector) ensureLease(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	defer cancel()
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: counters.LeaseName(s.cfg.Writer), Namespace: s.cfg.Namespace,
			Labels: map[string]string{counters.LeaseLabel: "true"},
		},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(s.cfg.Writer),
			LeaseDurationSeconds: ptr.To(int32(s.cfg.LeaseDuration / time.Second)),
			AcquireTime:          &now,
			RenewTime:            &now,
		},
	}
	s.metrics.writes.WithLabelValues("lease").Inc()
	err := s.kube.createLease(ctx, lease)
	if apierrors.IsAlreadyExists(err) {
		return s.touchLease(ctx)
	}
	return err
}

// touchLease sets the Lease's renewTime to now.
func (s *Selector) touchLease(ctx context.Context) error {
	patch := fmt.Appendf(nil, `{"spec":{"renewTime":%q}}`, metav1.NewMicroTime(time.Now()).UTC().Format(metav1.RFC3339Micro))
	s.metrics.writes.WithLabelValues("lease").Inc()
	return s.kube.mergePatchLease(ctx, counters.LeaseName(s.cfg.Writer), patch)
}

// renewLease renews the Lease every third of its duration until ctx ends.
func (s *Selector) renewLease(ctx context.Context) {
	t := time.NewTicker(s.cfg.LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := func() error {
			c, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
			defer cancel()
			err := s.touchLease(c)
			if apierrors.IsNotFound(err) {
				return s.ensureLease(ctx)
			}
			return err
		}()
		if err != nil && ctx.Err() == nil {
			logr.FromContextOrDiscard(ctx).V(1).Info("could not renew the writer Lease", "error", err.Error())
		}
	}
}

func (s *Selector) deleteLease(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	defer cancel()
	if err := s.kube.deleteLease(ctx, counters.LeaseName(s.cfg.Writer)); !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
