package bandit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// benchArms returns k posteriors at moderate counts with nearby means, the
// shape of a portfolio in production.
func benchArms(k int) []Posterior {
	arms := make([]Posterior, k)
	for i := range arms {
		s := 100 + 3*float64(i)
		arms[i] = Posterior{1 + s, 1 + 1000 - s}
	}
	return arms
}

// cpuClock returns the CPU time the process has used. On a shared machine
// wall-clock ns/op swings with other people's load; CPU time per operation
// (reported as cpu-ns/op) does not.
func cpuClock() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCPU runs loop and reports its CPU time per iteration.
//
// Every benchmark writes its own `for b.Loop() { … }` inside loop, so the
// variants of one benchmark repeat that shape: a helper that took the body
// as a function would add a call per iteration to what is measured.
func measureCPU(b *testing.B, loop func()) {
	start := cpuClock()
	loop()
	b.ReportMetric(float64(cpuClock()-start)/float64(b.N), "cpu-ns/op")
}

var (
	sinkFloat float64
	sinkInt   int
	sinkUint  uint64
)

// BenchmarkGenerator times the bare generators, a yardstick for the machine:
// on an idle core one word costs one to a few nanoseconds.
func BenchmarkGenerator(b *testing.B) {
	b.Run("math-rand-PCG", func(b *testing.B) {
		g := rand.NewPCG(1, 2)
		measureCPU(b, func() {
			for b.Loop() {
				sinkUint = g.Uint64()
			}
		})
	})
	b.Run("own-xoroshiro128++", func(b *testing.B) {
		g := newXoro(1)
		measureCPU(b, func() {
			var u uint64
			for b.Loop() {
				u, g = g.next()
			}
			sinkUint = u
		})
	})
}

func BenchmarkBetaSample(b *testing.B) {
	for _, p := range []Posterior{{1.5, 2.5}, {101, 901}, {0.5, 0.7}} {
		name := fmt.Sprintf("a=%g,b=%g", p.Alpha, p.Beta)
		b.Run("own/"+name, func(b *testing.B) {
			r := NewRandSeed(1)
			measureCPU(b, func() {
				for b.Loop() {
					sinkFloat = r.Beta(p.Alpha, p.Beta)
				}
			})
		})
		b.Run("own-prepared/"+name, func(b *testing.B) {
			r := NewRandSeed(1)
			pp := p.Prepare()
			measureCPU(b, func() {
				for b.Loop() {
					sinkFloat = r.PreparedBeta(&pp)
				}
			})
		})
		b.Run("gonum/"+name, func(b *testing.B) {
			d := distuv.Beta{Alpha: p.Alpha, Beta: p.Beta, Src: rand.NewPCG(1, 2)}
			measureCPU(b, func() {
				for b.Loop() {
					sinkFloat = d.Rand()
				}
			})
		})
	}
}

