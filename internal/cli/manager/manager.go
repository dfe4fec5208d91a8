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
	"github.com/promptfolio/promptfolio/internal/traffic"
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
}

func (o *managerOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address the Prometheus metrics endpoint listens on; \"0\" turns it off")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader so that only one of several replicas reconciles (use it with more than one replica)")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	fs.DurationVar(&o.gracefulShutdown, "graceful-shutdown-timeout", 30*time.Second, "how long running reconciles may take to finish on SIGTERM")
	o.webhook.BindFlags(fs)
	o.zap.BindFlags(fs)
	bindControllerFlags(fs)
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
	controllerOptions.WatchHealth = controllers.NewWatchHealth(sch, watchHealthOptions)
	var cacheOptions cache.Options
	controllerOptions.WatchHealth.Install(&cacheOptions)
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
	if err := setupControllers(mgr); err != nil {
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

// controllerOptions and watchHealthOptions are the flags of the controllers, bound by
// bindControllerFlags.
var (
	controllerOptions  controllers.Options
	watchHealthOptions controllers.WatchHealthOptions
)

// bindControllerFlags adds the controllers' flags to the manager's flag set.
func bindControllerFlags(fs *flag.FlagSet) {
	o := &controllerOptions
	fs.DurationVar(&o.StatisticsInterval, "statistics-interval", controllers.DefaultStatisticsInterval,
		"least time between two statistics recomputations of one portfolio caused by counter reports; reports within it are coalesced into one status write")
	fs.DurationVar(&o.CycleTimeout, "cycle-timeout", controllers.DefaultCycleTimeout,
		"bound on the mutator's work (LLM calls and retries included) in one evolution cycle; below --reconcile-timeout")
	fs.DurationVar(&o.TrafficWindow, "traffic-window", traffic.DefaultMinDuration,
		"least duration of a traffic window; an arm's trafficShare counts the trials of the current and the previous window (a window also holds at least 100 trials)")
	fs.DurationVar(&o.ReconcileTimeout, "reconcile-timeout", controllers.DefaultReconcileTimeout,
		"deadline of one reconcile of a portfolio (the status write that reports its outcome excluded)")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles,
		"number of portfolios reconciled in parallel")
	fs.IntVar(&o.OpenAI.MaxRetries, "llm-max-retries", 0,
		"consecutive failed calls to an OpenAI-compatible API for one variant before giving up (0: the built-in default of 3)")
	fs.DurationVar(&o.OpenAI.InitialBackoff, "llm-initial-backoff", 0,
		"first wait before retrying a failed LLM call, doubling afterwards (0: the built-in default of 1s)")
	fs.DurationVar(&o.OpenAI.MaxBackoff, "llm-max-backoff", 0,
		"longest wait between LLM retries; a Retry-After asking for more ends the attempt (0: the built-in default of 1m)")
	fs.Float64Var(&o.CounterWriteBudget, "counter-write-budget", controllers.DefaultCounterWriteBudget,
		"counter report writes per second that the selectors of one portfolio send together: each reports every writers/budget seconds (status.reportInterval of the arms)")
	fs.DurationVar(&o.ReportFloor, "report-floor", controllers.DefaultReportFloor,
		"shortest report interval of a selector")
	fs.DurationVar(&watchHealthOptions.FailureBound, "watch-failure-bound", controllers.DefaultWatchFailureBound,
		"how long the cache's list and watch of the counter reports may fail before portfolios turn Ready=False (CountersUnavailable): their totals stopped moving")
	fs.DurationVar(&watchHealthOptions.WatchTimeout, "watch-timeout", controllers.DefaultWatchTimeout,
		"longest watch request of the cache; a permission taken away shows when the next one starts, so a lost watch of the counter reports is reported within --watch-timeout plus --watch-failure-bound")
}

// setupControllers registers the reconcilers with the manager.
func setupControllers(mgr ctrl.Manager) error {
	if err := controllers.SetupWithManager(mgr, controllerOptions); err != nil {
		return fmt.Errorf("setting up the portfolio controller: %w", err)
	}
	return nil
}
