// Package manager is the `promptfolio manager` subcommand: the controller manager that reconciles
// PromptPortfolios and PromptArms and serves the sidecar injection webhook.
package manager

import (
	"context"
	"flag"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/cli"
	"github.com/promptfolio/promptfolio/internal/scheme"
	pfwebhook "github.com/promptfolio/promptfolio/internal/webhook"
)

// Command is the manager subcommand.
var Command = cli.Command{
	Name:    "manager",
	Summary: "run the controller manager (reconciles PromptPortfolios and PromptArms)",
	Run:     run,
}

// managerOptions are the flags of `promptfolio manager`.
type managerOptions struct {
	metricsAddr      string
	probeAddr        string
	leaderElect      bool
	leaderElectionNS string
	gracefulShutdown time.Duration
	webhook          pfwebhook.Options
	zap              zap.Options
	controllers      controllers.Options
	watchHealth      controllers.WatchHealthOptions
}

func (o *managerOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address the Prometheus metrics endpoint listens on; \"0\" turns it off")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader so that only one of several replicas reconciles (use it with more than one replica)")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	fs.DurationVar(&o.gracefulShutdown, "graceful-shutdown-timeout", 30*time.Second, "how long running reconciles may take to finish on SIGTERM")
	o.webhook.BindFlags(fs)
	o.zap.BindFlags(fs)
	o.controllers.BindFlags(fs)
	o.watchHealth.BindFlags(fs)
}

func run(ctx context.Context, args []string) error {
	var opts managerOptions
	if _, err := cli.ParseFlags("manager", args, opts.bind); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	log := ctrl.Log.WithName("manager")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	sch := scheme.New()
	opts.controllers.WatchHealth = controllers.NewWatchHealth(sch, opts.watchHealth)
	var cacheOptions cache.Options
	opts.controllers.WatchHealth.Install(&cacheOptions)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  sch,
		Cache:                   cacheOptions,
		Metrics:                 metricsserver.Options{BindAddress: opts.metricsAddr},
		HealthProbeBindAddress:  opts.probeAddr,
		LeaderElection:          opts.leaderElect,
		LeaderElectionID:        "manager.promptfolio.dev",
		LeaderElectionNamespace: opts.leaderElectionNS,
		GracefulShutdownTimeout: &opts.gracefulShutdown,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := setupControllers(mgr, opts.controllers); err != nil {
		return err
	}
	if err := pfwebhook.SetupWebhook(mgr, opts.webhook); err != nil {
		return fmt.Errorf("setting up the sidecar injection webhook: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	log.Info("starting manager", "metrics", opts.metricsAddr, "probes", opts.probeAddr, "leaderElection", opts.leaderElect)
	return mgr.Start(ctx)
}

// setupControllers registers the reconcilers with the manager.
func setupControllers(mgr ctrl.Manager, o controllers.Options) error {
	if err := controllers.SetupWithManager(mgr, o); err != nil {
		return fmt.Errorf("setting up the portfolio controller: %w", err)
	}
	return nil
}
