package simulate

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Describe writes a one-paragraph description of the scenario.
func (s Scenario) Describe(w io.Writer) {
	rates := make([]string, len(s.Rates))
	for i, r := range s.Rates {
		rates[i] = strconv.FormatFloat(r, 'g', -1, 64)
	}
	fmt.Fprintf(w, "%d prompts with true rates [%s], prior Beta(%g, %g); %d calls/day × %d days = %d trials\n",
		len(s.Rates), strings.Join(rates, " "), s.Prior.Alpha, s.Prior.Beta, s.CallsPerDay, s.Days, s.Trials())
	if !s.Evolution.Enabled {
		fmt.Fprintln(w, "evolution: off")
		return
	}
	e := s.Evolution
	fmt.Fprintf(w, "evolution: a cycle a day, child rate = parent's + Normal(%g, %g); retire by %s below %g after %d trials, "+
		"%d..%d active arms, children per cycle: up to %d, child prior strength %g, mutation pauses below P(pays) %g (probe every %d), "+
		"newborn children cut below P(child > best) %g after %d trials, parents with %d trials or more\n",
		e.MutationBias, e.Sigma, e.Retirement.Rule, e.Retirement.Threshold, e.Retirement.MinTrials, e.MinActiveArms, e.MaxActiveArms,
		e.MutationsPerCycle, e.ChildPriorStrength, e.Payoff.PauseBelow, e.Payoff.ProbeEvery,
		e.Newborn.RetireBelow, e.Newborn.MinTrials, e.Newborn.MinParentTrials)
}

// WriteTable writes the summary as an aligned text table: one row per metric and strategy with
// the mean, its 95% confidence interval and the median over runs. Shares are fractions of calls
// served by a best arm (one with the highest true rate among the active arms).
func (s Summary) WriteTable(w io.Writer) error {
	s.Scenario.Describe(w)
	fmt.Fprintf(w, "%d runs, seed %d\n\n", s.Options.Runs, s.Options.Seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tstrategy\tmean\t95% CI\tmedian")
	early := fmt.Sprintf("best-arm share, trials 1-%d", min(s.Scenario.EarlyTrials, s.Scenario.Trials()))
	late := fmt.Sprintf("best-arm share, trials %d-%d", s.Scenario.EarlyTrials+1, s.Scenario.Trials())
	type row struct {
		name   string
		format string
		stat   func(StrategySummary) Stat
		evolve bool // only shown when evolution is on
	}
	rows := []row{
		{early, "%.3f", func(ss StrategySummary) Stat { return ss.BestShareEarly }, false},
		{late, "%.3f", func(ss StrategySummary) Stat { return ss.BestShareLate }, false},
		{"cumulative reward", "%.1f", func(ss StrategySummary) Stat { return ss.Reward }, false},
		{"oracle reward (expected)", "%.1f", func(ss StrategySummary) Stat { return ss.OracleReward }, false},
		{"regret vs oracle (expected)", "%.1f", func(ss StrategySummary) Stat { return ss.Regret }, false},
		{"best true rate at the end", "%.3f", func(ss StrategySummary) Stat { return ss.FinalBestRate }, true},
		{"arms created", "%.2f", func(ss StrategySummary) Stat { return ss.Created }, true},
		{"arms retired", "%.2f", func(ss StrategySummary) Stat { return ss.Retired }, true},
	}
	for _, r := range rows {
		if r.evolve && !s.Scenario.Evolution.Enabled {
			continue
		}
		if r.name == late && s.Scenario.Trials() <= s.Scenario.EarlyTrials {
			continue
		}
		for _, ss := range s.Strategies {
			st := r.stat(ss)
			f := func(x float64) string { return fmt.Sprintf(r.format, x) }
			fmt.Fprintf(tw, "%s\t%s\t%s\t[%s, %s]\t%s\n", r.name, ss.Strategy, f(st.Mean), f(st.Low), f(st.High), f(st.Median))
		}
	}
	return tw.Flush()
}
