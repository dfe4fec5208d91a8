package simulate

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/promptfolio/promptfolio/internal/evolution"
)

const usageText = `Usage: promptfolio simulate [flags]

Simulates a portfolio whose prompts have known true success rates and compares Thompson sampling
(the selector's rule) with a uniform A/B split and ε-greedy. With --evolve, an evolution cycle runs
at the end of every day with the controller's policy (internal/evolution); children's true rates
are their parent's plus Normal(--mutation-bias, --sigma). Prints, over --runs runs, the mean with
its 95% confidence interval and the median of: the share of calls served by a best arm in trials 1..--early-trials
and after, the cumulative reward, the oracle's expected reward and the regret against it. Writes
figures of run 0 and of the averages, as PNG and SVG, into --out.

With --suite, plays the learning suite instead: a fixed matrix of traffic (10, 100 and 1000 calls a
day for 30 days), mutation spread σ (0.05, 0.10) and mutation bias (0, −0.03), plus the scenario as
given, each with the evolution policy as given (by default the API's), --runs runs (default 500)
with evolution and without from the same seeds, and prints one row per cell: rewards, the lift
with its 95% confidence interval, the best true rate at the end, arms created and retired and
harmful retirements.

Values come from the defaults (the seed scenario), then --scenario, then the flags given.

Flags:
`

// Main is the `promptfolio simulate` subcommand: it parses args, runs the simulation, prints the
// table to stdout and writes the plots. It reports progress on stderr when stderr is a terminal
// or --progress is given. -h prints the flags and returns flag.ErrHelp.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	sf := newScenarioFlags(fs)
	var (
		scenarioFile = fs.String("scenario", "", "YAML `file` with a scenario; flags given on the command line override its values (see docs/simulate.md)")
		runs         = fs.Int("runs", 1, "number of runs of every strategy; runs after the first use seeds derived from --seed")
		seed         = fs.Uint64("seed", 1, "base seed: the same seed, scenario and runs print the same table and draw the same plots")
		workers      = fs.Int("workers", 0, "parallel workers (0: one per CPU); results do not depend on it")
		out          = fs.String("out", "plots/simulate", "`directory` for the plots")
		plots        = fs.Bool("plots", true, "write plots (--plots=false to only print the table)")
		densityDays  = intList{1, 7, 30}
		plotStrategy = strategyFlag(Thompson)
		progress     = fs.Bool("progress", false, "show a progress bar on stderr even when it is not a terminal")
		cellFilter   = fs.String("cells", "", "with --suite, run only the cells whose name contains this `text`, like \"σ=0.05\" or \"100/day\"")
		suite        = fs.Bool("suite", false, fmt.Sprintf("run the learning suite (with --runs %d unless given) and print its table instead", SuiteRuns))
	)
	fs.Var(&densityDays, "density-days", "comma-separated `days` at whose end the posterior densities are drawn (days past --days are dropped)")
	fs.Var(&plotStrategy, "plot-strategy", "`strategy` whose run 0 the per-arm plots draw: thompson, uniform or epsilon-greedy (default thompson)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	sc := DefaultScenario()
	if *scenarioFile != "" {
		var err error
		if sc, err = LoadScenario(*scenarioFile, sc); err != nil {
			return err
		}
	}
	sf.apply(&sc)
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("invalid scenario: %w", err)
	}

	opt := Options{Runs: *runs, Seed: *seed, Workers: *workers}
	if *progress || isTerminal(stderr) {
		bar := newProgressBar(stderr)
		opt.Progress = bar.update
	}
	if *suite {
		if !flagGiven(fs, "runs") {
			opt.Runs = SuiteRuns
		}
		var chosen []SuiteCell
		for _, c := range SuiteCells(sc) {
			if strings.Contains(c.Name, *cellFilter) {
				chosen = append(chosen, c)
			}
		}
		cells, err := RunSuite(ctx, chosen, opt)
		if err != nil {
			return err
		}
		return WriteSuiteTable(stdout, sc, opt, cells)
	}
	summary, err := RunMany(ctx, sc, opt)
	if err != nil {
		return err
	}
	if err := summary.WriteTable(stdout); err != nil {
		return err
	}
	if !*plots {
		return nil
	}
	var days []int
	for _, d := range densityDays {
		if d >= 1 && d <= sc.Days {
			days = append(days, d)
		}
	}
	paths, err := WritePlots(summary, PlotOptions{Dir: *out, DensityDays: days, Strategy: Strategy(plotStrategy)})
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	fmt.Fprintf(stdout, "\nplots:\n")
	for _, p := range paths {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	return nil
}

