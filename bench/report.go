package main

// Output: one JSON line per measurement, then a table with each
// implementation's median and its ratio against the best alternative.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// isFdring tells our implementations (fdring, and fdnet over it) from the
// alternatives.
func isFdring(impl string) bool {
	return strings.HasPrefix(impl, "fdring") || strings.HasPrefix(impl, "fdnet")
}

// isCeiling tells a reference ceiling (the ring suite's bare ring, which
// has no wakeups and so cannot sleep) from an alternative: it is not
// something a user would pick instead, so it is never the "best
// alternative"; every other row of its case gets a second ratio against it.
func isCeiling(impl string) bool { return impl == "bare" }

func writeJSON(w io.Writer, ms []measurement) error {
	enc := json.NewEncoder(w)
	for _, m := range ms {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return nil
}

// ratioRow is one line of the table.
type ratioRow struct {
	m     measurement
	ratio float64 // value / reference; NaN when there is none
	ref   string  // what the ratio is against
	alt   bool    // the reference is the best alternative
	ceil  float64 // value / the case's reference ceiling; NaN when none
	cref  string  // the ceiling's impl
}

// ratios computes, for every measurement, the ratio against the best
// alternative (non-fdring implementation, not a ceiling) of the same case
// and unit. In a suite with no alternative (fanin) the reference is the same
// implementation in the suite's first case. Where the case has a ceiling
// (ring: bare), every other row also gets its ratio against it.
func ratios(ms []measurement) []ratioRow {
	type caseKey struct{ suite, cas, unit string }
	type implKey struct{ suite, impl, unit string }
	best := map[caseKey]measurement{}
	ceiling := map[caseKey]measurement{}
	first := map[implKey]measurement{}
	for _, m := range ms {
		if m.Suite == "probe" {
			continue
		}
		if ik := (implKey{m.Suite, m.Impl, m.Unit}); first[ik].Suite == "" {
			first[ik] = m
		}
		if isCeiling(m.Impl) {
			ceiling[caseKey{m.Suite, m.Case, m.Unit}] = m
			continue
		}
		if isFdring(m.Impl) {
			continue
		}
		ck := caseKey{m.Suite, m.Case, m.Unit}
		if b, ok := best[ck]; !ok || better(m, b) {
			best[ck] = m
		}
	}
	rows := make([]ratioRow, 0, len(ms))
	for _, m := range ms {
		r := ratioRow{m: m, ratio: math.NaN(), ceil: math.NaN()}
		if m.Suite != "probe" {
			ck := caseKey{m.Suite, m.Case, m.Unit}
			if b, ok := best[ck]; ok {
				r.ratio, r.ref, r.alt = m.Value/b.Value, "best alt: "+b.Impl, true
			} else if f := first[implKey{m.Suite, m.Impl, m.Unit}]; f.Case != m.Case {
				r.ratio, r.ref = m.Value/f.Value, "vs "+f.Case
			}
			if c, ok := ceiling[ck]; ok && !isCeiling(m.Impl) {
				r.ceil, r.cref = m.Value/c.Value, c.Impl
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func better(a, b measurement) bool {
	if a.kind == latency {
		return a.Value < b.Value
	}
	return a.Value > b.Value
}

func writeTable(w io.Writer, ms []measurement, notes []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(w, "ratio = value / best alternative in the same case and unit (fanin: vs producers=1 where no alternative);")
	fmt.Fprintln(w, "ceiling = value / the reference ceiling of the case (ring: bare, a naive ring with no wakeups).")
	fmt.Fprintln(w, "For items/s, bytes/s, roundtrips/s higher is better; for ns, ns-p99, ns-p999 and syscalls/msg LOWER is better.")
	fmt.Fprintf(tw, "suite\tcase\timpl\tmedian\tunit\tspread\tratio\tagainst\tceiling\t\n")
	for _, r := range ratios(ms) {
		ratio, ceil := "-", "-"
		if !math.IsNaN(r.ratio) {
			ratio = fmt.Sprintf("%.2fx", r.ratio)
		}
		if !math.IsNaN(r.ceil) {
			ceil = fmt.Sprintf("%.2fx %s", r.ceil, r.cref)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.m.Suite, r.m.Case, r.m.Impl,
			human(r.m.Value), r.m.Unit, spread(r.m.values), ratio, r.ref, ceil)
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// spread is (max-min)/median of the rounds, a quick noise indicator.
func spread(v []float64) string {
	if len(v) < 2 {
		return "-"
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	med := median(v)
	if med == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*(hi-lo)/med)
}

// human prints a value with an SI suffix.
func human(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.4f", v)
	}
}
