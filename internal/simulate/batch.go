package simulate

import (
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Stat summarizes one metric over runs: its mean with a 95% confidence interval
// (mean ± 1.96 standard errors, the normal approximation, fine for the hundreds of runs a summary
// is meant for) and its median. NaN values (a metric a run does not define) are left out of N.
type Stat struct {
	N                       int
	Mean, Low, High, Median float64
}

// Describe summarizes xs.
func Describe(xs []float64) Stat {
	vals := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			vals = append(vals, x)
		}
	}
	s := Stat{N: len(vals), Mean: math.NaN(), Low: math.NaN(), High: math.NaN(), Median: math.NaN()}
	if s.N == 0 {
		return s
	}
	var sum float64
	for _, x := range vals {
		sum += x
	}
	s.Mean = sum / float64(s.N)
	var ss float64
	for _, x := range vals {
		ss += (x - s.Mean) * (x - s.Mean)
	}
	half := 0.0
	if s.N > 1 {
		half = 1.96 * math.Sqrt(ss/float64(s.N-1)/float64(s.N))
	}
	s.Low, s.High = s.Mean-half, s.Mean+half
	slices.Sort(vals)
	if s.N%2 == 1 {
		s.Median = vals[s.N/2]
	} else {
		s.Median = (vals[s.N/2-1] + vals[s.N/2]) / 2
	}
	return s
}

// Options control RunMany.
type Options struct {
	// Runs is the number of runs per strategy. Must be ≥ 1.
	Runs int
	// Seed is the base seed; run i uses RunSeed(Seed, i).
	Seed uint64
	// Workers is the number of goroutines; 0 means GOMAXPROCS. Results do not depend on it.
	Workers int
	// Progress, when set, is called after each finished run with the number done so far, from
	// the goroutine that called RunMany.
	Progress func(done, total int)
	// Strategies to run; nil means Strategies.
	Strategies []Strategy
}

// StrategySummary summarizes the runs of one strategy.
type StrategySummary struct {
	Strategy Strategy
	// BestShareEarly, BestShareLate, Reward, OracleReward, Regret and FinalBestRate summarize the
	// Result fields of the same names; Created and Retired count evolution's arms.
	BestShareEarly, BestShareLate, Reward, OracleReward, Regret, FinalBestRate, Created, Retired Stat
	// MeanDailyBestShare[d] and MeanDailyRegret[d] average Result.DailyBestShare and
	// Result.DailyRegret over runs.
	MeanDailyBestShare, MeanDailyRegret []float64
}

// Summary is the outcome of RunMany.
type Summary struct {
	Scenario Scenario
	Options  Options
	// Strategies has one summary per strategy, in the order of Options.Strategies.
	Strategies []StrategySummary
	// First holds run 0's results, one per strategy, with traces, for plotting.
	First []Result
}

// RunMany runs opt.Runs runs of every strategy and summarizes them. Run i of every strategy shares
// the run seed RunSeed(opt.Seed, i) through StrategySeed. It stops early with ctx's error when ctx
// is done.
func RunMany(ctx context.Context, sc Scenario, opt Options) (Summary, error) {
	if err := sc.Validate(); err != nil {
		return Summary{}, err
	}
	if opt.Runs < 1 {
		return Summary{}, errors.New("runs must be at least 1")
	}
	strategies := opt.Strategies
	if strategies == nil {
		strategies = Strategies
	}
	results := make([][]Result, opt.Runs) // results[run][strategy]
	err := parallel(ctx, opt.Runs, opt.Workers, opt.Progress, func(i int) error {
		runSeed := RunSeed(opt.Seed, i)
		rs := make([]Result, len(strategies))
		for k, s := range strategies {
			var err error
			if rs[k], err = Run(sc, s, StrategySeed(runSeed, s), i == 0); err != nil {
				return err
			}
		}
		results[i] = rs
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	return summarize(sc, opt, strategies, results), nil
}

// summarize folds results in run order, so that sums do not depend on which worker finished first.
func summarize(sc Scenario, opt Options, strategies []Strategy, results [][]Result) Summary {
	sum := Summary{Scenario: sc, Options: opt, First: results[0]}
	n := len(results)
	metric := func(k int, f func(Result) float64) Stat {
		xs := make([]float64, n)
		for i := range results {
			xs[i] = f(results[i][k])
		}
		return Describe(xs)
	}
	for k, s := range strategies {
		ss := StrategySummary{
			Strategy:           s,
			BestShareEarly:     metric(k, func(r Result) float64 { return r.BestShareEarly }),
			BestShareLate:      metric(k, func(r Result) float64 { return r.BestShareLate }),
			Reward:             metric(k, func(r Result) float64 { return float64(r.Reward) }),
			OracleReward:       metric(k, func(r Result) float64 { return r.OracleReward }),
			Regret:             metric(k, func(r Result) float64 { return r.Regret }),
			FinalBestRate:      metric(k, func(r Result) float64 { return r.FinalBestRate }),
			Created:            metric(k, func(r Result) float64 { return float64(r.Created) }),
			Retired:            metric(k, func(r Result) float64 { return float64(r.Retired) }),
			MeanDailyBestShare: make([]float64, sc.Days),
			MeanDailyRegret:    make([]float64, sc.Days),
		}
		for i := range results {
			for d := range sc.Days {
				ss.MeanDailyBestShare[d] += results[i][k].DailyBestShare[d] / float64(n)
				ss.MeanDailyRegret[d] += results[i][k].DailyRegret[d] / float64(n)
			}
		}
		sum.Strategies = append(sum.Strategies, ss)
	}
	return sum
}

// parallel calls job(0) … job(n−1) on workers goroutines (0: GOMAXPROCS) and returns the first
// error, or ctx's error when ctx ends first. progress, when set, is called after each finished
// job with the number done so far, from the calling goroutine. Jobs write their results by
// index, so that what they compute does not depend on the number of workers.
func parallel(ctx context.Context, n, workers int, progress func(done, total int), job func(i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	jobs := make(chan int)
	done := make(chan error)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				err := job(i)
				select {
				case done <- err:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range n {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var err error
	for k := 1; k <= n && err == nil; k++ {
		select {
		case err = <-done:
			if err == nil && progress != nil {
				progress(k, n)
			}
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	cancel()
	wg.Wait()
	return err
}