// flagGiven reports whether the flag name was given on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// scenarioFlags binds flags to the fields of a Scenario, so that only the flags given on the
// command line override the defaults and the --scenario file.
type scenarioFlags struct {
	values Scenario
	copies map[string]func(dst *Scenario)
	fs     *flag.FlagSet
}

func newScenarioFlags(fs *flag.FlagSet) *scenarioFlags {
	sf := &scenarioFlags{values: DefaultScenario(), copies: map[string]func(*Scenario){}, fs: fs}
	bind(sf, "rates", "comma-separated true success `rates` of the seed prompts, each in [0, 1]",
		func(s *Scenario) *floatList { return (*floatList)(&s.Rates) })
	bindValue(sf, "calls-per-day", "calls (trials) per day", func(s *Scenario) *int { return &s.CallsPerDay }, (*flag.FlagSet).IntVar)
	bindValue(sf, "days", "days simulated", func(s *Scenario) *int { return &s.Days }, (*flag.FlagSet).IntVar)
	bindValue(sf, "prior-alpha", "α of the seed arms' Beta prior", func(s *Scenario) *float64 { return &s.Prior.Alpha }, (*flag.FlagSet).Float64Var)
	bindValue(sf, "prior-beta", "β of the seed arms' Beta prior", func(s *Scenario) *float64 { return &s.Prior.Beta }, (*flag.FlagSet).Float64Var)
	bindValue(sf, "epsilon", "exploration rate of the ε-greedy baseline", func(s *Scenario) *float64 { return &s.Epsilon }, (*flag.FlagSet).Float64Var)
	bindValue(sf, "early-trials", "the table's traffic shares are split into trials 1..N and the rest", func(s *Scenario) *int { return &s.EarlyTrials }, (*flag.FlagSet).IntVar)
	bindValue(sf, "evolve", "run an evolution cycle at the end of every day", func(s *Scenario) *bool { return &s.Evolution.Enabled }, (*flag.FlagSet).BoolVar)
	bindValue(sf, "sigma", "mutation model: a child's true rate is its parent's plus Normal(0, sigma), clipped to [0, 1]", func(s *Scenario) *float64 { return &s.Evolution.Sigma }, (*flag.FlagSet).Float64Var)
	bindValue(sf, "mutation-bias", "mutation model: the mean of a child's true-rate change (negative: children worse than their parents on average)", func(s *Scenario) *float64 { return &s.Evolution.MutationBias }, (*flag.FlagSet).Float64Var)
	bind(sf, "retirement-rule", "evolution: the retirement `rule`, ProbBetterThanBest , ProbBest or ExpectedLoss",
		func(s *Scenario) *ruleFlag { return (*ruleFlag)(&s.Evolution.Retirement.Rule) })
	bindValue(sf, "retirement-threshold", "evolution: retire an arm when the rule's probability is below this", func(s *Scenario) *float64 { return &s.Evolution.Retirement.Threshold }, (*flag.FlagSet).Float64Var)
	bindValue(sf, "min-trials", "evolution: trials an arm needs before it may be retired", func(s *Scenario) *int64 { return &s.Evolution.Retirement.MinTrials }, (*flag.FlagSet).Int64Var)
	bindValue(sf, "min-active-arms", "evolution: retirement never leaves fewer active arms", func(s *Scenario) *int { return &s.Evolution.MinActiveArms }, (*flag.FlagSet).IntVar)
	bindValue(sf, "max-active-arms", "evolution: no child is created beyond this many active arms", func(s *Scenario) *int { return &s.Evolution.MaxActiveArms }, (*flag.FlagSet).IntVar)
	bindValue(sf, "mutations-per-cycle", "evolution: children of the best arm per cycle", func(s *Scenario) *int { return &s.Evolution.MutationsPerCycle }, (*flag.FlagSet).IntVar)
	bindValue(sf, "pause-below", "evolution: mutation pauses while P(mutation pays) is below this (0: never)", func(s *Scenario) *float64 { return &s.Evolution.Payoff.PauseBelow }, (*flag.FlagSet).Float64Var)
	bindValue(sf, "pause-min-children", "evolution: children with trials needed before mutation may pause", func(s *Scenario) *int { return &s.Evolution.Payoff.MinChildren }, (*flag.FlagSet).IntVar)
	bindValue(sf, "probe-every", "evolution: a paused portfolio still tries one child every this many generations (0: none)", func(s *Scenario) *int64 { return &s.Evolution.Payoff.ProbeEvery }, (*flag.FlagSet).Int64Var)
	bindValue(sf, "newborn-retire-below", "evolution: early cut of a child with fewer than n0 trials when P(child > best) is below this (scaled down above n0 trials a cycle; 0: never)", func(s *Scenario) *float64 { return &s.Evolution.Newborn.RetireBelow }, (*flag.FlagSet).Float64Var)
	bindValue(sf, "newborn-min-trials", "evolution: trials a child needs before the early cut may judge it", func(s *Scenario) *int64 { return &s.Evolution.Newborn.MinTrials }, (*flag.FlagSet).Int64Var)
	bindValue(sf, "min-parent-trials", "evolution: children only of a best arm with at least this many trials", func(s *Scenario) *int64 { return &s.Evolution.Newborn.MinParentTrials }, (*flag.FlagSet).Int64Var)
	bindValue(sf, "child-prior-strength", "evolution: n0, the trials a child's prior Beta(m·n0, (1−m)·n0) is worth", func(s *Scenario) *float64 { return &s.Evolution.ChildPriorStrength }, (*flag.FlagSet).Float64Var)
	return sf
}

