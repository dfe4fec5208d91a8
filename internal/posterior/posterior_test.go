package posterior

import (
	"math"
	"testing"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/bandit"
)

func TestOf(t *testing.T) {
	counts := &[2]int64{8, 12}
	tests := []struct {
		name  string
		prior v1alpha1.BetaPrior
		c     *[2]int64
		want  bandit.Posterior
	}{
		{"prior plus totals", v1alpha1.BetaPrior{Alpha: 2, Beta: 3}, counts, bandit.Posterior{Alpha: 10, Beta: 15}},
		{"unset prior is uniform", v1alpha1.BetaPrior{}, counts, bandit.Posterior{Alpha: 9, Beta: 13}},
		{"each parameter defaults alone", v1alpha1.BetaPrior{Alpha: 0.5}, nil, bandit.Posterior{Alpha: 0.5, Beta: 1}},
		{"invalid parameters become 1", v1alpha1.BetaPrior{Alpha: -2, Beta: math.Inf(1)}, nil, bandit.Posterior{Alpha: 1, Beta: 1}},
		{"NaN becomes 1", v1alpha1.BetaPrior{Alpha: math.NaN(), Beta: 4}, nil, bandit.Posterior{Alpha: 1, Beta: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arm := &v1alpha1.PromptArm{Spec: v1alpha1.PromptArmSpec{Prior: tt.prior}}
			if tt.c != nil {
				arm.Status.Successes, arm.Status.Failures = tt.c[0], tt.c[1]
			}
			if got := Of(arm); got != tt.want {
				t.Errorf("Of = %+v, want %+v", got, tt.want)
			}
		})
	}
}
