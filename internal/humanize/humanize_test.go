package humanize

import (
	"math"
	"testing"
)

// TestFormats checks each formatter on its table, the ends and the invalid values included.
func TestFormats(t *testing.T) {
	type pair struct {
		in   float64
		want string
	}
	tests := []struct {
		name   string
		format func(float64) string
		pairs  []pair
	}{
		{"Number", Number, []pair{
			{0, "0"}, {0.5, "0.5"}, {1, "1"}, {1.25, "1.25"}, {24.147075, "24.1"}, {99.94, "99.9"},
			{99.96, "100"}, {976.6, "977"}, {24147.075, "24147"}, {math.NaN(), "-"}, {math.Inf(1), "-"},
		}},
		{"Percent", Percent, []pair{
			{0, "0%"}, {6e-06, "<0.1%"}, {0.0004999, "<0.1%"}, {0.0005, "0.1%"}, {0.241, "24.1%"},
			{0.5, "50.0%"}, {0.9994, "99.9%"}, {0.9995, ">99.9%"}, {0.999999, ">99.9%"}, {1, "100%"},
			{-0.1, "0%"}, {math.NaN(), "-"},
		}},
		{"Probability", Probability, []pair{
			{0, "<0.1%"}, {6e-06, "<0.1%"}, {0.0005, "0.1%"}, {0.5, "50.0%"}, {1, ">99.9%"}, {math.NaN(), "-"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range tt.pairs {
				if got := tt.format(p.in); got != p.want {
					t.Errorf("%s(%v) = %q, want %q", tt.name, p.in, got, p.want)
				}
			}
		})
	}
}
