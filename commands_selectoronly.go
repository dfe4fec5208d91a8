//go:build selectoronly

package main

// commands of the selector-only build: the sidecar needs nothing else.
var commands = []command{selectorCommand}
