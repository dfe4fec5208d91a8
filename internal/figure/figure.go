// Package figure writes gonum/plot drawings to files: every figure as PNG and SVG, with the
// legend in a column beside the plot where it cannot hide a line. The simulation and the plots of
// a live portfolio both use it.
package figure

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Formats are the file formats every figure is written in.
var Formats = []string{"png", "svg"}

// Figure is one named drawing; Name becomes the file name without extension.
type Figure struct {
	Name   string
	Render func(draw.Canvas)
}

// Size is the size of every figure's canvas, and the width of the legend column WithSideLegend
// draws in it.
type Size struct {
	Width, Height, Legend vg.Length
}

// Write renders every figure into dir (created when missing) in every format and returns the
// paths written, in order. On an error it returns the paths written so far.
func Write(dir string, size Size, figures []Figure) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range figures {
		for _, format := range Formats {
			path := filepath.Join(dir, f.Name+"."+format)
			if err := save(path, format, size, f.Render); err != nil {
				return written, fmt.Errorf("writing %s: %w", path, err)
			}
			written = append(written, path)
		}
	}
	return written, nil
}

// save renders one figure into a file of the given format.
func save(path, format string, size Size, render func(draw.Canvas)) (err error) {
	canvas, err := draw.NewFormattedCanvas(size.Width, size.Height, format)
	if err != nil {
		return err
	}
	render(draw.New(canvas))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	_, err = canvas.WriteTo(f)
	return err
}

// WithSideLegend draws p left of a column of the given width that holds legend, starting
// topOffset below the top. Pass a legend that is not p's own: p.Draw would also draw that one,
// over the axes.
func WithSideLegend(p *plot.Plot, legend plot.Legend, width, topOffset vg.Length) func(draw.Canvas) {
	return func(c draw.Canvas) {
		p.Draw(draw.Crop(c, 0, -width, 0, 0))
		legend.Draw(draw.Crop(c, c.Max.X-c.Min.X-width, 0, 0, -topOffset))
	}
}
