package simulate

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestSuiteCells(t *testing.T) {
	cells := SuiteCells(DefaultScenario())
	if len(cells) != 13 {
		t.Fatalf("%d cells, want 3 traffic levels × 2 σ × 2 biases + the seed = 13", len(cells))
	}
	seen := map[string]bool{}
	for _, c := range cells[:12] {
		sc := c.Scenario
		if sc.Days != SuiteDays || !reflect.DeepEqual(sc.Rates, DefaultScenario().Rates) {
			t.Errorf("%s: %d days, rates %v", c.Name, sc.Days, sc.Rates)
		}
		key := c.Name
		if seen[key] {
			t.Errorf("two cells named %s", key)
		}
		seen[key] = true
		want := []string{"/day", "σ=", "bias="}
		for _, w := range want {
			if !strings.Contains(c.Name, w) {
				t.Errorf("cell name %q lacks %q", c.Name, w)
			}
		}
	}
	if last := cells[12]; last.Name != "seed" || !reflect.DeepEqual(last.Scenario, DefaultScenario()) {
		t.Errorf("last cell %s, want the seed scenario as given", last.Name)
	}
	if c := cells[3].Scenario; c.CallsPerDay != 10 || c.Evolution.Sigma != 0.10 || c.Evolution.MutationBias != -0.03 {
		t.Errorf("cell 4 %s: %d/day σ %v bias %v", cells[3].Name, c.CallsPerDay, c.Evolution.Sigma, c.Evolution.MutationBias)
	}
}

// TestRunSuiteIsPairedAndDeterministic checks that a cell's two plays of run i are the runs with
// and without evolution from one seed, and that the table does not depend on the workers.
func TestRunSuiteIsPairedAndDeterministic(t *testing.T) {
	cells := SuiteCells(DefaultScenario())
	cells = []SuiteCell{cells[0], cells[5]} // 10/day and 100/day
	const runs = 12
	one, err := RunSuite(context.Background(), cells, Options{Runs: runs, Seed: 3, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	two, err := RunSuite(context.Background(), cells, Options{Runs: runs, Seed: 3, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one, two) {
		t.Error("1 and 2 workers gave different suites")
	}
	for k, c := range cells {
		var off, on, diff []float64
		for i := range runs {
			seed := StrategySeed(RunSeed(3, i), Thompson)
			sc := c.Scenario
			sc.Evolution.Enabled = false
			a, err := Run(sc, Thompson, seed, false)
			if err != nil {
				t.Fatal(err)
			}
			sc.Evolution.Enabled = true
			b, err := Run(sc, Thompson, seed, false)
			if err != nil {
				t.Fatal(err)
			}
			off, on = append(off, float64(a.Reward)), append(on, float64(b.Reward))
			diff = append(diff, float64(b.Reward-a.Reward))
		}
		got := one[k]
		if got.RewardOff != Describe(off) || got.RewardOn != Describe(on) {
			t.Errorf("%s: rewards %+v / %+v, want %+v / %+v", c.Name, got.RewardOff, got.RewardOn, Describe(off), Describe(on))
		}
		d := Describe(diff)
		if !near(got.Lift.Mean, d.Mean/Describe(off).Mean) || !near(got.Lift.Low, d.Low/Describe(off).Mean) {
			t.Errorf("%s: lift %+v, want the paired difference %+v over %v", c.Name, got.Lift, d, Describe(off).Mean)
		}
	}
}

// TestHarmfulRetirements retires everything but the posterior-best arm after every day of few,
// uniformly split calls between rates 0.4 and 0.6: the 0.6 arm is sometimes the one retired, a
// harmful retirement that loses 0.2 of rate.
func TestHarmfulRetirements(t *testing.T) {
	sc := DefaultScenario()
	sc.Rates = []float64{0.4, 0.6}
	sc.CallsPerDay, sc.Days = 4, 3
	sc.Evolution.Enabled = true
	sc.Evolution.Retirement.Threshold = 1
	sc.Evolution.Retirement.MinTrials = 0
	sc.Evolution.MinActiveArms = 1
	sc.Evolution.MutationsPerCycle = 0
	var harmful, sound int
	for seed := range uint64(200) {
		res, err := Run(sc, Uniform, seed, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Retired != 1 {
			t.Fatalf("seed %d: %d retirements, want 1", seed, res.Retired)
		}
		retired := res.Arms[0]
		if res.Arms[1].Retired >= 0 {
			retired = res.Arms[1]
		}
		wantHarm := retired.Rate == 0.6
		if (res.Harmful == 1) != wantHarm || res.HarmfulBig != res.Harmful {
			t.Errorf("seed %d: retired the %v arm; harmful %d (%d big)", seed, retired.Rate, res.Harmful, res.HarmfulBig)
		}
		if wantHarm {
			harmful++
			if math.Abs(res.HarmfulLoss-0.2) > 1e-12 {
				t.Errorf("seed %d: loss %v, want 0.2", seed, res.HarmfulLoss)
			}
		} else {
			sound++
			if res.HarmfulLoss != 0 {
				t.Errorf("seed %d: loss %v for a sound retirement", seed, res.HarmfulLoss)
			}
		}
	}
	if harmful == 0 || sound == 0 {
		t.Errorf("%d harmful and %d sound retirements in 200 runs; want some of both", harmful, sound)
	}
}

func TestMainSuite(t *testing.T) {
	stdout, stderr, err := runMain(t, "--suite", "--runs", "3", "--seed", "2")
	if err != nil {
		t.Fatalf("Main --suite: %v\n%s", err, stderr)
	}
	for _, want := range []string{"3 runs a cell, seed 2", "lift", "95% CI", "harmful", "1000/day σ=0.10 bias=-0.03", "\nseed "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("suite output lacks %q:\n%s", want, stdout)
		}
	}
	if rows := strings.Count(stdout, "/day σ="); rows != 12 {
		t.Errorf("%d matrix rows, want 12:\n%s", rows, stdout)
	}
}
