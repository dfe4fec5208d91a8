package bandit

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBetaMoments(t *testing.T) {
	const n = 200000
	r := NewRandSeed(7)
	for _, p := range []Posterior{
		{1, 1}, {0.3, 0.5}, {0.05, 0.05}, {0.5, 30}, {2, 9}, {6.123456 + 40, 3.876544 + 60},
		{1e3 + 1, 9e3 + 1}, {1e7 + 1, 1e7 + 1}, {1, 1e7},
	} {
		var sum, sumSq float64
		for range n {
			v := r.Beta(p.Alpha, p.Beta)
			if !(v >= 0 && v <= 1) {
				t.Fatalf("Beta(%v, %v) returned %v", p.Alpha, p.Beta, v)
			}
			sum += v
			sumSq += v * v
		}
		mean := sum / n
		vari := sumSq/n - mean*mean
		wantMean, wantVar := p.Mean(), p.Variance()
		// Standard errors of the sample mean and variance; the fourth central
		// moment of a Beta is at most that of a Bernoulli-like two-point law.
		if se := math.Sqrt(wantVar / n); math.Abs(mean-wantMean) > 5*se {
			t.Errorf("Beta(%v, %v): mean %v, want %v ± %v", p.Alpha, p.Beta, mean, wantMean, 5*se)
		}
		if se := math.Sqrt(3 * wantVar * wantVar * 10 / n); math.Abs(vari-wantVar) > 5*se+1e-12 {
			t.Errorf("Beta(%v, %v): variance %v, want %v ± %v", p.Alpha, p.Beta, vari, wantVar, 5*se)
		}
	}
}

// TestBetaKolmogorovSmirnov compares the empirical CDF of the sampler with
// the exact CDF. With 20000 draws the critical distance at the 0.1% level is
// 1.95/√n ≈ 0.0138; the seed is fixed, so the test cannot flake.
func TestBetaKolmogorovSmirnov(t *testing.T) {
	const n = 20000
	critical := 1.95 / math.Sqrt(n)
	r := NewRandSeed(11)
	for _, p := range []Posterior{
		{1, 1}, {0.3, 0.5}, {0.5, 0.5}, {0.7, 40}, {2.5, 7.25}, {50, 50}, {1e5 + 1, 9e5 + 1}, {1e7 + 1, 1e7 + 1},
	} {
		draws := make([]float64, n)
		for i := range draws {
			draws[i] = r.Beta(p.Alpha, p.Beta)
		}
		slices.Sort(draws)
		d := 0.0
		for i, x := range draws {
			f := regIncBeta(p.Alpha, p.Beta, x)
			d = math.Max(d, math.Max(f-float64(i)/n, float64(i+1)/n-f))
		}
		if d > critical {
			t.Errorf("Beta(%v, %v): KS distance %.4f > %.4f", p.Alpha, p.Beta, d, critical)
		}
	}
}

func TestBetaInvalid(t *testing.T) {
	r := NewRandSeed(1)
	for _, c := range [][2]float64{{0, 1}, {1, 0}, {-1, 2}, {math.NaN(), 1}, {1, math.Inf(1)}} {
		if v := r.Beta(c[0], c[1]); !math.IsNaN(v) {
			t.Errorf("Beta(%v, %v) = %v, want NaN", c[0], c[1], v)
		}
	}
	if v := r.Gamma(-1); !math.IsNaN(v) {
		t.Errorf("Gamma(-1) = %v, want NaN", v)
	}
}

func TestDrawEdgeCases(t *testing.T) {
	s := NewSampler(1)
	tests := []struct {
		name string
		arms []Posterior
		want int
	}{
		{"empty", nil, -1},
		{"all invalid", []Posterior{{0, 1}, {math.NaN(), 2}}, -1},
		{"one arm", []Posterior{{3, 4}}, 0},
		{"invalid arms skipped", []Posterior{{0, 1}, {2, 2}, {-3, 1}}, 1},
		{"certain winner", []Posterior{{1, 1e7}, {1e7, 1}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 100 {
				if got := s.Draw(tt.arms); got != tt.want {
					t.Fatalf("Draw = %d, want %d", got, tt.want)
				}
			}
		})
	}
}

func TestSamplerIsDeterministicForASeed(t *testing.T) {
	arms := []Posterior{{3, 7}, {4, 6}, {0.5, 0.5}, {30, 70}}
	a, b := NewSampler(42), NewSampler(42)
	other := NewSampler(43)
	same := true
	for i := range 1000 {
		x, y := a.Draw(arms), b.Draw(arms)
		if x != y {
			t.Fatalf("draw %d: %d and %d from one seed", i, x, y)
		}
		same = same && x == other.Draw(arms)
	}
	if same {
		t.Error("seeds 42 and 43 gave the same 1000 draws")
	}
	if a.Beta(2, 3) != b.Beta(2, 3) {
		t.Error("Beta differs for one seed")
	}
}

func TestRandFromInjectedSource(t *testing.T) {
	a := NewRand(rand.NewPCG(1, 2))
	b := NewRand(rand.NewPCG(1, 2))
	for range 100 {
		if a.Beta(0.4, 3) != b.Beta(0.4, 3) {
			t.Fatal("same source, different draws")
		}
	}
}

