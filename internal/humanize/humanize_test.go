package humanize

import (
	"math"
	"testing"
)

func TestNumber(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {0.5, "0.5"}, {1, "1"}, {1.25, "1.25"}, {24.147075, "24.1"}, {99.94, "99.9"},
		{99.96, "100"}, {976.6, "977"}, {24147.075, "24147"}, {math.NaN(), "-"}, {math.Inf(1), "-"},
	} {
		if got := Number(tt.in); got != tt.want {
			t.Errorf("Number(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestProbability(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{0, "<0.1%"}, {6e-06, "<0.1%"}, {0.0005, "0.1%"}, {0.5, "50.0%"}, {1, ">99.9%"}, {math.NaN(), "-"},
	} {
		if got := Probability(tt.in); got != tt.want {
			t.Errorf("Probability(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPercent(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{0, "0%"}, {6e-06, "<0.1%"}, {0.0004999, "<0.1%"}, {0.0005, "0.1%"}, {0.241, "24.1%"},
		{0.5, "50.0%"}, {0.9994, "99.9%"}, {0.9995, ">99.9%"}, {0.999999, ">99.9%"}, {1, "100%"},
		{-0.1, "0%"}, {math.NaN(), "-"},
	} {
		if got := Percent(tt.in); got != tt.want {
			t.Errorf("Percent(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
