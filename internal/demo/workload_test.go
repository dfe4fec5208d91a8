package demo

import (
	"errors"
	"testing"

	v1 "github.com/promptfolio/promptfolio/api/v1alpha1"
)

// evolved is a run in which cycle 1 retired the weak seed pf-b and cycle 2 made pf-g2-1 (0.44),
// next to the seed pf-a (0.40).
func evolved(best, oracle string) Result {
	return Result{
		BestArm: best, OracleArm: oracle, Generation: 2, Rewards: 10,
		Arms: []ArmResult{
			{Name: "pf-a", TrueRate: 0.40, Phase: v1.ArmActive, Served: 900},
			{Name: "pf-b", TrueRate: 0.20, Phase: v1.ArmRetired, RetiredReason: v1.RetiredWorseThanBest, RetiredGeneration: 1, Served: 40},
			{Name: "pf-g2-1", TrueRate: 0.44, Phase: v1.ArmActive, Generation: 2, Served: 300},
		},
	}
}

func TestResultCheck(t *testing.T) {
	cases := []struct {
		name   string
		result Result
		minGen int32
		want   error // nil, or ErrNoProgress that the error wraps
	}{
		{"learned and evolved", evolved("pf-g2-1", "pf-g2-1"), 1, nil},
		{"best within the tolerance of the hidden best", evolved("pf-a", "pf-g2-1"), 1, nil},
		{"best is not the hidden best", evolved("pf-b", "pf-g2-1"), 1, ErrNoProgress},
		{"a newborn child with no evidence does not count", func() Result {
			r := evolved("pf-g2-1", "pf-g3-1")
			r.Arms = append(r.Arms, ArmResult{Name: "pf-g3-1", TrueRate: 0.9, Phase: v1.ArmActive, Generation: 3, Served: 3})
			return r
		}(), 1, nil},
		{"no weak arm retired", func() Result { r := evolved("pf-g2-1", "pf-g2-1"); r.Arms[1].RetiredReason = ""; return r }(), 1, ErrNoProgress},
		{"retired only by a seed change", func() Result {
			r := evolved("pf-g2-1", "pf-g2-1")
			r.Arms[1].RetiredReason, r.Arms[1].RetiredGeneration = v1.RetiredSeedChanged, 0
			return r
		}(), 1, ErrNoProgress},
		{"no child after the retirement", func() Result { r := evolved("pf-a", "pf-a"); r.Arms = r.Arms[:2]; return r }(), 1, ErrNoProgress},
		{"no generation required", Result{BestArm: "pf-a", Rewards: 10}, 0, nil},
		{"no best arm", Result{Generation: 2, Rewards: 10}, 1, ErrNoProgress},
		{"too few generations", Result{BestArm: "pf-a", Generation: 1, Rewards: 10}, 2, ErrNoProgress},
		{"no reward acknowledged", Result{BestArm: "pf-a", Generation: 1}, 1, ErrNoProgress},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.result.Check(c.minGen); (err == nil) != (c.want == nil) || !errors.Is(err, c.want) {
				t.Fatalf("Check(%d) = %v, want %v", c.minGen, err, c.want)
			}
		})
	}
}

func TestShareOfSecondHalf(t *testing.T) {
	tests := []struct {
		name  string
		draws []string
		arm   string
		want  float64
	}{
		{name: "no draws", arm: "a", want: 0},
		{name: "arm never served", draws: []string{"a", "b"}, arm: "c", want: 0},
		{name: "only the second half counts", draws: []string{"b", "b", "b", "b", "a", "a", "b", "a"}, arm: "a", want: 0.75},
		{name: "odd count: the later half holds the middle draw", draws: []string{"a", "b", "a"}, arm: "b", want: 0.5},
		{name: "every draw", draws: []string{"a", "a"}, arm: "a", want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o drawOrder
			for _, d := range tt.draws {
				o.add(d)
			}
			if got := o.shareOfSecondHalf(tt.arm); got != tt.want {
				t.Fatalf("shareOfSecondHalf(%q) = %v, want %v", tt.arm, got, tt.want)
			}
		})
	}
}
