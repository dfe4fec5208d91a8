package traffic

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestUpdate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cfg := Config{MinDuration: 15 * time.Minute, MinTrials: 100}
	tests := []struct {
		name        string
		now, opened time.Time
		arms        []Arm
		wantShares  []float64
		wantClosed  []int64 // nil: the window stays open
		wantArms    []Arm
	}{
		{
			name: "first window opens now and counts everything", now: t0,
			arms:       []Arm{{Trials: 30}, {Trials: 10}},
			wantShares: []float64{0.75, 0.25}, wantArms: []Arm{{Trials: 30}, {Trials: 10}},
		},
		{
			name: "open window: previous plus current", now: t0.Add(5 * time.Minute), opened: t0,
			arms:       []Arm{{Trials: 1000, WindowStart: 990, Previous: 40}, {Trials: 500, WindowStart: 450, Previous: 10}},
			wantShares: []float64{50.0 / 110, 60.0 / 110}, wantArms: []Arm{{Trials: 1000, WindowStart: 990, Previous: 40}, {Trials: 500, WindowStart: 450, Previous: 10}},
		},
		{
			name: "closes after the duration with enough trials", now: t0.Add(15 * time.Minute), opened: t0,
			arms:       []Arm{{Trials: 1000, WindowStart: 900, Previous: 500}, {Trials: 500, WindowStart: 480, Previous: 0}},
			wantClosed: []int64{100, 20},
			wantShares: []float64{100.0 / 120, 20.0 / 120},
			wantArms:   []Arm{{Trials: 1000, WindowStart: 1000, Previous: 100}, {Trials: 500, WindowStart: 500, Previous: 20}},
		},
		{
			name: "stays open with too few trials", now: t0.Add(time.Hour), opened: t0,
			arms:       []Arm{{Trials: 50, WindowStart: 0, Previous: 0}, {Trials: 49}},
			wantShares: []float64{50.0 / 99, 49.0 / 99}, wantArms: []Arm{{Trials: 50}, {Trials: 49}},
		},
		{
			name: "stays open before the duration", now: t0.Add(14 * time.Minute), opened: t0,
			arms:       []Arm{{Trials: 5000}},
			wantShares: []float64{1}, wantArms: []Arm{{Trials: 5000}},
		},
		{
			name: "an arm below its window start counts from zero", now: t0.Add(time.Minute), opened: t0,
			arms:       []Arm{{Trials: 10, WindowStart: 400, Previous: 0}, {Trials: 130, WindowStart: 100}},
			wantShares: []float64{0.25, 0.75}, wantArms: []Arm{{Trials: 10, WindowStart: 400}, {Trials: 130, WindowStart: 100}},
		},
		{
			name: "no trials", now: t0, opened: t0.Add(-time.Hour),
			arms:       []Arm{{}, {}},
			wantShares: []float64{0, 0}, wantArms: []Arm{{}, {}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Update(cfg, tt.now, tt.opened, tt.arms)
			for i := range tt.wantShares {
				if math.Abs(res.Shares[i]-tt.wantShares[i]) > 1e-12 {
					t.Fatalf("shares = %v, want %v", res.Shares, tt.wantShares)
				}
			}
			if res.Closed != (tt.wantClosed != nil) || !slices.Equal(res.ClosedTrials, tt.wantClosed) {
				t.Errorf("closed = %v %v, want %v", res.Closed, res.ClosedTrials, tt.wantClosed)
			}
			if !slices.Equal(res.Arms, tt.wantArms) {
				t.Errorf("arms = %+v, want %+v", res.Arms, tt.wantArms)
			}
			wantOpened := tt.opened
			if tt.opened.IsZero() || tt.wantClosed != nil {
				wantOpened = tt.now
			}
			if !res.WindowOpened.Equal(wantOpened) {
				t.Errorf("window opened %v, want %v", res.WindowOpened, wantOpened)
			}
		})
	}
}
