// Package evolution decides what an evolution cycle of a portfolio does. It is pure policy: given
// the arms of one portfolio (their priors, reward counts and metadata) and the portfolio's Policy,
// Decide returns a Plan that names the best arm, the arms to retire (with their messages) and the
// children to create (with their priors). The controller records the plan and applies exactly it.
// Nothing here talks to the API server, reads a clock or draws random numbers, so the controller
// and the simulator (internal/simulate) run the very same rules, and the rules are tested as
// tables.
//
// # The rules
//
// Best arm. Among the active arms, the one with the highest posterior mean. Ties go to the arm with
// more trials, then to the older arm (earlier Created), then to the name that sorts first.
//
// Retirement. An active arm other than the best, with at least Policy.Retirement.MinTrials
// trials, is a candidate when the number its rule tests is below Policy.Retirement.Threshold:
// RuleProbBetterThanBest tests the exact P(X_arm > X_best) (bandit.ProbGreater), RuleProbBest
// the probability that the arm is the best of the active arms (bandit.ProbBest, computed on the
// active arms the cycle starts with), RuleExpectedLoss E[max(X_arm − X_best, 0)] (ExpectedLoss).
// Candidates are retired in order of increasing number (ties: lower posterior mean, then name)
// until the portfolio would drop below Policy.MinActiveArms active arms; the rest stay. Every
// retirement carries ReasonWorseThanBest and a message that names the rule, its number, the
// threshold, the arm's trials and the best arm.
//
// Early cut. An active child with at least Newborn.MinTrials and fewer than
// Policy.ChildPriorStrength trials (not yet judged by the traffic) is also a candidate when
// P(X_child > X_best) is below Plan.NewbornBound = Newborn.RetireBelow · min(1,
// √(ChildPriorStrength / Plan.TrialsPerCycle)), Plan.TrialsPerCycle being the trials of all the
// arms given over Input.Generation cycles. Its Retirement has Newborn set, names
// RuleProbBetterThanBest and says "newborn child" in its message. At low traffic it frees the
// child's mutation slot and traffic within a cycle or two; where a cycle brings many trials the
// bound falls below the rule's threshold and the early cut changes nothing.
//
// Mutation. The best arm is the only parent, and only once it has Newborn.MinParentTrials
// trials. The cycle asks for Policy.MutationsPerCycle children
// minus the unproven ones (active children, not retired by this plan, with fewer trials than
// Policy.ChildPriorStrength), within Policy.MaxActiveArms − active arms after retirement, never
// fewer than zero. While the Payoff estimate is paused, at most one child is made, and only when
// the generation is a multiple of Payoff.ProbeEvery. A cycle that finds no active arm plans
// nothing.
//
// Payoff. Every child whose line of parents reaches a founder (an arm without a parent) among the
// arms is evidence: gain = Σ successes − trials × the founder's posterior mean, with variance
// Σ trials·m(1−m) + trials²·Var(founder); P(mutation pays) = Φ(gain / sd), 0.5 without evidence.
// Mutation is paused when at least Payoff.MinChildren children have trials and P(mutation pays)
// is below Payoff.PauseBelow. The estimate depends on the arms alone, so a restarted controller
// and the simulator reach the same decision.
//
// Cautious priors. A child starts from Beta(α0, β0) with α0 = m·n and β0 = (1−m)·n, where m is
// the parent's posterior mean and n = min(Policy.ChildPriorStrength, the parent's α + β): the child
// inherits the parent's estimate but is worth at most the parent's own evidence, so a handful of
// real rewards overrides it. Both values are rounded to 6 decimal places, so that what is written
// to the API (and to Git, if someone exports it) reads 1.234568 rather than 1.2345678901234567,
// and each is kept at least 0.000001 so the prior stays proper when m is within 1e-7 of 0 or 1.
//
// Names. Children are named ChildName(portfolio, generation, index): "<portfolio>-g<generation>-<index>",
// index counting from 1 within a cycle. See ChildName for the length limits.
package evolution
