package figure

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func TestWriteRendersEveryFormat(t *testing.T) {
	p := plot.New()
	line, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p.Add(line)
	legend := plot.NewLegend()
	legend.Add("diagonal", line)
	dir := filepath.Join(t.TempDir(), "out")
	written, err := Write(dir, Size{Width: 4 * vg.Inch, Height: 3 * vg.Inch}, []Figure{
		{Name: "with-legend", Render: WithSideLegend(p, legend, vg.Inch, vg.Points(12))},
		{Name: "plain", Render: func(c draw.Canvas) { p.Draw(c) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2*len(Formats) {
		t.Fatalf("wrote %v, want %d files", written, 2*len(Formats))
	}
	for _, path := range written {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(path) {
		case ".png":
			if _, err := png.Decode(bytes.NewReader(data)); err != nil {
				t.Errorf("%s is not a PNG: %v", path, err)
			}
		case ".svg":
			if err := xml.Unmarshal(data, new(struct{})); err != nil {
				t.Errorf("%s is not XML: %v", path, err)
			}
		}
	}
}

func TestWriteReportsAnUnwritableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(filepath.Join(file, "sub"), Size{Width: vg.Inch, Height: vg.Inch}, nil); err == nil {
		t.Fatal("Write into a path below a file succeeded")
	}
}
