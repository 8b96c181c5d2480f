package main

// -svg: one bar per fdring row (fdring, fdring-zc, fdring-spin in every
// case), its advantage over the best alternative of the same case on a
// log scale: bars above the line at 1x are cases fdring wins. For ns (lower
// is better) the advantage is best alternative / fdring, so up always means
// better. fanin's in-process cases have no alternative and are left out,
// and so are the secondary server-cpu lines of echo; other secondary
// figures (ns-p99, syscalls/msg) get a bar of their own, labelled with
// their unit.

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func drawSVG(path string, ms []measurement) error {
	var (
		vals   plotter.Values
		labels []string
	)
	for _, r := range ratios(ms) {
		if !isFdring(r.m.Impl) || !r.alt || strings.Contains(r.m.Unit, "cpu") {
			continue
		}
		adv := r.ratio
		if r.m.kind == latency {
			adv = 1 / adv
		}
		vals = append(vals, math.Log10(adv))
		label := fmt.Sprintf("%s %s %s", r.m.Suite, r.m.Case, r.m.Impl)
		if !primaryUnit(r.m.Unit) {
			label += " " + r.m.Unit // a second bar of the same row: ns-p99, syscalls/msg
		}
		labels = append(labels, label)
	}
	if len(vals) == 0 {
		return fmt.Errorf("no fdring measurement with an alternative to draw")
	}
	p := plot.New()
	p.Title.Text = "fdring vs the best alternative in the same run (higher is better)"
	p.Y.Label.Text = "advantage (x, log scale)"
	bars, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return err
	}
	bars.Color = color.RGBA{R: 0x2b, G: 0x6c, B: 0xb0, A: 0xff}
	bars.LineStyle.Width = 0
	p.Add(bars)
	one := plotter.NewFunction(func(float64) float64 { return 0 })
	one.Color = color.Gray{Y: 0x40}
	p.Add(one)
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.X.Min, p.X.Max = -0.7, float64(len(vals))-0.3
	lo, hi := 0.0, 0.0
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	p.Y.Min, p.Y.Max = math.Floor(lo)-0.05, math.Ceil(hi)+0.05
	p.Y.Tick.Marker = logTicks{}
	width := max(8*vg.Inch, vg.Length(len(vals))*vg.Points(36))
	return p.Save(width, 7*vg.Inch, path)
}

// primaryUnit tells a case's main unit from the secondary figures
// reported beside it.
func primaryUnit(u string) bool {
	switch u {
	case "items/s", "bytes/s", "roundtrips/s", unitP50:
		return true
	}
	return false
}

// logTicks labels a log10 axis with 0.1x, 0.2x, 0.5x, 1x, 2x, 5x, ...
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := e + math.Log10(m)
			if v < lo || v > hi {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("%gx", math.Pow(10, e)*m)})
		}
	}
	return ts
}
