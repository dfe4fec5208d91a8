package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// SuiteRuns is the number of runs a cell of the learning suite plays unless told otherwise.
const SuiteRuns = 500

// Suite matrix: every combination of these traffic levels, mutation spreads and mutation biases,
// 30 days each.
var (
	suiteTraffic = []int{10, 100, 1000}
	suiteSigmas  = []float64{0.05, 0.10}
	suiteBiases  = []float64{0, -0.03}
)

// SuiteDays is the length of every cell of the suite's matrix.
const SuiteDays = 30

// SuiteCell is one scenario of the learning suite. It is played twice per run, with evolution
// and without, from the same seed.
type SuiteCell struct {
	// Name labels the cell in the table.
	Name string
	// Scenario is the cell's scenario; its evolution policy is the one judged.
	Scenario Scenario
}

// SuiteCells is the suite's fixed matrix built on base (its rates, prior and evolution policy):
// 10, 100 and 1000 calls a day for 30 days × σ 0.05 and 0.10 × mutation bias 0 and −0.03, then
// base itself as given, named "seed" (the seed scenario unless a scenario file or flags change it).
func SuiteCells(base Scenario) []SuiteCell {
	var cells []SuiteCell
	for _, calls := range suiteTraffic {
		for _, sigma := range suiteSigmas {
			for _, bias := range suiteBiases {
				sc := base
				sc.CallsPerDay, sc.Days = calls, SuiteDays
				sc.Evolution.Sigma, sc.Evolution.MutationBias = sigma, bias
				cells = append(cells, SuiteCell{
					Name:     fmt.Sprintf("%d/day σ=%.2f bias=%+.2f", calls, sigma, bias),
					Scenario: sc,
				})
			}
		}
	}
	return append(cells, SuiteCell{Name: "seed", Scenario: base})
}

// CellSummary is the outcome of one cell over its runs. "Off" is the run without evolution, "on"
// the run with it, from the same run seed.
type CellSummary struct {
	Cell SuiteCell
	// RewardOff and RewardOn summarize the cumulative reward without and with evolution.
	RewardOff, RewardOn Stat
	// Lift is the paired gain of evolution relative to no evolution: the mean, CI and median of
	// the per-run difference RewardOn − RewardOff, each divided by RewardOff.Mean.
	Lift Stat
	// FinalBestRate is the best true rate among the active arms at the end, with evolution.
	FinalBestRate Stat
	// Created and Retired count the arms evolution created and retired per run.
	Created, Retired Stat
	// Harmful, HarmfulBig and HarmfulLoss summarize Result's fields of the same names per run.
	Harmful, HarmfulBig, HarmfulLoss Stat
	// BestShareLateOff is the share of calls after Scenario.EarlyTrials served by the best arm,
	// without evolution: the seed's headline.
	BestShareLateOff Stat
}

// suiteRun is one run of one cell: without and with evolution.
type suiteRun struct{ off, on Result }

// RunSuite plays opt.Runs runs of every cell, each with evolution and without (Thompson
// sampling), on opt.Workers goroutines. Run i of every cell uses the seed
// StrategySeed(RunSeed(opt.Seed, i), Thompson) for both of its plays, so the lift is paired by
// run seed. The result does not depend on the number of workers. opt.Strategies is ignored.
func RunSuite(ctx context.Context, cells []SuiteCell, opt Options) ([]CellSummary, error) {
	if opt.Runs < 1 {
		return nil, errors.New("runs must be at least 1")
	}
	if len(cells) == 0 {
		return nil, errors.New("the suite has no cells")
	}
	for _, c := range cells {
		on := c.Scenario
		on.Evolution.Enabled = true
		if err := on.Validate(); err != nil {
			return nil, fmt.Errorf("cell %s: %w", c.Name, err)
		}
	}
	results := make([]suiteRun, len(cells)*opt.Runs) // index: cell*opt.Runs + run
	err := parallel(ctx, len(results), opt.Workers, opt.Progress, func(j int) error {
		return playSuiteRun(cells[j/opt.Runs].Scenario, RunSeed(opt.Seed, j%opt.Runs), &results[j])
	})
	if err != nil {
		return nil, err
	}
	out := make([]CellSummary, len(cells))
	for k, c := range cells {
		out[k] = summarizeCell(c, results[k*opt.Runs:(k+1)*opt.Runs])
	}
	return out, nil
}

