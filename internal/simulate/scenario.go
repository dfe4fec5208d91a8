package simulate

import (
	"errors"
	"fmt"
	"math"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/promptfolio/promptfolio/internal/evolution"
)

// Scenario describes one simulated portfolio: its seed prompts' true success rates, how much
// traffic it gets, and whether it evolves. The zero value is not useful; start from
// DefaultScenario and change what differs. In a YAML file (see LoadScenario) every key is optional
// and a missing key keeps its default.
type Scenario struct {
	// Rates are the true success rates of the seed prompts, each in [0, 1]. At least one.
	Rates []float64 `json:"rates"`
	// CallsPerDay is the number of calls (trials) a day. Must be ≥ 1.
	CallsPerDay int `json:"callsPerDay"`
	// Days is the length of the simulation. Must be ≥ 1.
	Days int `json:"days"`
	// Prior is the prior of the seed arms, Beta(1, 1) by default.
	Prior Prior `json:"prior"`
	// Epsilon is the exploration rate of the ε-greedy baseline, in [0, 1].
	Epsilon float64 `json:"epsilon"`
	// EarlyTrials splits the report's traffic shares into trials 1..EarlyTrials and the rest.
	// Must be ≥ 1.
	EarlyTrials int `json:"earlyTrials"`
	// Evolution turns on evolution cycles and sets their policy.
	Evolution Evolution `json:"evolution"`
}

// Prior is a Beta(alpha, beta) prior.
type Prior struct {
	// Alpha and Beta are the prior's parameters, both finite and > 0.
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
}

// Evolution is the evolution part of a scenario. Its policy fields have the names and meaning of
// the PromptPortfolio's spec.evolution and go to internal/evolution unchanged.
type Evolution struct {
	// Enabled runs an evolution cycle at the end of every day but the last.
	Enabled bool `json:"enabled"`
	// Sigma is the mutation model: a child's true rate is its parent's true rate plus
	// Normal(0, Sigma), clipped to [0, 1]. Must be ≥ 0.
	Sigma float64 `json:"sigma"`
	// MutationBias shifts the mutation model: a child's true rate is its parent's plus
	// Normal(MutationBias, Sigma). A negative bias makes children worse than their parents on
	// average, the world in which evolution must notice that mutation does not pay off.
	// Default 0; must be finite.
	MutationBias float64 `json:"mutationBias"`
	// Policy is the evolution policy, with the names and meaning of the PromptPortfolio's
	// spec.evolution (retirement, minActiveArms, …); it goes to internal/evolution unchanged.
	evolution.Policy `json:",inline"`
}

// DefaultScenario is the seed scenario: five prompts with true success rates 0.2 to 0.6, ten
// calls a day for thirty days, Beta(1, 1) priors, ε = 0.1, shares split at trial 100, evolution
// off (and, when turned on, σ = 0.05 with evolution.DefaultPolicy).
func DefaultScenario() Scenario {
	return Scenario{
		Rates:       []float64{0.2, 0.3, 0.4, 0.5, 0.6},
		CallsPerDay: 10,
		Days:        30,
		Prior:       Prior{Alpha: 1, Beta: 1},
		Epsilon:     0.1,
		EarlyTrials: 100,
		Evolution:   Evolution{Sigma: 0.05, Policy: evolution.DefaultPolicy()},
	}
}

// Trials is the total number of calls, CallsPerDay × Days.
func (s Scenario) Trials() int { return s.CallsPerDay * s.Days }

// Validate reports the first rule of Scenario's field comments that s breaks.
func (s Scenario) Validate() error {
	if len(s.Rates) == 0 {
		return errors.New("no rates: a scenario needs at least one prompt")
	}
	for i, r := range s.Rates {
		if !(r >= 0 && r <= 1) {
			return fmt.Errorf("rate %d (%v) is not in [0, 1]", i+1, r)
		}
	}
	switch {
	case s.CallsPerDay < 1:
		return fmt.Errorf("callsPerDay %d is less than 1", s.CallsPerDay)
	case s.Days < 1:
		return fmt.Errorf("days %d is less than 1", s.Days)
	case s.CallsPerDay > math.MaxInt32/s.Days:
		return fmt.Errorf("callsPerDay × days is more than %d trials", math.MaxInt32)
	case !finitePositive(s.Prior.Alpha) || !finitePositive(s.Prior.Beta):
		return fmt.Errorf("prior Beta(%v, %v) needs finite positive parameters", s.Prior.Alpha, s.Prior.Beta)
	case !(s.Epsilon >= 0 && s.Epsilon <= 1):
		return fmt.Errorf("epsilon %v is not in [0, 1]", s.Epsilon)
	case s.EarlyTrials < 1:
		return fmt.Errorf("earlyTrials %d is less than 1", s.EarlyTrials)
	}
	if s.Evolution.Enabled {
		if !(s.Evolution.Sigma >= 0) || math.IsInf(s.Evolution.Sigma, 1) {
			return fmt.Errorf("evolution.sigma %v is not a finite number ≥ 0", s.Evolution.Sigma)
		}
		if math.IsNaN(s.Evolution.MutationBias) || math.IsInf(s.Evolution.MutationBias, 0) {
			return fmt.Errorf("evolution.mutationBias %v is not a finite number", s.Evolution.MutationBias)
		}
		if err := s.Evolution.Validate(); err != nil {
			return fmt.Errorf("evolution: %w", err)
		}
	}
	return nil
}

func finitePositive(x float64) bool { return x > 0 && !math.IsInf(x, 1) }

// LoadScenario reads a YAML (or JSON) scenario file on top of base: keys in the file replace
// base's values, missing keys keep them, unknown keys are an error. The result is not validated.
func LoadScenario(path string, base Scenario) (Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, err
	}
	s := base
	s.Rates = append([]float64(nil), base.Rates...)
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return base, fmt.Errorf("scenario %s: %w", path, err)
	}
	return s, nil
}
