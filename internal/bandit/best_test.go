package bandit

import (
	"math"
	"testing"
)

func TestProbBestDegenerateInputs(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name string
		arms []Posterior
		want []float64
	}{
		{"empty", nil, []float64{}},
		{"one arm", []Posterior{{3, 4}}, []float64{1}},
		{"all invalid", []Posterior{{0, 1}, {nan, 1}}, []float64{0.5, 0.5}},
		{"one valid", []Posterior{{0, 1}, {2, 2}, {inf, 1}}, []float64{0, 1, 0}},
		{"identical", []Posterior{{5, 9}, {5, 9}, {5, 9}, {5, 9}}, []float64{0.25, 0.25, 0.25, 0.25}},
		{"hopeless arm", []Posterior{{1e6, 1e6}, {1, 1e7}}, []float64{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ProbBest(tt.arms)
			if len(got) != len(tt.want) {
				t.Fatalf("ProbBest = %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-9 {
					t.Fatalf("ProbBest = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestProbBestNeverNaN feeds extreme but valid parameters.
func TestProbBestNeverNaN(t *testing.T) {
	for _, arms := range [][]Posterior{
		{{1e-6, 1e-6}, {1e-6, 1}, {1, 1e-6}},
		{{1e12, 1}, {1, 1e12}, {1e12, 1e12}},
		{{0.01, 1e9}, {0.02, 1e9}},
		{{1e9, 0.01}, {1e9, 0.02}},
		{{1, 1}, {1e-300, 1}},
	} {
		got := ProbBest(arms)
		sum := 0.0
		for _, p := range got {
			if !(p >= 0 && p <= 1) {
				t.Fatalf("ProbBest(%v) = %v", arms, got)
			}
			sum += p
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("ProbBest(%v) sums to %v", arms, sum)
		}
	}
}

// TestProbBestTwoArmsIsProbGreater checks K = 2 against the exact series
// on the mpmath fixture's cases.
func TestProbBestTwoArmsIsProbGreater(t *testing.T) {
	worst := 0.0
	for _, c := range loadFixture[probGreaterCase](t, "testdata/prob_greater.json") {
		x := Posterior{parse(t, c.A1), parse(t, c.B1)}
		y := Posterior{parse(t, c.A2), parse(t, c.B2)}
		want := parse(t, c.P)
		got := ProbBest([]Posterior{x, y})
		err := math.Abs(got[0] - want)
		worst = math.Max(worst, err)
		if err > 1e-7 {
			t.Errorf("%s: ProbBest = %v, want P(X > Y) = %v", c.Name, got, want)
		}
	}
	t.Logf("largest absolute error %.2g", worst)
}

// TestProbBestMatchesMonteCarlo compares with the share of wins among
// Thompson draws (five standard errors).
func TestProbBestMatchesMonteCarlo(t *testing.T) {
	n := 400000
	if testing.Short() {
		n = 50000
	}
	for _, arms := range [][]Posterior{
		{{12, 30}, {15, 33}, {2, 3}, {40.5, 99.5}, {0.5, 0.7}},
		{{1e5 + 1, 9e5 + 1}, {1.003e5 + 1, 8.997e5 + 1}, {1.001e5 + 6.1, 8.999e5 + 3.9}, {11, 91}},
		{{1e7 + 1, 1e7 + 1}, {1.0002e7, 1e7}, {1e3, 1e3}},
		{{0.3, 0.5}, {0.5, 0.3}, {1, 1}},
	} {
		checkWinShares(t, arms, n, NewRandSeed(9).Draw)
	}
}

// checkWinShares draws n times and checks that the share of draws each arm
// wins is its probability of being best, within five standard errors.
func checkWinShares(t *testing.T, arms []Posterior, n int, draw func([]Posterior) int) {
	t.Helper()
	want := ProbBest(arms)
	wins := make([]float64, len(arms))
	for range n {
		wins[draw(arms)]++
	}
	for i := range arms {
		got := wins[i] / float64(n)
		se := math.Sqrt(want[i]*(1-want[i])/float64(n)) + 1e-9
		if math.Abs(got-want[i]) > 5*se {
			t.Errorf("%v arm %d: won %.5f of %d draws, P(best) %.5f ± %.5f", arms, i, got, n, want[i], 5*se)
		}
	}
}

// TestProbBestSymmetricArms checks that the result follows the arms, not
// their order.
func TestProbBestSymmetricArms(t *testing.T) {
	got := ProbBest([]Posterior{{3.5, 8}, {8, 3.5}, {6, 6}})
	want := ProbBest([]Posterior{{8, 3.5}, {3.5, 8}, {6, 6}})
	if math.Abs(got[0]-want[1]) > 1e-12 || math.Abs(got[1]-want[0]) > 1e-12 || math.Abs(got[2]-want[2]) > 1e-12 {
		t.Errorf("order changes the result: %v vs %v", got, want)
	}
}
