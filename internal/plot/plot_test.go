package plot

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
	"github.com/promptfolio/promptfolio/internal/bandit"
	"github.com/promptfolio/promptfolio/internal/plot/plottest"
	"github.com/promptfolio/promptfolio/internal/testenv"
)

// TestTrafficWindows turns closed windows and the arms' open-window trials into shares.
func TestTrafficWindows(t *testing.T) {
	// minute is the instant m minutes into the test's hour.
	minute := func(m time.Duration) time.Time {
		return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).Add(m * time.Minute)
	}
	history := []v1alpha1.TrafficWindow{
		{Start: metav1.NewTime(minute(0)), End: metav1.NewTime(minute(15)),
			Arms: []v1alpha1.ArmTrials{{Arm: "a", Trials: 300}, {Arm: "b", Trials: 100}}},
		{Start: metav1.NewTime(minute(15)), End: metav1.NewTime(minute(30))},
	}
	arms := []Arm{{Name: "a", WindowTrials: 10}, {Name: "b", WindowTrials: 30}, {Name: "c"}}
	now := minute(40)
	got := trafficWindows(history, arms, now)
	if len(got) != 3 {
		t.Fatalf("windows %+v", got)
	}
	want := []TrafficWindow{
		{End: minute(15), Trials: 400, Shares: map[string]float64{"a": 0.75, "b": 0.25}},
		{End: minute(30), Shares: map[string]float64{}},
		{End: now, Open: true, Trials: 40, Shares: map[string]float64{"a": 0.25, "b": 0.75}},
	}
	for i := range want {
		if !got[i].End.Equal(want[i].End) || got[i].Open != want[i].Open || got[i].Trials != want[i].Trials || !maps.Equal(got[i].Shares, want[i].Shares) {
			t.Errorf("window %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	pts, had := shareSeries(got, "b")
	if !had || len(pts) != 2 || pts[0].Y != 0.25 || pts[1].Y != 0.75 || pts[1].X != float64(now.Unix()) {
		t.Errorf("series of b = %v (had %v); the empty window must be skipped", pts, had)
	}
	if _, had := shareSeries(got, "c"); had {
		t.Error("an arm without trials has a series")
	}
}

func TestWindowTrials(t *testing.T) {
	for _, tt := range []struct {
		trials  int64
		traffic *v1alpha1.ArmTraffic
		want    int64
	}{
		{50, nil, 50},
		{50, &v1alpha1.ArmTraffic{WindowStartTrials: 20}, 30},
		{50, &v1alpha1.ArmTraffic{WindowStartTrials: 80}, 50},
	} {
		if got := windowTrials(tt.trials, tt.traffic); got != tt.want {
			t.Errorf("windowTrials(%d, %+v) = %d, want %d", tt.trials, tt.traffic, got, tt.want)
		}
	}
}

func TestArmOf(t *testing.T) {
	arm := &v1alpha1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{Name: "greeting-warm"},
		Spec:       v1alpha1.PromptArmSpec{Prior: v1alpha1.BetaPrior{Alpha: 2, Beta: 3}},
		Status: v1alpha1.PromptArmStatus{
			Phase:     v1alpha1.ArmRetired,
			Successes: 8, Failures: 12,
		},
	}
	got := armOf(arm)
	want := bandit.Posterior{Alpha: 2 + 8, Beta: 3 + 12}
	if got.Posterior != want || got.Trials != 20 || !got.Retired {
		t.Fatalf("armOf = %+v, want posterior %v, 20 trials, retired", got, want)
	}
	if !(got.Lower < got.Posterior.Mean() && got.Posterior.Mean() < got.Upper) {
		t.Errorf("interval [%v, %v] does not hold the mean %v", got.Lower, got.Upper, got.Posterior.Mean())
	}
}

func TestXRange(t *testing.T) {
	tests := []struct {
		name   string
		arms   []Arm
		lo, hi float64 // bounds the range must lie within
	}{
		{name: "uniform spans everything", arms: []Arm{{Posterior: bandit.Posterior{Alpha: 1, Beta: 1}}}, lo: 0, hi: 1},
		{name: "sharp posteriors zoom in", arms: []Arm{
			{Posterior: bandit.NewPosterior(1, 1, 10000, 90000)},
			{Posterior: bandit.NewPosterior(1, 1, 12000, 88000)},
		}, lo: 0.09, hi: 0.13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shown := make([]int, len(tt.arms))
			for i := range shown {
				shown[i] = i
			}
			lo, hi := xRange(tt.arms, shown)
			if lo < tt.lo || hi > tt.hi || lo >= hi {
				t.Errorf("xRange = [%v, %v], want within [%v, %v]", lo, hi, tt.lo, tt.hi)
			}
		})
	}
}

