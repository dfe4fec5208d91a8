package workload

import (
	"maps"
	"testing"
)

func TestParseRates(t *testing.T) {
	cases := []struct {
		in      string
		want    map[string]float64
		wantErr bool
	}{
		{"", map[string]float64{}, false},
		{"a=0.2, b=1", map[string]float64{"a": 0.2, "b": 1}, false},
		{"a=0.2,,", map[string]float64{"a": 0.2}, false},
		{"a", nil, true},
		{"a=x", nil, true},
		{"a=1.5", nil, true},
		{"a=-0.1", nil, true},
	}
	for _, c := range cases {
		got, err := parseRates(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("parseRates(%q) error = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if !c.wantErr && !maps.Equal(got, c.want) {
			t.Errorf("parseRates(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
