package bandit

import (
	"math"
	"math/rand/v2"
	"testing"
)

type probGreaterCase struct {
	Name           string
	A1, B1, A2, B2 string
	P              string
}

// TestProbGreaterMatchesReference checks every case of the 40-digit mpmath
// fixture made by hack/bandit/prob_greater_fixture.py.
func TestProbGreaterMatchesReference(t *testing.T) {
	worst, worstName := 0.0, ""
	for _, c := range loadFixture[probGreaterCase](t, "testdata/prob_greater.json") {
		x := Posterior{parse(t, c.A1), parse(t, c.B1)}
		y := Posterior{parse(t, c.A2), parse(t, c.B2)}
		want := parse(t, c.P)
		got := ProbGreater(x, y)
		err := math.Abs(got - want)
		if err > worst {
			worst, worstName = err, c.Name
		}
		if err > 1e-9 {
			t.Errorf("%s: P(%v > %v) = %.17g, want %.17g (error %.2g)", c.Name, x, y, got, want, err)
		}
		if back := ProbGreater(y, x); math.Abs(back-(1-want)) > 1e-9 {
			t.Errorf("%s: reversed P = %.17g, want %.17g", c.Name, back, 1-want)
		}
	}
	t.Logf("largest absolute error %.2g (%s)", worst, worstName)
}

func TestProbGreaterEqualArmsIsOneHalf(t *testing.T) {
	for _, p := range []Posterior{{1, 1}, {0.3, 0.5}, {6.123456, 3.876544}, {1e7 + 1, 3e6 + 1}} {
		if got := ProbGreater(p, p); got != 0.5 {
			t.Errorf("ProbGreater(%v, %v) = %v, want exactly 0.5", p, p, got)
		}
	}
}

func TestProbGreaterInvalidIsNaN(t *testing.T) {
	ok := Posterior{2, 3}
	for _, bad := range []Posterior{{0, 1}, {1, -2}, {math.NaN(), 1}, {math.Inf(1), 1}} {
		if !math.IsNaN(ProbGreater(ok, bad)) || !math.IsNaN(ProbGreater(bad, ok)) {
			t.Errorf("ProbGreater with %v is not NaN", bad)
		}
	}
}

// TestProbGreaterRandomPairs sweeps random pairs over the whole range the
// operator meets, from shapes of 0.1 to counts of 2e7, and checks that the
// result is a probability, that the two orders add up to one, and that it
// agrees with the independent quadrature of ProbBest.
func TestProbGreaterRandomPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	logUniform := func() float64 { return math.Exp(math.Log(0.1) + rng.Float64()*math.Log(2e8)) }
	n := 3000
	if testing.Short() {
		n = 300
	}
	for range n {
		x := Posterior{logUniform(), logUniform()}
		y := Posterior{logUniform(), logUniform()}
		if rng.IntN(2) == 0 { // often close competitors, where it is hard
			y = Posterior{x.Alpha * (1 + 0.01*rng.NormFloat64()), x.Beta * (1 + 0.01*rng.NormFloat64())}
		}
		p, q := ProbGreater(x, y), ProbGreater(y, x)
		if !(p >= 0 && p <= 1) || math.Abs(p+q-1) > 2e-16 {
			t.Fatalf("P(%v > %v) = %v, reversed %v", x, y, p, q)
		}
		if best := ProbBest([]Posterior{x, y}); math.Abs(best[0]-p) > 1e-7 {
			t.Errorf("P(%v > %v) = %.12g, ProbBest says %.12g", x, y, p, best[0])
		}
	}
}

// TestTableWeightIdentity checks the recurrence the series rests on,
// h(a1+1) − h(a1) = g/a1, against the series itself at a few points.
func TestTableWeightIdentity(t *testing.T) {
	for _, c := range [][4]float64{{3, 5, 4, 6}, {0.3, 0.5, 0.5, 0.3}, {1e4 + 0.5, 9e4, 1.01e4, 8.99e4}} {
		x, y := Posterior{c[0], c[1]}, Posterior{c[2], c[3]}
		step := ProbGreater(Posterior{c[0] + 1, c[1]}, y) - ProbGreater(x, y)
		want := math.Exp(logTableWeight(c[0], c[1], c[2], c[3])) / c[0]
		if math.Abs(step-want) > 1e-13 {
			t.Errorf("%v: step %v, want %v", c, step, want)
		}
	}
}
