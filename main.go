// Command promptfolio is the single binary of promptfolio. Its subcommands are the controller
// manager, the selector sidecar and the offline simulation; run `promptfolio help` for the list.
//
// Built with the tag selectoronly (`make build`, bin/promptfolio-selector) the binary has the
// selector subcommand alone: it leaves out the manager's, the plots' and the simulation's code,
// which keeps the sidecar's resident memory small.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "promptfolio:", err)
		os.Exit(1)
	}
}

// dispatch runs the subcommand named by args[0].
func dispatch(ctx context.Context, args []string, usageOut io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(usageOut)
		if len(args) == 0 {
			return errors.New("no subcommand given")
		}
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	usage(usageOut)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: promptfolio <subcommand> [flags]\n\nSubcommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'promptfolio <subcommand> -h' for the flags of one subcommand.")
}
