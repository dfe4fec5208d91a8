package bandit

import "math"

// ProbGreater returns P(X > Y) for independent X ~ x and Y ~ y. It returns
// NaN when x or y is invalid.
func ProbGreater(x, y Posterior) float64 {
	if !x.Valid() || !y.Valid() {
		return math.NaN()
	}
	if x == y {
		return 0.5
	}
	p := ProbBest([]Posterior{x, y})
	return p[0]
}

// ProbBest returns, for every arm, the probability that its value is the
// largest of all arms. The result has len(arms) entries summing to one.
// Invalid arms get probability zero; when no arm is valid, every arm gets
// 1/len(arms).
func ProbBest(arms []Posterior) []float64 {
	out := make([]float64, len(arms))
	if len(arms) == 0 {
		return out
	}
	const draws = 200000
	r := NewRandSeed(1)
	wins := make([]int, len(arms))
	for range draws {
		if i := r.Draw(arms); i >= 0 {
			wins[i]++
		}
	}
	total := 0
	for _, w := range wins {
		total += w
	}
	for i, w := range wins {
		if total == 0 {
			out[i] = 1 / float64(len(arms))
		} else {
			out[i] = float64(w) / float64(total)
		}
	}
	return out
}