// bindValue defines a flag of a plain type with define (a FlagSet method such as IntVar) on the
// field that field selects.
func bindValue[T any](sf *scenarioFlags, name, usage string, field func(*Scenario) *T, define func(*flag.FlagSet, *T, string, T, string)) {
	p := field(&sf.values)
	define(sf.fs, p, name, *p, usage)
	sf.copies[name] = func(dst *Scenario) { *field(dst) = *field(&sf.values) }
}

// bind defines a flag whose field implements flag.Value.
func bind[T any, PT interface {
	*T
	flag.Value
}](sf *scenarioFlags, name, usage string, field func(*Scenario) PT) {
	sf.fs.Var(field(&sf.values), name, usage)
	sf.copies[name] = func(dst *Scenario) { *field(dst) = *field(&sf.values) }
}

// apply copies the values of the flags given on the command line into s.
func (sf *scenarioFlags) apply(s *Scenario) {
	sf.fs.Visit(func(f *flag.Flag) {
		if c, ok := sf.copies[f.Name]; ok {
			c(s)
		}
	})
}

// floatList is a flag.Value of comma-separated numbers.
type floatList []float64

func (l *floatList) String() string {
	return formatList((*[]float64)(l), func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) })
}

// Set parses every field, empty ones included: an empty field is an error.
func (l *floatList) Set(v string) error {
	return setList((*[]float64)(l), v, false, func(f string) (float64, error) { return strconv.ParseFloat(f, 64) })
}

// intList is a flag.Value of comma-separated integers.
type intList []int

func (l *intList) String() string { return formatList((*[]int)(l), strconv.Itoa) }

// Set drops empty fields, so that "1,7," is [1 7].
func (l *intList) Set(v string) error { return setList((*[]int)(l), v, true, strconv.Atoi) }

// formatList joins the values of a list flag with commas; a nil list is "".
func formatList[T any](l *[]T, format func(T) string) string {
	if l == nil {
		return ""
	}
	s := make([]string, len(*l))
	for i, x := range *l {
		s[i] = format(x)
	}
	return strings.Join(s, ",")
}

// setList parses the comma-separated fields of v, trimmed of spaces, into *l; with skipEmpty it
// drops empty fields. On an error *l is left as it was.
func setList[T any](l *[]T, v string, skipEmpty bool, parse func(string) (T, error)) error {
	var out []T
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); skipEmpty && f == "" {
			continue
		}
		x, err := parse(f)
		if err != nil {
			return err
		}
		out = append(out, x)
	}
	*l = out
	return nil
}

// ruleFlag is a flag.Value naming a retirement rule.
type ruleFlag evolution.RetirementRule

func (r *ruleFlag) String() string { return string(*r) }

func (r *ruleFlag) Set(v string) error {
	for _, known := range evolution.RetirementRules {
		if string(known) == v {
			*r = ruleFlag(known)
			return nil
		}
	}
	return fmt.Errorf("unknown retirement rule %q (known: %v)", v, evolution.RetirementRules)
}

// strategyFlag is a flag.Value naming a Strategy.
type strategyFlag Strategy

func (s *strategyFlag) String() string { return Strategy(*s).String() }

func (s *strategyFlag) Set(v string) error {
	for _, st := range Strategies {
		if st.String() == v {
			*s = strategyFlag(st)
			return nil
		}
	}
	return fmt.Errorf("unknown strategy %q", v)
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "[#####.....] 512/1000 runs" on one line, redrawn at most every 100ms.
type progressBar struct {
	w    io.Writer
	last time.Time
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w} }

func (b *progressBar) update(done, total int) {
	now := time.Now()
	if done < total && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	const width = 30
	filled := width * done / total
	fmt.Fprintf(b.w, "\rsimulate [%s%s] %d/%d runs", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total)
	if done == total {
		fmt.Fprintln(b.w)
	}
}
