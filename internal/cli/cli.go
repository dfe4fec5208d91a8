// Package cli is the frame of promptfolio's binaries: a table of subcommands, the dispatch on the
// first argument, the signal handling and exit codes of main, and the kubeconfig loading that the
// subcommands share.
//
// Each subcommand is a package of its own below this one (internal/cli/manager,
// internal/cli/selector, ...), exporting one Command. A binary links exactly the subcommands its
// main package imports: the top-level main.go imports them all, cmd/promptfolio-selector imports
// the selector alone, so the sidecar carries none of the manager's, the plots' or the LLM client's
// code. TestSelectorBuildDeps in cmd/promptfolio-selector keeps it so.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"
)

// Command is one subcommand of a binary.
type Command struct {
	// Name is the first argument that selects the subcommand.
	Name string
	// Summary is the line `help` prints for it.
	Summary string
	// Run runs the subcommand with the arguments after its name. It returns flag.ErrHelp after
	// printing its flags for -h.
	Run func(ctx context.Context, args []string) error
}

// Main runs the subcommand that os.Args names, with a context cancelled on SIGINT or SIGTERM, and
// exits: 0 on success or -h, 1 with the error on stderr otherwise. program names the binary in
// messages.
func Main(program string, commands []Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Dispatch(ctx, program, commands, os.Args[1:], os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, program+":", err)
		os.Exit(1)
	}
}

// Dispatch runs the command named by args[0] with the remaining arguments. No argument, or
// help, -h or --help, prints the usage to usageOut; an unknown name prints it and fails.
func Dispatch(ctx context.Context, program string, commands []Command, args []string, usageOut io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(usageOut, program, commands)
		if len(args) == 0 {
			return errors.New("no subcommand given")
		}
		return nil
	}
	for _, c := range commands {
		if c.Name == args[0] {
			return c.Run(ctx, args[1:])
		}
	}
	usage(usageOut, program, commands)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func usage(w io.Writer, program string, commands []Command) {
	fmt.Fprintf(w, "Usage: %s <subcommand> [flags]\n\nSubcommands:\n", program)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun '%s <subcommand> -h' for the flags of one subcommand.\n", program)
}

// ParseFlags parses a subcommand's arguments into the flags that bind adds to a new flag set
// named name, and returns the set (for its Usage). With -h it prints the flags and returns
// flag.ErrHelp.
func ParseFlags(name string, args []string, bind func(*flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	bind(fs)
	return fs, fs.Parse(args)
}

// KubeClientConfig loads the API server's address, credentials and namespace: from the kubeconfig
// file when given, else from $KUBECONFIG or ~/.kube/config, else from the pod's service account.
func KubeClientConfig(kubeconfig string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
}
