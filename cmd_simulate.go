//go:build !selectoronly

package main

import (
	"context"
	"os"

	"github.com/promptfolio/promptfolio/internal/simulate"
)

// runSimulate is the `simulate` subcommand: it plays a portfolio against simulated traffic with
// the production selection and evolution rules and prints and plots how they compare (see
// docs/simulate.md and `promptfolio simulate -h`).
func runSimulate(ctx context.Context, args []string) error {
	return simulate.Main(ctx, args, os.Stdout, os.Stderr)
}