// TestPlotLivePortfolio creates a portfolio and arms with counts in a real API server, reads
// them back with Collect and checks that Write produces valid PNG and SVG files.
func TestPlotLivePortfolio(t *testing.T) {
	env := testenv.StartForTest(t, testenv.Options{})
	ctx := context.Background()
	ns := env.Namespace(t, "plot")
	arms := []plottest.Arm{
		{Name: "greeting-plain", Successes: 120, Failures: 880, Share: 0.2, Phase: v1alpha1.ArmActive, Origin: v1alpha1.ArmOrigin{Type: v1alpha1.OriginSeed}},
		{Name: "greeting-warm", Successes: 300, Failures: 1200, Share: 0.55, Phase: v1alpha1.ArmActive, Origin: v1alpha1.ArmOrigin{Type: v1alpha1.OriginSeed}},
		{Name: "greeting-warm-g1-a", Successes: 40, Failures: 110, Share: 0.25, Phase: v1alpha1.ArmActive,
			Origin: v1alpha1.ArmOrigin{Type: v1alpha1.OriginMutation, Parent: "greeting-warm", Generation: 1}},
		{Name: "greeting-curt", Successes: 5, Failures: 95, Phase: v1alpha1.ArmRetired, Origin: v1alpha1.ArmOrigin{Type: v1alpha1.OriginManual}},
	}
	pf := plottest.Create(t, env.Client, ns, "greeting", []v1alpha1.SeedPrompt{
		{Name: "plain", Text: "Greet the customer."},
		{Name: "warm", Text: "Greet the customer warmly."},
	}, arms)
	// An arm of another portfolio must not appear.
	other := &v1alpha1.PromptArm{
		ObjectMeta: metav1.ObjectMeta{Name: "farewell-plain", Namespace: ns, Labels: map[string]string{v1alpha1.LabelPortfolio: "farewell"}},
		Spec:       v1alpha1.PromptArmSpec{Portfolio: "farewell", Prompt: "Say goodbye."},
	}
	if err := env.Client.Create(ctx, other); err != nil {
		t.Fatal(err)
	}

	// Three closed traffic windows in which traffic moves to greeting-warm.
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for i, warm := range []int64{100, 300, 600} {
		from := start.Add(time.Duration(i) * 15 * time.Minute)
		pf.Status.TrafficHistory = append(pf.Status.TrafficHistory, v1alpha1.TrafficWindow{
			Start: metav1.NewTime(from), End: metav1.NewTime(from.Add(15 * time.Minute)),
			Arms: []v1alpha1.ArmTrials{{Arm: "greeting-warm", Trials: warm}, {Arm: "greeting-plain", Trials: 700 - warm}, {Arm: "greeting-curt", Trials: 50 / int64(i+1)}},
		})
	}
	if err := env.Client.Status().Update(ctx, pf); err != nil {
		t.Fatal(err)
	}

	p, err := Collect(ctx, env.Client, ns, "greeting")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Traffic) != 4 || !p.Traffic[3].Open || p.Traffic[2].Shares["greeting-warm"] != 600.0/(600+100+16) {
		t.Errorf("traffic windows %+v", p.Traffic)
	}
	if len(p.Arms) != len(arms) {
		t.Fatalf("collected %d arms, want %d", len(p.Arms), len(arms))
	}
	if last := p.Arms[len(p.Arms)-1]; last.Name != "greeting-curt" || !last.Retired {
		t.Errorf("last arm = %s (retired %v), want the retired greeting-curt", last.Name, last.Retired)
	}
	if _, err := Collect(ctx, env.Client, ns, "missing"); err == nil {
		t.Error("Collect of a missing portfolio succeeded")
	}

	dir := os.Getenv("PROMPTFOLIO_PLOT_DIR") // set it to keep the files for a look
	if dir == "" {
		dir = t.TempDir()
	}
	written, err := Write(p, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// internal/figure's tests check that its files are valid PNG and SVG; here: the names, and
	// that every figure names the arms.
	want := []string{"greeting-posteriors.png", "greeting-posteriors.svg", "greeting-traffic.png", "greeting-traffic.svg"}
	if len(written) != len(want) {
		t.Fatalf("wrote %v, want %v", written, want)
	}
	for i, path := range written {
		if filepath.Base(path) != want[i] {
			t.Errorf("wrote %s, want %s", path, want[i])
		}
		if filepath.Ext(path) != ".svg" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte("greeting-warm")) {
			t.Errorf("%s does not name the arms", path)
		}
	}
}
