// Package plot is the `promptfolio plot` subcommand.
package plot

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/promptfolio/promptfolio/internal/cli"
	"github.com/promptfolio/promptfolio/internal/plot"
	"github.com/promptfolio/promptfolio/internal/scheme"
)

// Command is the plot subcommand.
var Command = cli.Command{
	Name:    "plot",
	Summary: "plot posterior densities and traffic share of a portfolio in the cluster (PNG and SVG)",
	Run:     run,
}

// plotOptions are the flags of `promptfolio plot`.
type plotOptions struct {
	portfolio      string
	namespace      string
	out            string
	kubeconfig     string
	includeRetired bool
	timeout        time.Duration
}

func (o *plotOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.portfolio, "portfolio", "", "name of the PromptPortfolio to plot (required)")
	fs.StringVar(&o.namespace, "namespace", "", "namespace of the portfolio (default: the kubeconfig context's namespace)")
	fs.StringVar(&o.namespace, "n", "", "shorthand for -namespace")
	fs.StringVar(&o.out, "out", ".", "directory the PNG and SVG files are written to")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.BoolVar(&o.includeRetired, "include-retired", false, "also draw the posterior densities of retired arms")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound on reading the portfolio from the API server")
}

// run is the `plot` subcommand: it reads a portfolio and its arms from the cluster and writes
// <portfolio>-posteriors and <portfolio>-traffic as PNG and SVG.
func run(ctx context.Context, args []string) error {
	var opts plotOptions
	fs, err := cli.ParseFlags("plot", args, opts.bind)
	if err != nil {
		return err
	}
	if opts.portfolio == "" {
		fs.Usage()
		return errors.New("plot: -portfolio is required")
	}
	kc := cli.KubeClientConfig(opts.kubeconfig)
	cfg, err := kc.ClientConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	if opts.namespace == "" {
		if opts.namespace, _, err = kc.Namespace(); err != nil {
			return fmt.Errorf("reading the kubeconfig's namespace: %w", err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	readCtx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	p, err := plot.Collect(readCtx, c, opts.namespace, opts.portfolio)
	if err != nil {
		return err
	}
	written, err := plot.Write(p, plot.Options{Dir: opts.out, IncludeRetired: opts.includeRetired})
	for _, path := range written {
		fmt.Fprintln(os.Stdout, path)
	}
	return err
}