// TestDrawFrequenciesMatchProbBest checks the sampler and ProbBest against
// each other: the share of draws an arm wins is its probability of being
// best.
func TestDrawFrequenciesMatchProbBest(t *testing.T) {
	arms := []Posterior{{12, 30}, {15, 33}, {2, 3}, {40.5, 99.5}, {0.5, 0.7}}
	checkWinShares(t, arms, 200000, NewSampler(3).Draw)
}

// TestSamplerConcurrentUse runs draws from many goroutines; run it with
// -race.
func TestSamplerConcurrentUse(t *testing.T) {
	s := NewSampler(5)
	arms := []Posterior{{3, 7}, {4, 6}, {5, 5}}
	var wg sync.WaitGroup
	counts := make([][3]int, 8)
	for g := range counts {
		wg.Go(func() {
			for range 5000 {
				counts[g][s.Draw(arms)]++
			}
		})
	}
	wg.Wait()
	var total [3]int
	for _, c := range counts {
		for i, v := range c {
			total[i] += v
		}
	}
	want := ProbBest(arms)
	for i := range total {
		if got := float64(total[i]) / 40000; math.Abs(got-want[i]) > 0.02 {
			t.Errorf("arm %d: share %.3f, want %.3f", i, got, want[i])
		}
	}
}

// testShapes covers every path of the sampler: both shapes ≥ 1, boosted
// shapes below one, shapes beyond largeShapeMax, and invalid arms.
var testShapes = []Posterior{
	{1, 1}, {1.5, 2.5}, {101, 901}, {1e7 + 1, 1e7 + 1}, {0.5, 0.7}, {0.3, 40}, {25, 0.02},
	{1e101, 3e101}, {2, 1e120}, {0, 1}, {math.NaN(), 2},
}

// TestInjectedSourceMatchesBuiltIn feeds the built-in generator's stream
// through NewRand: the Source path (gammaMSource, stream.next) and the
// register path (gammaM) must give bit-identical variates and choices.
func TestInjectedSourceMatchesBuiltIn(t *testing.T) {
	gen := newXoro(99)
	viaSource, builtIn := NewRand(&gen), NewRandSeed(99)
	for range 2000 {
		for _, p := range testShapes {
			a, b := viaSource.Beta(p.Alpha, p.Beta), builtIn.Beta(p.Alpha, p.Beta)
			if math.Float64bits(a) != math.Float64bits(b) {
				t.Fatalf("Beta(%v, %v): %v via the Source, %v built in", p.Alpha, p.Beta, a, b)
			}
		}
		for _, shape := range []float64{0.2, 1, 7.5} {
			if a, b := viaSource.Gamma(shape), builtIn.Gamma(shape); a != b {
				t.Fatalf("Gamma(%v): %v via the Source, %v built in", shape, a, b)
			}
		}
		if a, b := viaSource.Draw(testShapes), builtIn.Draw(testShapes); a != b {
			t.Fatalf("Draw: %d via the Source, %d built in", a, b)
		}
	}
}

// TestDrawPreparedMatchesDraw checks that Draw, whose cache of prepared arms
// is refreshed by position as parameters change, chooses exactly as
// DrawPrepared on freshly prepared arms from the same stream, while arms
// change, appear and disappear.
func TestDrawPreparedMatchesDraw(t *testing.T) {
	cached, fresh := NewRandSeed(5), NewRandSeed(5)
	rng := rand.New(rand.NewPCG(1, 2))
	arms := slices.Clone(testShapes)
	for i := range 20000 {
		switch rng.IntN(4) {
		case 0: // feedback on one arm
			j := rng.IntN(len(arms))
			arms[j].Alpha++
		case 1: // a new arm, or one fewer
			if len(arms) < 20 && rng.IntN(2) == 0 {
				arms = append(arms, Posterior{0.5 + rng.Float64()*50, 0.5 + rng.Float64()*50})
			} else if len(arms) > 1 {
				arms = arms[:len(arms)-1]
			}
		}
		a := cached.Draw(arms)
		b := fresh.DrawPrepared(PrepareAll(nil, arms))
		if a != b {
			t.Fatalf("draw %d: Draw chose %d, DrawPrepared %d", i, a, b)
		}
	}
	s1, s2 := NewSampler(8), NewSampler(8)
	prepared := PrepareAll(nil, testShapes)
	for range 1000 {
		if a, b := s1.Draw(testShapes), s2.DrawPrepared(prepared); a != b {
			t.Fatalf("Sampler: Draw %d, DrawPrepared %d", a, b)
		}
	}
}

func TestPreparedBeta(t *testing.T) {
	r := NewRandSeed(1)
	var zero Prepared
	if v := r.PreparedBeta(&zero); !math.IsNaN(v) {
		t.Errorf("zero Prepared gave %v, want NaN", v)
	}
	if i := r.DrawPrepared([]Prepared{{}, Posterior{2, 3}.Prepare(), {}}); i != 1 {
		t.Errorf("DrawPrepared chose %d, want the only valid arm 1", i)
	}
	// Shapes beyond largeShapeMax take the logarithmic path; the mean
	// must still be right.
	p := Posterior{1e101, 3e101}.Prepare()
	sum := 0.0
	for range 1000 {
		sum += r.PreparedBeta(&p)
	}
	if mean := sum / 1000; math.Abs(mean-0.25) > 1e-12 {
		t.Errorf("Beta(1e101, 3e101) mean %v, want 0.25", mean)
	}
}
