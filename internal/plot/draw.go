package plot

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/promptfolio/promptfolio/internal/figure"
)

// size is every figure's: the legend, with long arm names, gets its own column right of the axes.
var size = figure.Size{Width: 12 * vg.Inch, Height: 5 * vg.Inch, Legend: 4.6 * vg.Inch}

// Options control Write.
type Options struct {
	// Dir is where the files go; it is created when missing.
	Dir string
	// IncludeRetired also draws the densities of retired arms (dashed). Traffic share always
	// shows every arm that had traffic.
	IncludeRetired bool
}

// Write draws the portfolio's figures into opt.Dir, each as PNG and SVG, and returns the paths
// written:
//   - <portfolio>-posteriors: the posterior density of every active arm, its 95% credible
//     interval shaded;
//   - <portfolio>-traffic: every arm's share of each traffic window's trials over time.
func Write(p Portfolio, opt Options) ([]string, error) {
	if len(p.Arms) == 0 {
		return nil, fmt.Errorf("portfolio %s/%s has no arms yet", p.Namespace, p.Name)
	}
	return figure.Write(opt.Dir, size, []figure.Figure{
		{Name: p.Name + "-posteriors", Render: posteriors(p, opt.IncludeRetired)},
		{Name: p.Name + "-traffic", Render: traffic(p)},
	})
}

// newPlot returns a plot with the portfolio's title.
func newPlot(p Portfolio, what, x, y string) *plot.Plot {
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("%s/%s: %s\n%s", p.Namespace, p.Name, what, subtitle(p))
	pl.X.Label.Text, pl.Y.Label.Text = x, y
	pl.Add(plotter.NewGrid())
	return pl
}

// subtitle summarises the portfolio: generation, best arm, trials.
func subtitle(p Portfolio) string {
	var trials int64
	active := 0
	for _, a := range p.Arms {
		trials += a.Trials
		if !a.Retired {
			active++
		}
	}
	best := p.BestArm
	if best == "" {
		best = "not computed yet"
	}
	return fmt.Sprintf("generation %d, %d active of %d arms, %d trials, best: %s", p.Generation, active, len(p.Arms), trials, best)
}

// armColor gives arm i of the portfolio a color that is the same in both figures.
func armColor(i int) color.Color { return plotutil.Color(i) }

// posteriors draws the Beta density of each arm with its credible interval shaded.
func posteriors(p Portfolio, includeRetired bool) func(draw.Canvas) {
	pl := newPlot(p, "posterior densities of the success rate", "success rate", "density")
	var shown []int
	for i, a := range p.Arms {
		if (!a.Retired || includeRetired) && a.Posterior.Valid() {
			shown = append(shown, i)
		}
	}
	legend := plot.NewLegend()
	legend.TextStyle.Font.Size = vg.Points(9)
	lo, hi := xRange(p.Arms, shown)
	pl.X.Min, pl.X.Max, pl.Y.Min = lo, hi, 0
	for _, i := range shown {
		a := p.Arms[i]
		beta := distuv.Beta{Alpha: a.Posterior.Alpha, Beta: a.Posterior.Beta}
		xs := grid(lo, hi, a)
		curve := make(plotter.XYs, len(xs))
		for j, x := range xs {
			curve[j] = plotter.XY{X: x, Y: density(beta, x)}
		}
		band := bandPolygon(beta, curve, a.Lower, a.Upper)
		if poly, err := plotter.NewPolygon(band); err == nil && len(band) > 2 {
			poly.Color = translucent(armColor(i), 0x38)
			poly.Width = 0
			pl.Add(poly)
		}
		line, err := plotter.NewLine(curve)
		if err != nil {
			continue
		}
		line.Color, line.Width = armColor(i), vg.Points(1.5)
		label := fmt.Sprintf("%s  %.3f [%.3f, %.3f]  n=%d", a.Name, a.Posterior.Mean(), a.Lower, a.Upper, a.Trials)
		if a.Retired {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			label += " (retired)"
		}
		pl.Add(line)
		legend.Add(label, line)
	}
	return figure.WithSideLegend(pl, legend, size.Legend, vg.Inch/4)
}

// xRange is the success-rate range that holds the 99.9% intervals of the shown arms, padded
// by 10% and clamped to [0, 1], so that sharp posteriors are not squeezed into a line.
func xRange(arms []Arm, shown []int) (lo, hi float64) {
	lo, hi = 1, 0
	for _, i := range shown {
		l, u := arms[i].Posterior.CredibleInterval(0.999)
		lo, hi = min(lo, l), max(hi, u)
	}
	if !(lo < hi) {
		return 0, 1
	}
	pad := (hi - lo) / 10
	return max(0, lo-pad), min(1, hi+pad)
}

