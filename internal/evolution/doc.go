// Package evolution decides what an evolution cycle of a portfolio does. It is pure policy: given
// the arms of one portfolio (their priors, reward counts and metadata) and the portfolio's Policy,
// Decide returns a Plan that names the best arm, the arms to retire and the children to create.
// Nothing here talks to the API server, reads a clock or draws random numbers, so the controller
// and the simulator (internal/simulate) run the very same rules, and the rules are tested as
// tables.
//
// # The rules
//
// Best arm. Among the active arms, the one with the highest posterior mean. Ties go to the arm with
// more trials, then to the older arm (earlier Created), then to the name that sorts first.
//
// Retirement. An active arm other than the best, with at least Policy.MinTrials trials, is a
// candidate when the exact probability that it is better than the best arm,
// P(X_arm > X_best) computed by bandit.ProbGreater, is below Policy.RetirementThreshold.
// Candidates are retired in order of increasing probability (ties: lower posterior mean, then
// name) until the portfolio would drop below Policy.MinActiveArms active arms; the rest stay.
// Every retirement carries ReasonWorseThanBest and a message with the probability.
//
// Mutation. The best arm is the only parent. It gets
// min(Policy.MutationsPerCycle, Policy.MaxActiveArms − active arms after retirement) children,
// never fewer than zero. A cycle that finds no active arm plans nothing.
//
// Cautious priors. A child starts from Beta(α0, β0) with α0 = m·n0 and β0 = (1−m)·n0, where m is
// the parent's posterior mean and n0 is Policy.ChildPriorStrength: the child inherits the parent's
// estimate but is worth only n0 trials of evidence, so a handful of real rewards overrides it.
// Both values are rounded to 6 decimal places, so that what is written to the API (and to Git, if
// someone exports it) reads 1.234568 rather than 1.2345678901234567, and each is kept at least
// 0.000001 so the prior stays proper when m is within 1e-7 of 0 or 1.
//
// Names. Children are named ChildName(portfolio, generation, index): "<portfolio>-g<generation>-<index>",
// index counting from 1 within a cycle. See ChildName for the length limits.
package evolution
