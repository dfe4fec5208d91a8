//go:build !selectoronly

package main

// commands lists the subcommands in the order `promptfolio help` prints them.
var commands = []command{
	{name: "manager", summary: "run the controller manager (reconciles PromptPortfolios and PromptArms)", run: runManager},
	selectorCommand,
	{name: "simulate", summary: "simulate a portfolio with known true rates; compare strategies and plot (see docs/simulate.md)", run: runSimulate},
	{name: "plot", summary: "plot posterior densities and traffic share of a portfolio in the cluster (PNG and SVG)", run: runPlot},
	{name: "workload", summary: "drive a simulated workload through a selector (used by make demo)", run: runWorkload},
}
