package simulate

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runMain(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = Main(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestMainEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plots")
	stdout, stderr, err := runMain(t, "--runs", "20", "--seed", "5", "--evolve", "--min-trials", "20",
		"--density-days", "1,7,30,99", "--out", dir, "--progress")
	if err != nil {
		t.Fatalf("Main: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"20 runs, seed 5", "best-arm share, trials 1-100", "best-arm share, trials 101-300",
		"cumulative reward", "regret vs oracle", "arms created", "thompson", "uniform", "epsilon-greedy",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "20/20 runs") {
		t.Errorf("--progress drew no progress bar: %q", stderr)
	}
	for _, name := range []string{"cumulative-successes", "posterior-densities", "traffic-share", "strategies", "lifetimes"} {
		for _, format := range PlotFormats {
			checkFigure(t, filepath.Join(dir, name+"."+format))
		}
		if !strings.Contains(stdout, filepath.Join(dir, name+".png")) {
			t.Errorf("stdout does not list %s.png", name)
		}
	}

	// The same seed prints the same table.
	again, _, err := runMain(t, "--runs", "20", "--seed", "5", "--evolve", "--min-trials", "20", "--plots=false", "--workers", "1")
	if err != nil {
		t.Fatal(err)
	}
	table, _, found := strings.Cut(stdout, "\nplots:")
	if !found {
		t.Fatalf("stdout lists no plots:\n%s", stdout)
	}
	if again != table {
		t.Errorf("same seed, different table:\n%s\nvs\n%s", table, again)
	}
}

// checkFigure checks that path holds a whole figure in the format its extension names: a PNG of
// at least 400×200 pixels, or an XML document with an svg root that reads to its end.
func checkFigure(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	switch filepath.Ext(path) {
	case ".png":
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return
		}
		if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
			t.Errorf("%s is only %v", path, b)
		}
	case ".svg":
		checkSVG(t, path, xml.NewDecoder(bytes.NewReader(data)))
	default:
		t.Errorf("%s: not a figure format", path)
	}
}

func checkSVG(t *testing.T, path string, dec *xml.Decoder) {
	t.Helper()
	var root string
	for {
		tok, err := dec.Token()
		if err != nil {
			t.Errorf("%s: not XML: %v", path, err)
			return
		}
		if el, ok := tok.(xml.StartElement); ok {
			root = el.Name.Local
			break
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
	// Read to the end so that a truncated file fails.
	for {
		if _, err := dec.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Errorf("%s: %v", path, err)
			}
			return
		}
	}
}

func TestMainScenarioFileThenFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(path, []byte("rates: [0.1, 0.7]\ndays: 12\ncallsPerDay: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runMain(t, "--scenario", path, "--days", "4", "--plots=false")
	if err != nil {
		t.Fatal(err)
	}
	if want := "2 prompts with true rates [0.1 0.7], prior Beta(1, 1); 5 calls/day × 4 days = 20 trials"; !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout)
	}
	if strings.Contains(stdout, "trials 101-") {
		t.Errorf("a 20-trial run printed the after-100 row:\n%s", stdout)
	}
}

func TestMainHelpListsEveryFlag(t *testing.T) {
	_, stderr, err := runMain(t, "-h")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h returned %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{
		"scenario", "rates", "calls-per-day", "days", "prior-alpha", "prior-beta", "epsilon", "early-trials",
		"evolve", "sigma", "retirement-threshold", "min-trials", "min-active-arms", "max-active-arms",
		"mutations-per-cycle", "child-prior-strength", "runs", "seed", "workers", "out", "plots",
		"density-days", "plot-strategy", "progress",
	} {
		if !strings.Contains(stderr, "  -"+name+" ") && !strings.Contains(stderr, "  -"+name+"\n") {
			t.Errorf("usage lacks -%s", name)
		}
	}
}

func TestMainErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--rates", "0.2,x"}, "invalid value"},
		{[]string{"--rates", "0.2,1.5"}, "rate 2"},
		{[]string{"--plot-strategy", "greedy"}, "unknown strategy"},
		{[]string{"--runs", "0"}, "runs"},
		{[]string{"--scenario", "/nonexistent/scenario.yaml"}, "nonexistent"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--evolve", "--max-active-arms", "1"}, "maxActiveArms"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := runMain(t, append(tt.args, "--plots=false")...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Main(%v) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestListFlags checks the comma-separated flags: spaces trimmed, empty fields an error for
// numbers and dropped for days, and a value that fails to parse leaves the flag as it was.
func TestListFlags(t *testing.T) {
	var rates floatList
	if err := rates.Set(" 0.2, 0.35 ,1"); err != nil || rates.String() != "0.2,0.35,1" {
		t.Errorf("rates = %v (%v), want 0.2,0.35,1", rates.String(), err)
	}
	if err := rates.Set("0.2,,1"); err == nil || rates.String() != "0.2,0.35,1" {
		t.Errorf("an empty field: rates = %v (%v), want an error and 0.2,0.35,1", rates.String(), err)
	}
	var days intList
	if err := days.Set("1, 7,,30,"); err != nil || days.String() != "1,7,30" {
		t.Errorf("days = %v (%v), want 1,7,30", days.String(), err)
	}
	if err := days.Set("1,x"); err == nil || days.String() != "1,7,30" {
		t.Errorf("a bad field: days = %v (%v), want an error and 1,7,30", days.String(), err)
	}
	if (*floatList)(nil).String() != "" || (*intList)(nil).String() != "" {
		t.Error("a nil list flag is not empty")
	}
}
