// Command promptfolio-selector is the binary of the injected sidecar: the `selector` subcommand of
// promptfolio and nothing else (`promptfolio-selector selector --listen=...`, the same arguments as
// `promptfolio selector`). It imports internal/cli/selector alone, so it links neither the
// controller manager, nor the LLM client, nor the plots; TestSelectorBuildDeps keeps it so.
package main

import (
	"github.com/promptfolio/promptfolio/internal/cli"
	"github.com/promptfolio/promptfolio/internal/cli/selector"
)

func main() {
	cli.Main("promptfolio-selector", []cli.Command{selector.Command})
}
