// Package workload is the `promptfolio workload` subcommand.
package workload

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/promptfolio/promptfolio/internal/cli"
	"github.com/promptfolio/promptfolio/internal/demo"
	"github.com/promptfolio/promptfolio/internal/scheme"
)

// Command is the `workload` subcommand: a simulated application that draws prompts from a
// selector and reports rewards drawn from hidden success rates. `make demo` runs it.
var Command = cli.Command{
	Name:    "workload",
	Summary: "drive a simulated workload through a selector (used by make demo)",
	Run:     run,
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	var (
		opts      demo.Options
		rates     string
		expectGen int
	)
	fs.StringVar(&opts.SelectorURL, "selector", "http://127.0.0.1:8088", "base URL of the selector")
	fs.StringVar(&opts.Namespace, "namespace", "default", "namespace of the portfolio")
	fs.StringVar(&opts.Portfolio, "portfolio", "", "portfolio to drive (required)")
	fs.StringVar(&rates, "rates", "", "hidden success rates of seed prompts, as name=rate pairs separated by commas")
	fs.Float64Var(&opts.DefaultRate, "default-rate", 0.3, "hidden rate of arms with no listed seed rate and no parent")
	fs.Float64Var(&opts.Sigma, "sigma", 0.08, "standard deviation of a child's hidden rate around its parent's")
	fs.DurationVar(&opts.Duration, "duration", 2*time.Minute, "how long to run")
	fs.Float64Var(&opts.RequestsPerSecond, "rps", 200, "requests per second (0: as fast as the selector answers)")
	fs.IntVar(&opts.Workers, "workers", 4, "concurrent simulated clients")
	fs.Uint64Var(&opts.Seed, "seed", 1, "seed of hidden child rates and outcomes")
	fs.DurationVar(&opts.Progress, "progress", 10*time.Second, "interval of progress tables (0: none)")
	fs.IntVar(&expectGen, "expect-generations", 0, "exit non-zero unless a best arm was found and at least this many evolution generations completed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if opts.Portfolio == "" {
		fs.Usage()
		return fmt.Errorf("workload: -portfolio is required")
	}
	seedRates, err := parseRates(rates)
	if err != nil {
		return err
	}
	opts.SeedRates, opts.Out = seedRates, os.Stdout
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	kube, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	res, err := demo.New(kube, opts).Run(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("\nSummary: %d rewards (%d successes, %d errors) over %s\n", res.Rewards, res.Successes, res.Errors, res.Elapsed.Round(time.Second))
	fmt.Printf("  best arm: %s (hidden best among active arms: %s)\n", res.BestArm, res.OracleArm)
	fmt.Printf("  best arm's share of traffic in the second half: %.0f%%\n", 100*res.BestShareLastHalf)
	fmt.Printf("  evolution generations: %d; arms: %d\n", res.Generation, len(res.Arms))
	if expectGen > 0 {
		return res.Check(int32(expectGen))
	}
	return nil
}

// parseRates reads "a=0.2,b=0.5" into a map.
func parseRates(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for pair := range strings.SplitSeq(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		r, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("workload: -rates entry %q is not name=rate with rate in [0,1]", pair)
		}
		out[name] = r
	}
	return out, nil
}
