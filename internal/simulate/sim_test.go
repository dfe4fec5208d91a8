package simulate

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/promptfolio/promptfolio/internal/bandit"
	"github.com/promptfolio/promptfolio/internal/evolution"
)

// evolving is a scenario in which evolution both retires and creates arms within 30 days.
func evolving() Scenario {
	sc := DefaultScenario()
	sc.Evolution.Enabled = true
	sc.Evolution.Retirement.MinTrials = 20
	sc.Evolution.MaxActiveArms = 6
	sc.Evolution.MutationsPerCycle = 1
	sc.Evolution.Sigma = 0.1
	return sc
}

func TestRunIsDeterministicForASeed(t *testing.T) {
	for _, sc := range []Scenario{DefaultScenario(), evolving()} {
		for _, s := range Strategies {
			a, err := Run(sc, s, 42, true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Run(sc, s, 42, true)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s, evolution %v: two runs with seed 42 differ", s, sc.Evolution.Enabled)
			}
			c, err := Run(sc, s, 43, true)
			if err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(a.Trace.Choices, c.Trace.Choices) && reflect.DeepEqual(a.Trace.Rewards, c.Trace.Rewards) {
				t.Errorf("%s: seeds 42 and 43 gave the same run", s)
			}
		}
	}
}

func TestRunManyDoesNotDependOnWorkers(t *testing.T) {
	sc := evolving()
	one, err := RunMany(context.Background(), sc, Options{Runs: 40, Seed: 7, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	two, err := RunMany(context.Background(), sc, Options{Runs: 40, Seed: 7, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one.Strategies, two.Strategies) || !reflect.DeepEqual(one.First, two.First) {
		t.Error("1 and 2 workers gave different summaries")
	}
	// Run 0 of a batch is the run a single-run batch plays.
	single, err := RunMany(context.Background(), sc, Options{Runs: 1, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(single.First, one.First) {
		t.Error("run 0 of 40 differs from the only run of 1")
	}
}

func TestRunManyStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := RunMany(ctx, DefaultScenario(), Options{Runs: 1000, Seed: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("RunMany on a cancelled context: %v, want context.Canceled", err)
	}
}

func TestRegretAgainstTheOracle(t *testing.T) {
	for _, sc := range []Scenario{DefaultScenario(), evolving()} {
		for _, s := range Strategies {
			for seed := range uint64(50) {
				res, err := Run(sc, s, seed, true)
				if err != nil {
					t.Fatal(err)
				}
				if res.Regret < 0 {
					t.Fatalf("%s seed %d: regret %v < 0", s, seed, res.Regret)
				}
				prev := 0.0
				for d, r := range res.DailyRegret {
					if r < prev {
						t.Fatalf("%s seed %d: regret fell on day %d", s, seed, d+1)
					}
					prev = r
				}
				// Regret is the oracle's expected reward minus the expected reward of the calls made.
				var expected float64
				for _, i := range res.Trace.Choices {
					expected += res.Arms[i].Rate
				}
				if math.Abs(res.OracleReward-expected-res.Regret) > 1e-9 {
					t.Fatalf("%s seed %d: oracle %v − expected %v ≠ regret %v", s, seed, res.OracleReward, expected, res.Regret)
				}
			}
		}
	}
}

func TestTraceMatchesTheCounts(t *testing.T) {
	sc := evolving()
	for _, s := range Strategies {
		res, err := Run(sc, s, 3, true)
		if err != nil {
			t.Fatal(err)
		}
		served := make([]int64, len(res.Arms))
		successes := make([]int64, len(res.Arms))
		var reward int64
		for tr, i := range res.Trace.Choices {
			a := res.Arms[i]
			if tr < a.Born || (a.Retired >= 0 && tr >= a.Retired) {
				t.Fatalf("%s: call %d served %s outside its life [%d, %d)", s, tr, a.Name, a.Born, a.Retired)
			}
			served[i]++
			if res.Trace.Rewards[tr] {
				successes[i]++
				reward++
			}
		}
		for i, a := range res.Arms {
			if a.Successes != successes[i] || a.Successes+a.Failures != served[i] {
				t.Errorf("%s: %s counts %d/%d, trace %d/%d", s, a.Name, a.Successes, a.Successes+a.Failures, successes[i], served[i])
			}
		}
		if reward != res.Reward {
			t.Errorf("%s: reward %d, trace %d", s, res.Reward, reward)
		}
	}
}

func TestEvolutionFollowsThePolicy(t *testing.T) {
	sc := evolving()
	var created, retired int
	for seed := range uint64(30) {
		res, err := Run(sc, Uniform, seed, true)
		if err != nil {
			t.Fatal(err)
		}
		created += res.Created
		retired += res.Retired
		if res.Cycles != sc.Days-1 {
			t.Errorf("seed %d: %d cycles, want %d", seed, res.Cycles, sc.Days-1)
		}
		byName := map[string]Arm{}
		for _, a := range res.Arms {
			byName[a.Name] = a
		}
		index := map[int64]int{}
		for _, a := range res.Arms[len(sc.Rates):] {
			index[a.Generation]++
			if want := evolution.ChildName(Portfolio, a.Generation, index[a.Generation]); a.Name != want {
				t.Errorf("child %s, want name %s", a.Name, want)
			}
			if a.Born != int(a.Generation)*sc.CallsPerDay {
				t.Errorf("%s born at call %d in generation %d", a.Name, a.Born, a.Generation)
			}
			// The parent's posterior at the child's birth is the end-of-day counts before the cycle.
			parent := byName[a.Parent]
			var pi int
			for i := range res.Arms {
				if res.Arms[i].Name == a.Parent {
					pi = i
				}
			}
			c := res.Trace.EndOfDay[a.Generation-1][pi]
			post := bandit.NewPosterior(parent.PriorAlpha, parent.PriorBeta, c.Successes, c.Failures)
			wantA, wantB := evolution.ChildPrior(post.Mean(), min(sc.Evolution.ChildPriorStrength, post.Alpha+post.Beta))
			if math.Abs(a.PriorAlpha-wantA) > 1e-12 || math.Abs(a.PriorBeta-wantB) > 1e-12 {
				t.Errorf("%s prior Beta(%v, %v), want Beta(%v, %v)", a.Name, a.PriorAlpha, a.PriorBeta, wantA, wantB)
			}
			if a.Rate < 0 || a.Rate > 1 {
				t.Errorf("%s rate %v outside [0, 1]", a.Name, a.Rate)
			}
		}
		for d := range res.Trace.EndOfDay {
			active := 0
			for _, c := range res.Trace.EndOfDay[d] {
				if c.Active {
					active++
				}
			}
			if active < sc.Evolution.MinActiveArms || active > max(sc.Evolution.MaxActiveArms, len(sc.Rates)) {
				t.Errorf("seed %d day %d: %d active arms", seed, d+1, active)
			}
		}
		for _, a := range res.Arms {
			if a.Retired >= 0 && (a.Successes+a.Failures < sc.Evolution.Retirement.MinTrials || !strings.Contains(a.RetiredBecause, "is below the threshold")) {
				t.Errorf("%s retired after %d trials: %q", a.Name, a.Successes+a.Failures, a.RetiredBecause)
			}
		}
	}
	if created == 0 || retired == 0 {
		t.Errorf("the evolving scenario created %d and retired %d arms in 30 runs; want some of both", created, retired)
	}
}

func TestUniformSplitsTrafficEvenly(t *testing.T) {
	sc := DefaultScenario()
	served := make([]int64, len(sc.Rates))
	var total int64
	for seed := range uint64(200) {
		res, err := Run(sc, Uniform, seed, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range res.Arms {
			served[i] += a.Successes + a.Failures
			total += a.Successes + a.Failures
		}
	}
	// 60,000 calls: a share's standard error is about 0.0016.
	for i, n := range served {
		if share := float64(n) / float64(total); math.Abs(share-0.2) > 0.01 {
			t.Errorf("arm %d got %.4f of the traffic, want 0.2 ± 0.01", i+1, share)
		}
	}
}

func TestThompsonBeatsUniform(t *testing.T) {
	sum, err := RunMany(context.Background(), DefaultScenario(), Options{Runs: 300, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	th, un := sum.Strategies[0], sum.Strategies[1]
	if th.Strategy != Thompson || un.Strategy != Uniform {
		t.Fatalf("strategies in order %s, %s", th.Strategy, un.Strategy)
	}
	if th.Reward.Low <= un.Reward.High {
		t.Errorf("Thompson reward %+v does not beat uniform %+v", th.Reward, un.Reward)
	}
	if th.Regret.High >= un.Regret.Low {
		t.Errorf("Thompson regret %+v is not below uniform %+v", th.Regret, un.Regret)
	}
}

// TestSeedHeadline checks the seed notebook's result: after the first 100 of 300 calls, Thompson
// sampling serves the best of rates .2 … .6 to a median 60–80% of the traffic.
func TestSeedHeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 runs")
	}
	sum, err := RunMany(context.Background(), DefaultScenario(), Options{Runs: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m := sum.Strategies[0].BestShareLate.Median; m < 0.6 || m > 0.8 {
		t.Errorf("median best-arm share after 100 trials = %.3f, want 0.6..0.8", m)
	}
}

func TestDescribe(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		xs   []float64
		want Stat
	}{
		{"odd count", []float64{3, 1, 2}, Stat{N: 3, Mean: 2, Low: 2 - 1.96/math.Sqrt(3), High: 2 + 1.96/math.Sqrt(3), Median: 2}},
		{"even count", []float64{4, 1, 3, 2}, Stat{N: 4, Mean: 2.5, Low: 2.5 - 1.96*math.Sqrt(5.0/3/4), High: 2.5 + 1.96*math.Sqrt(5.0/3/4), Median: 2.5}},
		{"constant has no width", []float64{5, 5, 5}, Stat{N: 3, Mean: 5, Low: 5, High: 5, Median: 5}},
		{"one value", []float64{7}, Stat{N: 1, Mean: 7, Low: 7, High: 7, Median: 7}},
		{"NaN left out", []float64{nan, 1, 3}, Stat{N: 2, Mean: 2, Low: 2 - 1.96, High: 2 + 1.96, Median: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Describe(tt.xs)
			if got.N != tt.want.N || !near(got.Mean, tt.want.Mean) || !near(got.Low, tt.want.Low) ||
				!near(got.High, tt.want.High) || !near(got.Median, tt.want.Median) {
				t.Errorf("Describe(%v) = %+v, want %+v", tt.xs, got, tt.want)
			}
		})
	}
	if got := Describe([]float64{nan}); got.N != 0 || !math.IsNaN(got.Mean) || !math.IsNaN(got.Median) {
		t.Errorf("Describe of no values = %+v, want N 0 and NaNs", got)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestScenarioValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Scenario)
		want string // empty: valid
	}{
		{"default", func(*Scenario) {}, ""},
		{"one prompt", func(s *Scenario) { s.Rates = []float64{0.5} }, ""},
		{"rates at the bounds", func(s *Scenario) { s.Rates = []float64{0, 1} }, ""},
		{"no rates", func(s *Scenario) { s.Rates = nil }, "no rates"},
		{"rate above 1", func(s *Scenario) { s.Rates = []float64{0.5, 1.2} }, "rate 2"},
		{"rate NaN", func(s *Scenario) { s.Rates = []float64{math.NaN()} }, "rate 1"},
		{"no calls", func(s *Scenario) { s.CallsPerDay = 0 }, "callsPerDay"},
		{"no days", func(s *Scenario) { s.Days = 0 }, "days"},
		{"too many trials", func(s *Scenario) { s.CallsPerDay, s.Days = 1<<20, 1<<20 }, "trials"},
		{"zero prior", func(s *Scenario) { s.Prior.Beta = 0 }, "prior"},
		{"epsilon above 1", func(s *Scenario) { s.Epsilon = 1.5 }, "epsilon"},
		{"no early trials", func(s *Scenario) { s.EarlyTrials = 0 }, "earlyTrials"},
		{"negative sigma", func(s *Scenario) { s.Evolution.Enabled = true; s.Evolution.Sigma = -1 }, "sigma"},
		{"bad policy", func(s *Scenario) { s.Evolution.Enabled = true; s.Evolution.MinActiveArms = 0 }, "minActiveArms"},
		{"bad policy unused when evolution is off", func(s *Scenario) { s.Evolution.MinActiveArms = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := DefaultScenario()
			tt.edit(&sc)
			err := sc.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadScenario(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	base := DefaultScenario()

	got, err := LoadScenario(write("ok.yaml", "rates: [0.1, 0.9]\ndays: 5\nevolution:\n  enabled: true\n  retirement:\n    minTrials: 7\n"), base)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultScenario()
	want.Rates, want.Days = []float64{0.1, 0.9}, 5
	want.Evolution.Enabled, want.Evolution.Retirement.MinTrials = true, 7
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadScenario = %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(base, DefaultScenario()) {
		t.Error("LoadScenario changed its base")
	}

	if _, err := LoadScenario(write("typo.yaml", "rate: [0.1]\n"), base); err == nil || !strings.Contains(err.Error(), "rate") {
		t.Errorf("unknown key: error %v", err)
	}
	if _, err := LoadScenario(filepath.Join(dir, "missing.yaml"), base); err == nil {
		t.Error("missing file: no error")
	}
}
