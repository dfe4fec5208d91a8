package demo

import (
	"errors"
	"testing"
)

func TestResultCheck(t *testing.T) {
	cases := []struct {
		name    string
		result  Result
		minGen  int32
		wantErr bool
	}{
		{"learned and evolved", Result{BestArm: "pf-g1-1", Generation: 2, Rewards: 10}, 1, false},
		{"no generation required", Result{BestArm: "pf-a", Rewards: 10}, 0, false},
		{"no best arm", Result{Generation: 2, Rewards: 10}, 1, true},
		{"too few generations", Result{BestArm: "pf-a", Generation: 1, Rewards: 10}, 2, true},
		{"no reward acknowledged", Result{BestArm: "pf-a", Generation: 1}, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.result.Check(c.minGen)
			if (err != nil) != c.wantErr {
				t.Fatalf("Check(%d) = %v, want error %v", c.minGen, err, c.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNoProgress) {
				t.Fatalf("Check error %v does not wrap ErrNoProgress", err)
			}
		})
	}
}
