package simulate

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/promptfolio/promptfolio/internal/figure"
)

// PlotFormats are the file formats WritePlots writes every figure in.
var PlotFormats = figure.Formats

// size is every figure's, with a column right of the axes for the legend.
var size = figure.Size{Width: 9 * vg.Inch, Height: 5 * vg.Inch, Legend: 2 * vg.Inch}

// PlotOptions control WritePlots.
type PlotOptions struct {
	// Dir is the directory the files go to; it is created when missing.
	Dir string
	// DensityDays are the days (from 1) at whose end posterior densities are drawn; days past
	// the scenario's end are an error.
	DensityDays []int
	// Strategy picks which of run 0's results the per-arm figures draw; Thompson by default.
	Strategy Strategy
}

// WritePlots draws run 0 of a summary (Summary.First) and the averages over all runs into
// opt.Dir, each figure as PNG and SVG, and returns the paths written:
//   - cumulative-successes: successes of every arm over time;
//   - posterior-densities: every active arm's posterior density at the end of each density day;
//   - traffic-share: every arm's share of each day's calls;
//   - lifetimes (only with evolution): when each arm was born and retired, by generation;
//   - strategies: best-arm share and regret by day, averaged over runs, for every strategy.
func WritePlots(s Summary, opt PlotOptions) ([]string, error) {
	var res *Result
	for i := range s.First {
		if s.First[i].Strategy == opt.Strategy && s.First[i].Trace != nil {
			res = &s.First[i]
		}
	}
	if res == nil {
		return nil, fmt.Errorf("the summary has no traced run of %s", opt.Strategy)
	}
	for _, d := range opt.DensityDays {
		if d < 1 || d > s.Scenario.Days {
			return nil, fmt.Errorf("density day %d is not in 1..%d", d, s.Scenario.Days)
		}
	}
	sc := s.Scenario
	subtitle := fmt.Sprintf("%s, run 0 of seed %d", res.Strategy, s.Options.Seed)
	figures := []figure.Figure{
		{Name: "cumulative-successes", Render: withSideLegend(cumulativeSuccesses(sc, res, subtitle))},
		{Name: "traffic-share", Render: withSideLegend(trafficShare(sc, res, subtitle))},
		{Name: "strategies", Render: strategyComparison(s)},
	}
	if len(opt.DensityDays) > 0 {
		figures = append(figures, figure.Figure{Name: "posterior-densities", Render: posteriorDensities(res, opt.DensityDays, subtitle)})
	}
	if sc.Evolution.Enabled {
		figures = append(figures, figure.Figure{Name: "lifetimes", Render: withSideLegend(lifetimes(sc, res, subtitle))})
	}
	return figure.Write(opt.Dir, size, figures)
}

// withSideLegend draws p with its legend in a column to the right of the plot, where it cannot
// hide a line.
func withSideLegend(p *plot.Plot) func(draw.Canvas) {
	legend := p.Legend
	legend.Top, legend.Left = true, true
	legend.XOffs = vg.Points(6)
	p.Legend = plot.NewLegend()
	return figure.WithSideLegend(p, legend, size.Legend, vg.Points(24))
}

// armStyle is the line style of the i-th arm: the palette's colors, then dashed once they repeat.
func armStyle(i int) draw.LineStyle {
	return draw.LineStyle{
		Color:  plotutil.Color(i),
		Width:  vg.Points(1.5),
		Dashes: plotutil.Dashes(i / len(plotutil.DefaultColors)),
	}
}

func armLabel(a Arm) string { return fmt.Sprintf("%s (p=%.3f)", a.Name, a.Rate) }

func newPlot(title, subtitle, x, y string) *plot.Plot {
	p := plot.New()
	p.X.Tick.Marker = shortTicks{}
	p.Y.Tick.Marker = shortTicks{}
	p.Title.Text = title + "\n" + subtitle
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, xys plotter.XYs, style draw.LineStyle, label string) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		// NewLine only fails on NaN or infinite points, which the simulation never produces.
		panic(err)
	}
	l.LineStyle = style
	p.Add(l)
	p.Legend.Add(label, l)
}

// cumulativeSuccesses plots each arm's running count of successes against the day.
func cumulativeSuccesses(sc Scenario, res *Result, subtitle string) *plot.Plot {
	p := newPlot("Cumulative successes per arm", subtitle, "day", "successes")
	lines := make([]plotter.XYs, len(res.Arms))
	count := make([]int, len(res.Arms))
	for i, a := range res.Arms {
		lines[i] = plotter.XYs{{X: float64(a.Born) / float64(sc.CallsPerDay), Y: 0}}
	}
	for t, i := range res.Trace.Choices {
		if res.Trace.Rewards[t] {
			count[i]++
			lines[i] = append(lines[i], plotter.XY{X: float64(t+1) / float64(sc.CallsPerDay), Y: float64(count[i])})
		}
	}
	for i, a := range res.Arms {
		end := sc.Trials()
		if a.Retired >= 0 {
			end = a.Retired
		}
		lines[i] = append(lines[i], plotter.XY{X: float64(end) / float64(sc.CallsPerDay), Y: float64(count[i])})
		addLine(p, lines[i], armStyle(i), armLabel(a))
	}
	p.X.Min, p.X.Max, p.Y.Min = 0, float64(sc.Days), 0
	return p
}

