// Package bandit holds the statistics promptfolio rests on: Beta-Binomial
// posteriors, Thompson sampling over them, the exact probability that one
// arm beats another, and the probability that an arm is the best of many.
//
// The package is pure math: it imports no Kubernetes packages and keeps no
// global state. Every random draw comes from a generator the caller seeded,
// so tests are reproducible.
package bandit