// grid returns the x values at which an arm's density is drawn: evenly over [lo, hi] and, more
// densely, over the arm's own 99.9% interval, so that a narrow peak is never missed.
func grid(lo, hi float64, a Arm) []float64 {
	const global, local = 400, 300
	xs := make([]float64, 0, global+local+2)
	for i := 0; i <= global; i++ {
		xs = append(xs, lo+(hi-lo)*float64(i)/global)
	}
	l, u := a.Posterior.CredibleInterval(0.999)
	l, u = max(l, lo), min(u, hi)
	for i := 0; i <= local && l < u; i++ {
		xs = append(xs, l+(u-l)*float64(i)/local)
	}
	xs = append(xs, max(a.Lower, lo), min(a.Upper, hi))
	slices.Sort(xs)
	return slices.Compact(xs)
}

// density is the Beta density at x, with the infinite values at 0 or 1 (shape below 1) and
// underflow kept drawable.
func density(b distuv.Beta, x float64) float64 {
	d := b.Prob(x)
	if math.IsInf(d, 0) || math.IsNaN(d) {
		return 0
	}
	return d
}

// bandPolygon is the area under curve between lower and upper.
func bandPolygon(b distuv.Beta, curve plotter.XYs, lower, upper float64) plotter.XYs {
	band := plotter.XYs{{X: lower, Y: 0}, {X: lower, Y: density(b, lower)}}
	for _, pt := range curve {
		if pt.X > lower && pt.X < upper {
			band = append(band, pt)
		}
	}
	return append(band, plotter.XY{X: upper, Y: density(b, upper)}, plotter.XY{X: upper, Y: 0})
}

func translucent(c color.Color, alpha uint8) color.Color {
	r, g, b, _ := c.RGBA()
	// The palette's colors are opaque, so their premultiplied values are the straight ones.
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: alpha}
}

// traffic draws each arm's share of the trials of every traffic window over time, one line per
// arm that had traffic in any window; the last point is the open window.
func traffic(p Portfolio) func(draw.Canvas) {
	what := "share of each traffic window's trials over time (last point: the open window)"
	pl := newPlot(p, what, "window end (UTC)", "share of the window's trials")
	pl.X.Tick.Marker = plot.TimeTicks{Format: "01-02 15:04", Time: plot.UTCUnixTime}
	pl.Y.Min, pl.Y.Max = 0, 1
	pl.Y.Tick.Marker = shareTicks{}
	legend := plot.NewLegend()
	legend.TextStyle.Font.Size = vg.Points(9)
	for i, a := range p.Arms {
		pts, had := shareSeries(p.Traffic, a.Name)
		if !had {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		line.Color, line.Width = armColor(i), vg.Points(1.5)
		points.Color, points.Shape, points.Radius = armColor(i), draw.CircleGlyph{}, vg.Points(2.5)
		label := fmt.Sprintf("%s  now %.1f%%  n=%d", a.Name, 100*a.TrafficShare, a.Trials)
		if a.Retired {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			label += " (retired)"
		}
		pl.Add(line, points)
		legend.Add(label, line, points)
	}
	if n := len(p.Traffic); n > 0 {
		first, last := p.Traffic[0].End, p.Traffic[n-1].End
		pad := max(last.Sub(first)/20, time.Minute)
		pl.X.Min, pl.X.Max = float64(first.Add(-pad).Unix()), float64(last.Add(pad).Unix())
	}
	return figure.WithSideLegend(pl, legend, size.Legend, vg.Inch/4)
}

// shareSeries is one arm's share in every window with trials, at the window's end, and whether
// the arm had any trials at all.
func shareSeries(windows []TrafficWindow, arm string) (plotter.XYs, bool) {
	pts := make(plotter.XYs, 0, len(windows))
	had := false
	for _, w := range windows {
		if w.Trials == 0 {
			continue
		}
		share, ok := w.Shares[arm]
		had = had || ok
		pts = append(pts, plotter.XY{X: float64(w.End.Unix()), Y: share})
	}
	return pts, had
}

// shareTicks marks shares from 0 to 100% every 20%.
type shareTicks struct{}

// Ticks returns the ticks of [0, 1] in percent.
func (shareTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for v := 0.0; v <= 1.0001; v += 0.2 {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f%%", 100*v)})
	}
	return ticks
}
