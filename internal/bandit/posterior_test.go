package bandit

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mathext"
)

func TestNewPosterior(t *testing.T) {
	p := NewPosterior(6.123456, 3.876544, 10, 90)
	if p.Alpha != 16.123456 || p.Beta != 93.876544 {
		t.Fatalf("NewPosterior = %+v", p)
	}
}

func TestPosteriorMoments(t *testing.T) {
	tests := []struct {
		name       string
		p          Posterior
		mean, vari float64
	}{
		{"uniform", Posterior{1, 1}, 0.5, 1.0 / 12},
		{"beta(2,3)", Posterior{2, 3}, 0.4, 0.04},
		{"large", Posterior{1e6 + 1, 9e6 + 1}, 0.1000000799999840, 0.1000000799999840 * 0.8999999200000160 / (1e7 + 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Mean(); math.Abs(got-tt.mean) > 1e-15 {
				t.Errorf("Mean() = %v, want %v", got, tt.mean)
			}
			if got := tt.p.Variance(); math.Abs(got-tt.vari) > 1e-15*tt.vari {
				t.Errorf("Variance() = %v, want %v", got, tt.vari)
			}
		})
	}
}

func TestInvalidPosterior(t *testing.T) {
	for _, p := range []Posterior{{0, 1}, {1, -1}, {math.NaN(), 1}, {1, math.Inf(1)}} {
		if p.Valid() {
			t.Errorf("%+v is valid", p)
		}
		lo, hi := p.CredibleInterval(0.95)
		if !math.IsNaN(p.Mean()) || !math.IsNaN(p.Variance()) || !math.IsNaN(lo) || !math.IsNaN(hi) {
			t.Errorf("%+v: want NaN statistics", p)
		}
	}
}

func TestCredibleIntervalHitsItsTails(t *testing.T) {
	for _, p := range []Posterior{
		{1, 1}, {0.3, 0.5}, {0.5, 200}, {2, 9}, {6.123456 + 40, 3.876544 + 60},
		{1e3 + 1, 9e3 + 1}, {1e5 + 1, 9e5 + 1}, {1e6 + 1, 9e6 + 1}, {1e7 + 1, 1e7 + 1}, {1e4, 2e7},
	} {
		lo, hi := p.CredibleInterval(0.95)
		below, above := regIncBeta(p.Alpha, p.Beta, lo), regIncBetaUpper(p.Alpha, p.Beta, hi)
		if math.Abs(below-0.025) > 1e-11 || math.Abs(above-0.025) > 1e-11 || !(lo < p.Mean() && p.Mean() < hi) {
			t.Errorf("%+v: interval [%v, %v] leaves %v below and %v above", p, lo, hi, below, above)
		}
		g := mathext.InvRegIncBeta(p.Alpha, p.Beta, 0.025)
		t.Logf("%+v: gonum quantile off by %.3g in CDF, %.3g sd in x", p, regIncBeta(p.Alpha, p.Beta, g)-0.025, (g-lo)/math.Sqrt(p.Variance()))
	}
}

func TestQuantileMatchesReference(t *testing.T) {
	for _, c := range loadFixture[incBetaCase](t, "testdata/reg_inc_beta.json") {
		a, b, x, cdf := parse(t, c.A), parse(t, c.B), parse(t, c.X), parse(t, c.CDF)
		if cdf < 1e-300 || cdf > 1-1e-15 {
			continue
		}
		p := Posterior{a, b}
		got := p.quantile(cdf, false)
		density := math.Exp(logBetaKernel(a, b, x)) / (x * (1 - x))
		if math.Abs(got-x)*density > 1e-10 {
			t.Errorf("quantile of Beta(%v, %v) at %v = %v, want %v", a, b, cdf, got, x)
		}
	}
}

func TestCredibleIntervalLevels(t *testing.T) {
	p := Posterior{3, 7}
	if lo, hi := p.CredibleInterval(1); lo != 0 || hi != 1 {
		t.Errorf("level 1: [%v, %v], want [0, 1]", lo, hi)
	}
	if lo, hi := p.CredibleInterval(0); math.Abs(lo-hi) > 1e-12 {
		t.Errorf("level 0: [%v, %v], want the median twice", lo, hi)
	}
	if lo, hi := p.CredibleInterval(1.5); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("level 1.5: [%v, %v], want NaN", lo, hi)
	}
}
