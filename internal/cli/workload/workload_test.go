package workload

import (
	"maps"
	"testing"
)

func TestParseRates(t *testing.T) {
	for in, want := range map[string]map[string]float64{
		"":           {},
		"a=0.2, b=1": {"a": 0.2, "b": 1},
		"a=0.2,,":    {"a": 0.2},
	} {
		if got, err := parseRates(in); err != nil || !maps.Equal(got, want) {
			t.Errorf("parseRates(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"a", "a=x", "a=1.5", "a=-0.1"} {
		if got, err := parseRates(in); err == nil {
			t.Errorf("parseRates(%q) = %v, want an error", in, got)
		}
	}
}
