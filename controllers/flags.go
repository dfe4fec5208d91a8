package controllers

import (
	"flag"

	"github.com/promptfolio/promptfolio/internal/traffic"
)

// BindFlags adds the controllers' flags to fs, with the defaults that SetupWithManager would
// apply to zero values. The retries of the OpenAI-compatible mutator are bound by
// OpenAITuning.BindFlags.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.StatisticsInterval, "statistics-interval", DefaultStatisticsInterval, "least time between two statistics recomputations of one portfolio caused by counter reports; reports within it are coalesced into one status write")
	fs.DurationVar(&o.CycleTimeout, "cycle-timeout", DefaultCycleTimeout, "bound on the mutator's work (LLM calls and retries included) in one evolution cycle; below --reconcile-timeout")
	fs.DurationVar(&o.TrafficWindow, "traffic-window", traffic.DefaultMinDuration, "least duration of a traffic window; an arm's trafficShare counts the trials of the current and the previous window (a window also holds at least 100 trials)")
	fs.DurationVar(&o.ReconcileTimeout, "reconcile-timeout", DefaultReconcileTimeout, "deadline of one reconcile of a portfolio (the status write that reports its outcome excluded)")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", DefaultMaxConcurrentReconciles, "number of portfolios reconciled in parallel")
	fs.Float64Var(&o.CounterWriteBudget, "counter-write-budget", DefaultCounterWriteBudget, "counter report writes per second that the selectors of one portfolio send together: each reports every writers / (0.9 × budget) seconds, the rest being kept for the final writes of selectors that stop (status.reportInterval of the arms)")
	fs.DurationVar(&o.ReportFloor, "report-floor", DefaultReportFloor, "shortest report interval of a selector")
	o.OpenAI.BindFlags(fs)
}

// BindFlags adds the flags of the OpenAI-compatible mutator's retry pacing to fs; zero keeps
// the mutation package's defaults.
func (t *OpenAITuning) BindFlags(fs *flag.FlagSet) {
	fs.IntVar(&t.MaxRetries, "llm-max-retries", 0, "consecutive failed calls to an OpenAI-compatible API for one variant before giving up (0: the built-in default of 3)")
	fs.DurationVar(&t.InitialBackoff, "llm-initial-backoff", 0, "first wait before retrying a failed LLM call, doubling afterwards (0: the built-in default of 1s)")
	fs.DurationVar(&t.MaxBackoff, "llm-max-backoff", 0, "longest wait between LLM retries; a Retry-After asking for more ends the attempt (0: the built-in default of 1m)")
}

// BindFlags adds the flags of the watch-health check to fs.
func (o *WatchHealthOptions) BindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.FailureBound, "watch-failure-bound", DefaultWatchFailureBound, "how long the cache's list and watch of the counter reports may fail before portfolios turn Ready=False (CountersUnavailable): their totals stopped moving")
	fs.DurationVar(&o.WatchTimeout, "watch-timeout", DefaultWatchTimeout, "longest watch request of the cache; a permission taken away shows when the next one starts, so a lost watch of the counter reports is reported within --watch-timeout plus --watch-failure-bound")
}
