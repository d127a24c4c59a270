package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// chart is `pika-load chart -o DIR report.json…`: the charts of
// BENCHMARKS.md drawn from --json reports, as plain SVG written here (no
// plotting tool needed).
func chart(args []string, stdout io.Writer) error {
	fs := newFlagSet("chart")
	out := fs.String("o", "docs/bench", "folder to write the SVG files to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("chart: give the --json reports to draw")
	}
	var reps []*Report
	for _, p := range fs.Args() {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("chart: %s: %w", p, err)
		}
		reps = append(reps, &r)
	}
	slices.SortStableFunc(reps, func(a, b *Report) int { return a.Dancers - b.Dancers })
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	charts := map[string]string{
		"latency.svg": latencyChart(reps),
		"memory.svg":  memoryChart(reps),
		"join.svg":    joinChart(reps),
	}
	for name, svg := range charts {
		p := filepath.Join(*out, name)
		if err := os.WriteFile(p, []byte(svg), 0o644); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		fmt.Fprintln(stdout, "wrote", p)
	}
	return nil
}

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// colorFor gives each crowd size its own colour.
func colorFor(sizes []int, n int) string {
	i := slices.Index(sizes, n)
	if i < 0 {
		i = 0
	}
	return palette[i%len(palette)]
}

func sizesOf(reps []*Report) []int {
	var s []int
	for _, r := range reps {
		if !slices.Contains(s, r.Dancers) {
			s = append(s, r.Dancers)
		}
	}
	return s
}

// latencyChart: the distribution (CDF) of play → frame through the engine,
// one curve per run, coloured by crowd size.
func latencyChart(reps []*Report) string {
	sizes := sizesOf(reps)
	var ss []series
	for _, r := range reps {
		for _, p := range r.Plays {
			if p.Drive != "bus" || len(p.CDF) == 0 {
				continue
			}
			s := series{color: colorFor(sizes, r.Dancers), line: true}
			for i, v := range p.CDF {
				s.pts = append(s.pts, [2]float64{v, float64(i)})
			}
			ss = append(ss, s)
		}
	}
	var legend []series
	for _, n := range sizes {
		legend = append(legend, series{name: fmt.Sprintf("%d phones", n), color: colorFor(sizes, n)})
	}
	return plot("Play → track.played frame at every phone (engine-driven, each run one curve)",
		"latency (ms), clock in the generator at both ends", "phones that had the frame (%)", ss, legend, nil)
}

// memoryChart: server RSS growth per subscribed idle socket, against sockets.
func memoryChart(reps []*Report) string {
	raw := series{name: "RSS growth ÷ sockets", color: palette[0]}
	gc := series{name: "same after runtime.GC + FreeOSMemory", color: palette[2]}
	for _, r := range reps {
		if r.Idle == nil {
			continue
		}
		n := float64(r.Subscribe.OK + r.Foreign)
		raw.pts = append(raw.pts, [2]float64{n, r.Idle.KBPerSocket})
		gc.pts = append(gc.pts, [2]float64{n, r.Idle.KBPerSocketGC})
	}
	return plot("Server memory per idle dancer socket", "sockets held", "KB per socket", []series{raw, gc}, []series{raw, gc},
		[]hline{{y: 12, label: "target ≤ 12 KB", color: "#d62728"}, {y: 8, label: "aim ≤ 8 KB", color: "#ff7f0e"}})
}

// joinChart: time to join (connect + subscribe → snapshot) against dancers.
func joinChart(reps []*Report) string {
	s := series{name: "connect + snapshot", color: palette[0]}
	st := series{name: "reconnect storm (all at once)", color: palette[3]}
	for _, r := range reps {
		s.pts = append(s.pts, [2]float64{float64(r.Dancers), r.JoinSec})
		if r.Storm != nil {
			st.pts = append(st.pts, [2]float64{float64(r.Dancers), r.Storm.Seconds})
		}
	}
	return plot("Join and reconnect storm", "dancers", "seconds until every phone has its snapshot", []series{s, st}, []series{s, st},
		[]hline{{y: 20, label: "join target 20 s", color: "#1f77b4"}, {y: 5, label: "storm target 5 s (19k)", color: "#d62728"}})
}

type series struct {
	name  string
	color string
	pts   [][2]float64
	line  bool // a polyline; otherwise dots
}

type hline struct {
	y     float64
	label string
	color string
}

// plot draws series on linear axes from 0, with a legend.
func plot(title, xl, yl string, ss, legend []series, hl []hline) string {
	const w, h, ml, mr, mt, mb = 760.0, 440.0, 70.0, 200.0, 40.0, 50.0
	xmax, ymax := 0.0, 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			xmax, ymax = math.Max(xmax, p[0]), math.Max(ymax, p[1])
		}
	}
	for _, l := range hl {
		ymax = math.Max(ymax, l.y)
	}
	xmax, ymax = nice(xmax), nice(ymax)
	pw, ph := w-ml-mr, h-mt-mb
	x := func(v float64) float64 { return ml + v/xmax*pw }
	y := func(v float64) float64 { return mt + ph - v/ymax*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", ml, esc(title))
	for i := 0; i <= 5; i++ {
		xv, yv := xmax*float64(i)/5, ymax*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(xv), y(0), x(xv), y(ymax))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(0), y(yv), x(xmax), y(yv))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(xv), y(0)+16, num(xv))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x(0)-6, y(yv)+4, num(yv))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", ml, mt, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", ml+pw/2, h-10, esc(xl))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", mt+ph/2, esc(yl))
	for _, l := range hl {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="6 4"/>`+"\n", x(0), y(l.y), x(xmax), y(l.y), l.color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", x(xmax)+6, y(l.y)+4, l.color, esc(l.label))
	}
	for _, s := range ss {
		if s.line {
			var pts []string
			for _, p := range s.pts {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p[0]), y(p[1])))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", s.color, strings.Join(pts, " "))
			continue
		}
		for _, p := range s.pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`+"\n", x(p[0]), y(p[1]), s.color)
		}
	}
	for i, s := range legend {
		ly := mt + 20 + float64(i)*20
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", w-mr+20, ly-10, s.color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", w-mr+38, ly, esc(s.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// nice rounds v up to 1, 2 or 5 × a power of ten.
func nice(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
