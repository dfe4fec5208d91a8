// Package humanize formats the numbers of an arm's posterior for people: the columns of
// `kubectl get promptarms` show them, while status keeps the full values.
package humanize

import (
	"math"
	"strconv"
)

// Number formats a non-negative count-like number (a posterior's alpha or beta) with three
// significant digits, and whole numbers from 100 up: 0.5, 1, 24.1, 977, 24147.
func Number(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "-"
	case math.Abs(x) >= 100:
		return strconv.FormatFloat(math.Round(x), 'f', 0, 64)
	default:
		return strconv.FormatFloat(x, 'g', 3, 64)
	}
}

// Probability formats a probability that a posterior gives, which is never exactly 0 or 1, as
// Percent does, except that 0 and 1 (values rounded that far) show as "<0.1%" and ">99.9%" too.
func Probability(p float64) string {
	switch {
	case math.IsNaN(p):
		return "-"
	case p < 0.0005:
		return "<0.1%"
	case p >= 0.9995:
		return ">99.9%"
	default:
		return Percent(p)
	}
}

// Percent formats a probability or share in [0, 1] as a percentage with one decimal. Values
// that would round to 0% or 100% without being exactly that show as "<0.1%" and ">99.9%", so a
// column never claims certainty the posterior does not have.
func Percent(p float64) string {
	switch {
	case math.IsNaN(p):
		return "-"
	case p <= 0:
		return "0%"
	case p >= 1:
		return "100%"
	case p < 0.0005:
		return "<0.1%"
	case p >= 0.9995:
		return ">99.9%"
	default:
		return strconv.FormatFloat(100*p, 'f', 1, 64) + "%"
	}
}