// trafficShare plots each arm's share of every day's calls.
func trafficShare(sc Scenario, res *Result, subtitle string) *plot.Plot {
	p := newPlot("Share of each day's traffic per arm", subtitle, "day", "share of the day's calls")
	served := make([][]int, len(res.Arms))
	for i := range served {
		served[i] = make([]int, sc.Days)
	}
	for t, i := range res.Trace.Choices {
		served[i][t/sc.CallsPerDay]++
	}
	for i, a := range res.Arms {
		first, last := a.Born/sc.CallsPerDay, sc.Days-1
		if a.Retired >= 0 {
			last = a.Retired/sc.CallsPerDay - 1
		}
		var xys plotter.XYs
		for d := first; d <= last; d++ {
			xys = append(xys, plotter.XY{X: float64(d + 1), Y: float64(served[i][d]) / float64(sc.CallsPerDay)})
		}
		if len(xys) > 0 {
			addLine(p, xys, armStyle(i), armLabel(a))
		}
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, float64(sc.Days), 0, 1
	return p
}

// posteriorDensities draws one panel per density day with the Beta density of every arm active at
// the end of that day.
func posteriorDensities(res *Result, days []int, subtitle string) func(draw.Canvas) {
	plots := make([][]*plot.Plot, 1)
	for k, day := range days {
		p := newPlot(fmt.Sprintf("Posteriors at the end of day %d", day), subtitle, "success rate", "density")
		if k > 0 {
			p.Y.Label.Text = ""
		}
		top := 0.0
		for i, c := range res.Trace.EndOfDay[day-1] {
			if !c.Active {
				continue
			}
			a := res.Arms[i]
			beta := distuv.Beta{Alpha: a.PriorAlpha + float64(c.Successes), Beta: a.PriorBeta + float64(c.Failures)}
			f := plotter.NewFunction(beta.Prob)
			f.Samples = 400
			f.LineStyle = armStyle(i)
			p.Add(f)
			p.Legend.Add(fmt.Sprintf("%s: %d of %d", a.Name, c.Successes, c.Successes+c.Failures), f)
			top = math.Max(top, betaPeak(beta))
		}
		p.Legend.Top = true
		p.Legend.TextStyle.Font.Size = vg.Points(9)
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, top*1.3
		plots[0] = append(plots[0], p)
	}
	return func(c draw.Canvas) {
		tiles := draw.Tiles{Rows: 1, Cols: len(days), PadX: vg.Points(8), PadTop: vg.Points(4),
			PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
		canvases := plot.Align(plots, tiles, c)
		for i, p := range plots[0] {
			p.Draw(canvases[0][i])
		}
	}
}

// betaPeak is the highest value of a Beta density on (0, 1), for the panel's y range (an infinite
// density at an edge, when a parameter is below 1, is capped).
func betaPeak(b distuv.Beta) float64 {
	const capped = 30
	if b.Alpha < 1 || b.Beta < 1 {
		return capped
	}
	mode := 0.5
	if b.Alpha+b.Beta > 2 {
		mode = (b.Alpha - 1) / (b.Alpha + b.Beta - 2)
	}
	return math.Min(b.Prob(mode), capped)
}

// strategyComparison draws, for every strategy, the best-arm share of each day and the regret
// accumulated by each day, both averaged over the summary's runs.
func strategyComparison(s Summary) func(draw.Canvas) {
	subtitle := fmt.Sprintf("mean of %d runs, seed %d", s.Options.Runs, s.Options.Seed)
	share := newPlot("Best arm's share of each day's calls", subtitle, "day", "share served by a best arm")
	regret := newPlot("Cumulative regret against the oracle", subtitle, "day", "expected successes lost")
	for k, ss := range s.Strategies {
		var shareXY, regretXY plotter.XYs
		for d := range ss.MeanDailyBestShare {
			shareXY = append(shareXY, plotter.XY{X: float64(d + 1), Y: ss.MeanDailyBestShare[d]})
			regretXY = append(regretXY, plotter.XY{X: float64(d + 1), Y: ss.MeanDailyRegret[d]})
		}
		addLine(share, shareXY, armStyle(k), ss.Strategy.String())
		addLine(regret, regretXY, armStyle(k), ss.Strategy.String())
	}
	share.X.Min, share.Y.Min, share.Y.Max = 0, 0, 1
	regret.X.Min = 0
	share.Legend.Top = true
	share.Legend.Left = true
	regret.Y.Min = 0
	regret.Legend.Top = true
	regret.Legend.Left = true
	plots := [][]*plot.Plot{{share, regret}}
	return func(c draw.Canvas) {
		tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(12), PadTop: vg.Points(4),
			PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
		canvases := plot.Align(plots, tiles, c)
		share.Draw(canvases[0][0])
		regret.Draw(canvases[0][1])
	}
}

// lifetimes draws one horizontal bar per arm from its birth to its retirement (or the end), colored
// by generation, with its true rate at the bar's end.
func lifetimes(sc Scenario, res *Result, subtitle string) *plot.Plot {
	p := newPlot("Arm lifetimes", subtitle, "day", "")
	n := len(res.Arms)
	var maxGen int64
	for _, a := range res.Arms {
		maxGen = max(maxGen, a.Generation)
	}
	colors := newGenerationColors(maxGen)
	names := make([]string, n)
	bars := &bars{height: 0.6}
	var labels plotter.XYLabels
	var retiredAt plotter.XYs
	for i, a := range res.Arms {
		y := float64(n - 1 - i) // first arm on top
		names[n-1-i] = a.Name
		end := float64(sc.Days)
		if a.Retired >= 0 {
			end = float64(a.Retired) / float64(sc.CallsPerDay)
			retiredAt = append(retiredAt, plotter.XY{X: end, Y: y})
		}
		start := float64(a.Born) / float64(sc.CallsPerDay)
		bars.rects = append(bars.rects, bar{x0: start, x1: end, y: y, color: colors.of(a.Generation)})
		labels.XYs = append(labels.XYs, plotter.XY{X: end, Y: y})
		labels.Labels = append(labels.Labels, fmt.Sprintf("p=%.3f", a.Rate))
	}
	p.Add(bars)
	if l, err := plotter.NewLabels(labels); err == nil {
		l.Offset = vg.Point{X: vg.Points(6), Y: -vg.Points(3)}
		for i := range l.TextStyle {
			l.TextStyle[i].Font.Size = vg.Points(8)
		}
		p.Add(l)
	}
	colors.addLegend(&p.Legend)
	if len(retiredAt) > 0 {
		if marks, err := plotter.NewScatter(retiredAt); err == nil {
			marks.GlyphStyle = draw.GlyphStyle{Shape: draw.CrossGlyph{}, Radius: vg.Points(5), Color: color.Black}
			p.Add(marks)
			p.Legend.Add("retired", marks)
		}
	}
	p.NominalY(names...)
	p.X.Min, p.X.Max = 0, float64(sc.Days)*1.12
	return p
}

// generationColors colors seeds grey and generations 1..max with the palette's distinct colors
// when there are few, or along a blue-to-red scale when there are more than the palette holds.
type generationColors struct {
	max   int64
	scale palette.ColorMap // nil when the palette's colors suffice
}

func newGenerationColors(maxGen int64) generationColors {
	g := generationColors{max: maxGen}
	if maxGen > int64(len(plotutil.DefaultColors)) {
		g.scale = moreland.SmoothBlueRed()
		g.scale.SetMin(1)
		g.scale.SetMax(float64(maxGen))
	}
	return g
}

func (g generationColors) of(gen int64) color.Color {
	switch {
	case gen == 0:
		return color.Gray{Y: 150}
	case g.scale == nil:
		return plotutil.Color(int(gen - 1))
	}
	c, err := g.scale.At(float64(gen))
	if err != nil {
		return color.Black
	}
	return c
}

// addLegend adds "seeds" and either every generation or the two ends and the middle of the scale.
func (g generationColors) addLegend(l *plot.Legend) {
	l.Add("seeds", swatch{g.of(0)})
	gens := []int64{}
	if g.scale == nil {
		for gen := int64(1); gen <= g.max; gen++ {
			gens = append(gens, gen)
		}
	} else {
		gens = []int64{1, (1 + g.max) / 2, g.max}
	}
	for _, gen := range gens {
		l.Add(fmt.Sprintf("generation %d", gen), swatch{g.of(gen)})
	}
}

// shortTicks are the default ticks labelled in the shortest form ("50", not "50.00").
type shortTicks struct{}

// Ticks implements plot.Ticker.
func (shortTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', 6, 64)
		}
	}
	return ticks
}

// bars is a plotter of horizontal bars [x0, x1] × [y − height/2, y + height/2].
type bars struct {
	height float64
	rects  []bar
}

type bar struct {
	x0, x1, y float64
	color     color.Color
}

// Plot implements plot.Plotter.
func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	for _, r := range b.rects {
		x0, x1 := tx(r.x0), tx(r.x1)
		y0, y1 := ty(r.y-b.height/2), ty(r.y+b.height/2)
		c.FillPolygon(r.color, c.ClipPolygonXY([]vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}))
	}
}

// DataRange implements plot.DataRanger.
func (b *bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, r := range b.rects {
		xmin, xmax = math.Min(xmin, r.x0), math.Max(xmax, r.x1)
		ymin, ymax = math.Min(ymin, r.y-b.height/2), math.Max(ymax, r.y+b.height/2)
	}
	return xmin, xmax, ymin, ymax
}

// swatch is a legend thumbnail: a box filled with one color.
type swatch struct{ color color.Color }

// Thumbnail implements plot.Thumbnailer.
func (s swatch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.color, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}