// BenchmarkDraw times one Thompson-sampling draw over k arms: serial, with arms
// that change between draws, prepared, on a Rand of its own, and in parallel.
// The variants spell out their loops; see measureCPU for why.
func BenchmarkDraw(b *testing.B) {
	for _, k := range []int{5, 10, 50, 200} {
		arms := benchArms(k)
		b.Run(fmt.Sprintf("K=%d/serial", k), func(b *testing.B) {
			s := NewSampler(1)
			measureCPU(b, func() {
				for b.Loop() {
					sinkInt = s.Draw(arms)
				}
			})
		})
		b.Run(fmt.Sprintf("K=%d/serial-one-update", k), func(b *testing.B) {
			// One arm's counts change before every draw, as when feedback
			// arrives between draws: Draw prepares that arm again.
			s := NewSampler(1)
			arms := benchArms(k)
			measureCPU(b, func() {
				n := 0
				for b.Loop() {
					a := &arms[n%k]
					a.Alpha += float64(1 - 2*(n/k%2)) // +1 on one lap, −1 on the next
					sinkInt = s.Draw(arms)
					n++
				}
			})
		})
		b.Run(fmt.Sprintf("K=%d/serial-all-new", k), func(b *testing.B) {
			// Every arm changes before every draw: no constants are reused.
			s := NewSampler(1)
			sets := [2][]Posterior{benchArms(k), benchArms(k)}
			for i := range sets[1] {
				sets[1][i].Beta++
			}
			measureCPU(b, func() {
				n := 0
				for b.Loop() {
					sinkInt = s.Draw(sets[n&1])
					n++
				}
			})
		})
		b.Run(fmt.Sprintf("K=%d/serial-prepared", k), func(b *testing.B) {
			s := NewSampler(1)
			prepared := PrepareAll(nil, arms)
			measureCPU(b, func() {
				for b.Loop() {
					sinkInt = s.DrawPrepared(prepared)
				}
			})
		})
		b.Run(fmt.Sprintf("K=%d/serial-own-rand", k), func(b *testing.B) {
			r := NewRandSeed(1)
			measureCPU(b, func() {
				for b.Loop() {
					sinkInt = r.Draw(arms)
				}
			})
		})
		b.Run(fmt.Sprintf("K=%d/parallel", k), func(b *testing.B) {
			s := NewSampler(1)
			measureCPU(b, func() {
				b.RunParallel(func(pb *testing.PB) {
					n := 0
					for pb.Next() {
						n += s.Draw(arms)
					}
					sinkInt = n
				})
			})
		})
		b.Run(fmt.Sprintf("K=%d/parallel-own-rand", k), func(b *testing.B) {
			var seed atomic.Uint64
			measureCPU(b, func() {
				b.RunParallel(func(pb *testing.PB) {
					r := NewRandSeed(seed.Add(1))
					n := 0
					for pb.Next() {
						n += r.Draw(arms)
					}
					sinkInt = n
				})
			})
		})
	}
}

func BenchmarkProbGreater(b *testing.B) {
	for _, n := range []float64{10, 1e3, 1e5, 1e7} {
		// Two close arms at a 10% rate: the hardest case, whose series has
		// the most terms.
		x := Posterior{1 + 0.1*n, 1 + 0.9*n}
		y := Posterior{1 + 0.1*n + 0.3*sqrt(n), 1 + 0.9*n - 0.3*sqrt(n)}
		b.Run(fmt.Sprintf("counts=%g", n), func(b *testing.B) {
			measureCPU(b, func() {
				for b.Loop() {
					sinkFloat = ProbGreater(x, y)
				}
			})
		})
		x.Alpha += 0.123456
		y.Beta += 0.654321
		b.Run(fmt.Sprintf("counts=%g/non-integer", n), func(b *testing.B) {
			measureCPU(b, func() {
				for b.Loop() {
					sinkFloat = ProbGreater(x, y)
				}
			})
		})
	}
}

func BenchmarkProbBest(b *testing.B) {
	for _, scale := range []float64{1, 100, 10000} {
		arms := benchArms(10)
		for i := range arms {
			arms[i].Alpha *= scale
			arms[i].Beta *= scale
		}
		b.Run(fmt.Sprintf("K=10/counts=%g", 1000*scale), func(b *testing.B) {
			measureCPU(b, func() {
				for b.Loop() {
					sinkFloat = ProbBest(arms)[0]
				}
			})
		})
	}
}

func BenchmarkCredibleInterval(b *testing.B) {
	for _, n := range []float64{1e3, 1e7} {
		p := Posterior{1 + 0.1*n, 1 + 0.9*n}
		b.Run(fmt.Sprintf("counts=%g", n), func(b *testing.B) {
			measureCPU(b, func() {
				for b.Loop() {
					sinkFloat, _ = p.CredibleInterval(0.95)
				}
			})
		})
	}
}

func sqrt(x float64) float64 { return math.Sqrt(x) }
