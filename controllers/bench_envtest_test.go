package controllers_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	promptsv1alpha1 "github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/controllers"
	"github.com/promptfolio/promptfolio/internal/metrics"
)

// TestBenchmarkCycles measures an evolution cycle of 100 portfolios of 10 arms each with the
// offline mutator, and the ratio of the controller's status writes to counter flushes. It runs
// only with PROMPTFOLIO_BENCH=1; see docs/benchmarks.md, "Controller".
func TestBenchmarkCycles(t *testing.T) {
	requireEnv(t)
	if os.Getenv("PROMPTFOLIO_BENCH") == "" {
		t.Skip("set PROMPTFOLIO_BENCH=1 to run the controller benchmark")
	}
	const portfolios, armsPer = 100, 10
	ns := newNamespace(t)
	startManager(t, ns, controllers.Options{StatisticsInterval: controllers.DefaultStatisticsInterval})

	start := time.Now()
	for p := range portfolios {
		var prompts []promptsv1alpha1.SeedPrompt
		for a := range armsPer {
			prompts = append(prompts, promptsv1alpha1.SeedPrompt{
				Name: fmt.Sprintf("s%d", a),
				Text: fmt.Sprintf("Variant %d of portfolio %d. %s", a, p, shopPrompt),
			})
		}
		createPortfolio(t, ns, fmt.Sprintf("p%03d", p), prompts, func(s *promptsv1alpha1.PromptPortfolioSpec) {
			s.Evolution.Retirement.MinTrials = ptr.To[int64](20)
			s.Evolution.MaxActiveArms = 12
		})
	}
	waitAll(t, ns, portfolios, 5*time.Minute, func(pf *promptsv1alpha1.PromptPortfolio) bool { return pf.Status.ActiveArms == armsPer })
	t.Logf("%d portfolios × %d arms created and Ready in %v", portfolios, armsPer, time.Since(start).Round(time.Millisecond))

	// Three rounds of flushes from two selectors to every arm, sent by 8 concurrent clients.
	writesBefore := metrics.StatusWrites("PromptArm") + metrics.StatusWrites("PromptPortfolio")
	type flushJob struct {
		arm, writer string
		s, f        int64
	}
	jobs := make(chan flushJob)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				flush(t, ns, j.arm, j.writer, j.s, j.f)
			}
		})
	}
	flushes := 0
	start = time.Now()
	for round := int64(1); round <= 3; round++ {
		for p := range portfolios {
			for a := range armsPer {
				for _, w := range []string{"sel-1", "sel-2"} {
					s := round * int64(10+a*8)
					jobs <- flushJob{arm: fmt.Sprintf("p%03d-s%d", p, a), writer: w, s: s, f: round*100 - s}
					flushes++
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	flushTime := time.Since(start)
	wantTrials := int64(2 * 3 * 100 * armsPer)
	waitAll(t, ns, portfolios, 5*time.Minute, func(pf *promptsv1alpha1.PromptPortfolio) bool { return pf.Status.TotalTrials == wantTrials })
	time.Sleep(2 * controllers.DefaultStatisticsInterval)
	writes := metrics.StatusWrites("PromptArm") + metrics.StatusWrites("PromptPortfolio") - writesBefore
	t.Logf("flushes: %d in %v; controller status writes: %.0f; writes per flush: %.3f", flushes, flushTime.Round(time.Millisecond), writes, writes/float64(flushes))

	// One requested cycle in every portfolio.
	sumBefore, countBefore := cycleHistogram(t)
	start = time.Now()
	for p := range portfolios {
		requestCycle(t, ns, fmt.Sprintf("p%03d", p), "bench")
	}
	waitAll(t, ns, portfolios, 10*time.Minute, func(pf *promptsv1alpha1.PromptPortfolio) bool {
		return pf.Status.EvolutionGeneration == 1 && pf.Status.CycleInProgress == nil
	})
	wall := time.Since(start)
	sum, count := cycleHistogram(t)
	created, retired := 0, 0
	var list promptsv1alpha1.PromptPortfolioList
	if err := env.Client.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	for _, pf := range list.Items {
		if pf.Namespace == ns && pf.Status.LastCycle != nil {
			created += len(pf.Status.LastCycle.Created)
			retired += len(pf.Status.LastCycle.Retired)
		}
	}
	t.Logf("cycles: %d portfolios in %v wall (%.1f ms per portfolio); in-reconcile cycle time mean %.1f ms over %.0f cycles; %d arms retired, %d children created",
		portfolios, wall.Round(time.Millisecond), float64(wall.Milliseconds())/portfolios, 1000*(sum-sumBefore)/(count-countBefore), count-countBefore, retired, created)
}

// waitAll waits until every portfolio of ns satisfies ok.
func waitAll(t *testing.T, ns string, n int, timeout time.Duration, ok func(*promptsv1alpha1.PromptPortfolio) bool) {
	t.Helper()
	eventually(t, timeout, func() (bool, string) {
		var list promptsv1alpha1.PromptPortfolioList
		if err := env.Client.List(context.Background(), &list); err != nil {
			return false, err.Error()
		}
		done := 0
		for i := range list.Items {
			if list.Items[i].Namespace == ns && ok(&list.Items[i]) {
				done++
			}
		}
		return done == n, fmt.Sprintf("%d of %d portfolios", done, n)
	})
}

// cycleHistogram returns the sum and count of the cycle duration histogram.
func cycleHistogram(t *testing.T) (sum, count float64) {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "promptfolio_evolution_cycle_duration_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleSum(), float64(h.GetSampleCount())
		}
	}
	return 0, 0
}
