// Command promptfolio is the single binary of promptfolio. Its subcommands are the controller
// manager, the selector sidecar, the offline simulation, the plots and the demo workload; run
// `promptfolio help` for the list.
//
// Each subcommand is a package under internal/cli; this file only lists them. The sidecar's
// binary, cmd/promptfolio-selector, lists the selector alone, so it links none of the others'
// code, which keeps its resident memory small.
package main

import (
	"github.com/promptfolio/promptfolio/internal/cli"
	"github.com/promptfolio/promptfolio/internal/cli/manager"
	"github.com/promptfolio/promptfolio/internal/cli/plot"
	"github.com/promptfolio/promptfolio/internal/cli/selector"
	"github.com/promptfolio/promptfolio/internal/cli/simulate"
	"github.com/promptfolio/promptfolio/internal/cli/workload"
)

// commands lists the subcommands in the order `promptfolio help` prints them.
var commands = []cli.Command{
	manager.Command,
	selector.Command,
	simulate.Command,
	plot.Command,
	workload.Command,
}

func main() {
	cli.Main("promptfolio", commands)
}
