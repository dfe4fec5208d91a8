// Package simulate is the `promptfolio simulate` subcommand.
package simulate

import (
	"context"
	"os"

	"github.com/promptfolio/promptfolio/internal/cli"
	"github.com/promptfolio/promptfolio/internal/simulate"
)

// Command is the simulate subcommand: it plays a portfolio against simulated traffic with
// the production selection and evolution rules and prints and plots how they compare (see
// docs/simulate.md and `promptfolio simulate -h`).
var Command = cli.Command{
	Name:    "simulate",
	Summary: "simulate a portfolio with known true rates; compare strategies and plot (see docs/simulate.md)",
	Run: func(ctx context.Context, args []string) error {
		return simulate.Main(ctx, args, os.Stdout, os.Stderr)
	},
}
