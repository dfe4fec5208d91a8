package bandit

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mathext"
)

// TestZigguratTables checks the solved tables: every strip has the area v
// of the base strip, the chain closes at f(0) = 1, and the tail starts where
// the published 256-strip ziggurat puts it (r ≈ 3.6541528853610088).
func TestZigguratTables(t *testing.T) {
	r := zig.r
	if math.Abs(r-3.6541528853610088) > 1e-12 {
		t.Errorf("r = %.17g", r)
	}
	f := func(x float64) float64 { return math.Exp(-0.5 * x * x) }
	v := r*f(r) + math.Sqrt(math.Pi/2)*math.Erfc(r/math.Sqrt2)
	if base := zig.x[0] * f(r); math.Abs(base-v) > 1e-15 {
		t.Errorf("base strip area %v, want %v", base, v)
	}
	for i := 1; i < zigLayers; i++ {
		area := zig.x[i] * (zig.f[i+1] - zig.f[i])
		if math.Abs(area-v) > 1e-12*v {
			t.Errorf("strip %d: area %v, want %v", i, area, v)
		}
		if !(zig.x[i+1] < zig.x[i]) {
			t.Errorf("strip %d: edges %v, %v not decreasing", i, zig.x[i], zig.x[i+1])
		}
	}
	// The strips cover the half-normal's mass √(π/2) with about 0.7% to
	// spare: the share of candidates that the ziggurat accepts.
	if eff := math.Sqrt(math.Pi/2) / (zigLayers * v); !(eff > 0.99 && eff < 1) {
		t.Errorf("efficiency %v", eff)
	}
	for i := range zigLayers {
		want := math.Floor(math.Ldexp(zig.x[i+1]/zig.x[i], 53))
		w := math.Ldexp(zig.x[i], -53)
		if float64(zigK[i]) != want || zigWS[i] != w || zigWS[i+zigLayers] != -w {
			t.Errorf("strip %d: k = %d, w = %v, %v", i, zigK[i], zigWS[i], zigWS[i+zigLayers])
		}
	}
}

// TestNormalKolmogorovSmirnov compares the ziggurat's normals with the exact
// normal CDF, and checks that the tail beyond r, which has its own code
// path, is visited as often as it should be.
func TestNormalKolmogorovSmirnov(t *testing.T) {
	const n = 400000
	st := NewRandSeed(3).s
	draws := make([]float64, n)
	tail := 0
	for i := range draws {
		draws[i], st = normal(st)
		if math.Abs(draws[i]) > zig.r {
			tail++
		}
	}
	slices.Sort(draws)
	d := 0.0
	for i, x := range draws {
		f := 0.5 * math.Erfc(-x/math.Sqrt2)
		d = math.Max(d, math.Max(f-float64(i)/n, float64(i+1)/n-f))
	}
	if critical := 1.95 / math.Sqrt(n); d > critical {
		t.Errorf("KS distance %.5f > %.5f", d, critical)
	}
	p := math.Erfc(zig.r / math.Sqrt2)
	if se := math.Sqrt(p * n); math.Abs(float64(tail)-p*n) > 5*se {
		t.Errorf("%d draws beyond ±r, want %.1f ± %.1f", tail, p*n, 5*se)
	}
	var m1, m2, m4 float64
	for _, x := range draws {
		m1 += x
		m2 += x * x
		m4 += x * x * x * x
	}
	m1, m2, m4 = m1/n, m2/n, m4/n
	if math.Abs(m1) > 5/math.Sqrt(n) || math.Abs(m2-1) > 5*math.Sqrt(2.0/n) || math.Abs(m4-3) > 5*math.Sqrt(96.0/n) {
		t.Errorf("moments: mean %v, E[x²] %v, E[x⁴] %v", m1, m2, m4)
	}
}

// TestSqueezeImpliesExactTest checks squeeze, which gammaM and betaM try
// first, against the exact Marsaglia–Tsang test on a grid of shapes, normals
// and uniforms: the squeeze may only accept what the exact test accepts (see
// gamma.go for the proof). The grid includes the normals near −3s, where v → 0.
func TestSqueezeImpliesExactTest(t *testing.T) {
	squeezed, total := 0, 0
	for _, a := range []float64{1, 1.0001, 1.3, 2, 5, 30, 1e3, 1e5, 1e7} {
		g := newGammaShape(a)
		for _, x := range gridNormals(g.s3) {
			m := g.s3 + x
			if m <= 0 {
				continue
			}
			for k := 1; k < 2000; k++ {
				gu := float64(k) / 2000 * math.Pow(10, -float64(k%7)) // down to tiny 1 − u
				x2 := x * x
				total++
				if squeeze(&g, x2, m, gu) {
					squeezed++
					if !acceptExact(&g, x2, m, gu) {
						t.Fatalf("a=%v x=%v 1−u=%v: squeeze accepts, exact test rejects", a, x, gu)
					}
				}
			}
		}
	}
	if squeezed == 0 || squeezed == total {
		t.Errorf("squeeze accepted %d of %d grid points", squeezed, total)
	}
}

func gridNormals(s3 float64) []float64 {
	var xs []float64
	for x := -8.0; x <= 8; x += 1.0 / 64 {
		xs = append(xs, x)
	}
	for _, e := range []float64{1e-12, 1e-6, 1e-3, 0.1, 0.5} {
		xs = append(xs, -s3*(1-e)) // m close to zero
	}
	return xs
}

// TestGammaKolmogorovSmirnov compares Rand.Gamma with the exact CDF (the
// regularized incomplete gamma), for shapes below one (the boost), at one,
// and large.
func TestGammaKolmogorovSmirnov(t *testing.T) {
	const n = 20000
	critical := 1.95 / math.Sqrt(n)
	r := NewRandSeed(5)
	for _, a := range []float64{0.05, 0.3, 0.999, 1, 1.5, 3.7, 100, 1e4} {
		draws := make([]float64, n)
		for i := range draws {
			draws[i] = r.Gamma(a)
		}
		slices.Sort(draws)
		d := 0.0
		for i, x := range draws {
			f := mathext.GammaIncReg(a, x)
			d = math.Max(d, math.Max(f-float64(i)/n, float64(i+1)/n-f))
		}
		if d > critical {
			t.Errorf("Gamma(%v): KS distance %.4f > %.4f", a, d, critical)
		}
	}
}