// playSuiteRun plays sc without and with evolution from one seed into r.
func playSuiteRun(sc Scenario, runSeed uint64, r *suiteRun) error {
	seed := StrategySeed(runSeed, Thompson)
	off, on := sc, sc
	off.Evolution.Enabled, on.Evolution.Enabled = false, true
	var err error
	if r.off, err = Run(off, Thompson, seed, false); err != nil {
		return err
	}
	r.on, err = Run(on, Thompson, seed, false)
	return err
}

// summarizeCell folds the runs of one cell in run order.
func summarizeCell(c SuiteCell, runs []suiteRun) CellSummary {
	metric := func(f func(suiteRun) float64) Stat {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return Describe(xs)
	}
	s := CellSummary{
		Cell:             c,
		RewardOff:        metric(func(r suiteRun) float64 { return float64(r.off.Reward) }),
		RewardOn:         metric(func(r suiteRun) float64 { return float64(r.on.Reward) }),
		FinalBestRate:    metric(func(r suiteRun) float64 { return r.on.FinalBestRate }),
		Created:          metric(func(r suiteRun) float64 { return float64(r.on.Created) }),
		Retired:          metric(func(r suiteRun) float64 { return float64(r.on.Retired) }),
		Harmful:          metric(func(r suiteRun) float64 { return float64(r.on.Harmful) }),
		HarmfulBig:       metric(func(r suiteRun) float64 { return float64(r.on.HarmfulBig) }),
		HarmfulLoss:      metric(func(r suiteRun) float64 { return r.on.HarmfulLoss }),
		BestShareLateOff: metric(func(r suiteRun) float64 { return r.off.BestShareLate }),
	}
	diff := metric(func(r suiteRun) float64 { return float64(r.on.Reward - r.off.Reward) })
	scale := s.RewardOff.Mean
	if scale == 0 {
		scale = math.NaN()
	}
	s.Lift = Stat{N: diff.N, Mean: diff.Mean / scale, Low: diff.Low / scale, High: diff.High / scale, Median: diff.Median / scale}
	return s
}

// WriteSuiteTable writes the suite's table: one row per cell, means over runs with the lift's 95%
// confidence interval.
func WriteSuiteTable(w io.Writer, base Scenario, opt Options, cells []CellSummary) error {
	fmt.Fprintln(w, "learning suite: Thompson sampling with evolution against without, paired by run seed")
	base.Evolution.Enabled = true
	base.Describe(w)
	fmt.Fprintf(w, "%d runs a cell, seed %d; means per run; lift = (reward with − without) / reward without, 95%% CI\n",
		opt.Runs, opt.Seed)
	fmt.Fprintf(w, "harmful: retirements of an arm better than every arm left active; >%.2f: those losing more than %.2f of rate\n\n",
		HarmfulMargin, HarmfulMargin)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cell\treward off\treward on\tlift\t95% CI\tbest rate end\tcreated\tretired\tharmful\t>0.02\trate lost\tbest share >100 off (median)")
	for _, c := range cells {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%+.1f%%\t[%+.1f%%, %+.1f%%]\t%.3f\t%.2f\t%.2f\t%.2f\t%.2f\t%.4f\t%.3f\n",
			c.Cell.Name, c.RewardOff.Mean, c.RewardOn.Mean, 100*c.Lift.Mean, 100*c.Lift.Low, 100*c.Lift.High,
			c.FinalBestRate.Mean, c.Created.Mean, c.Retired.Mean, c.Harmful.Mean, c.HarmfulBig.Mean,
			c.HarmfulLoss.Mean, c.BestShareLateOff.Median)
	}
	return tw.Flush()
}
