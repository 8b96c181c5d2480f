package main

// The runner: every suite is a list of cases, every case a list of
// implementations measured in the same run, interleaved (A B C A B C ...)
// so that a slow minute on this shared machine hits all of them alike.
// Each implementation gets one warm-up run (discarded; it also calibrates
// how much work one measured run does), then cfg.rounds measured runs; the
// reported value is the median.

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// config is what the command line chose.
type config struct {
	quick  bool
	pin    bool          // latency cases: parent and child on two separate CPUs (pin.go)
	rounds int           // measured rounds per implementation
	dur    time.Duration // target duration of one measured run
	child  time.Duration // deadline of one run (a hung peer is killed)
}

func newConfig(quick bool) config {
	if quick {
		return config{quick: true, rounds: 5, dur: 150 * time.Millisecond, child: 30 * time.Second}
	}
	return config{rounds: 7, dur: time.Second, child: 2 * time.Minute}
}

// sample is the outcome of one run: work units done in elapsed time, and
// optional extra figures (unit -> value) reported beside the main one. A
// latency case's implementation also returns the time of every round trip
// (lat, see latency.go): the run's value is then their p50, not the mean.
type sample struct {
	units   float64
	elapsed time.Duration
	extra   map[string]float64
	lat     []int64
}

// runFunc does about n units of work (n is a hint: a time-based
// implementation may ignore it) and reports what it did.
type runFunc func(ctx context.Context, n int64) (sample, error)

type impl struct {
	name string
	run  runFunc
}

// kind says how a sample becomes the reported value.
type kind int

const (
	throughput kind = iota // units per second; higher is better
	latency                // nanoseconds per unit; lower is better
)

// kindOf tells from a unit which way is better: rates are throughput,
// everything per unit of work (ns, syscalls/msg, cpu-ns/roundtrip) is a
// cost.
func kindOf(unit string) kind {
	if strings.HasSuffix(unit, "/s") {
		return throughput
	}
	return latency
}

type benchCase struct {
	name  string
	unit  string // "items/s", "bytes/s", "ns", "roundtrips/s"
	kind  kind
	n0    int64 // work for the warm-up (calibration) run
	nMin  int64 // bounds for the calibrated work
	nMax  int64
	impls []impl
}

type suite struct {
	name  string
	note  string // fairness settings, printed with the table
	cases []benchCase
}

// measurement is one reported median: one JSON line.
type measurement struct {
	Suite string  `json:"suite"`
	Case  string  `json:"case"`
	Impl  string  `json:"impl"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`

	kind   kind      // not exported: how to compare
	values []float64 // every round, for the spread column
}

// value turns a sample into the case's unit.
func (c *benchCase) value(s sample) float64 {
	sec := s.elapsed.Seconds()
	if c.kind == latency {
		return float64(s.elapsed.Nanoseconds()) / s.units
	}
	return s.units / sec
}

// figures turns a measured sample into the case's value and the extra
// figures: for a sample with round-trip times, p50 and the tail
// percentiles (p99.9 only in full runs).
func (c *benchCase) figures(cfg config, s sample) (float64, map[string]float64, error) {
	if s.lat == nil {
		return c.value(s), s.extra, nil
	}
	if len(s.lat) < rttWarmFraction {
		return 0, nil, fmt.Errorf("only %d round trips timed", len(s.lat))
	}
	ps := rttPercentiles(s.lat)
	extra := map[string]float64{unitP99: ps.p99}
	if !cfg.quick {
		extra[unitP999] = ps.p999
	}
	for u, v := range s.extra {
		extra[u] = v
	}
	return ps.p50, extra, nil
}

// runs is how many warm-up and measured runs a suite makes, for progress.
func (s *suite) runs(cfg config) (warm, meas int) {
	for _, c := range s.cases {
		warm += len(c.impls)
		meas += cfg.rounds * len(c.impls)
	}
	return warm, meas
}

// runSuite measures every case of s and returns one measurement per
// (case, impl, unit). A failing implementation is reported on stderr and
// left out; the others go on.
func runSuite(ctx context.Context, cfg config, s suite, pr *progress) []measurement {
	var out []measurement
	warm, meas := s.runs(cfg)
	pr.beginSuite(s.name, warm, meas, cfg.dur)
	defer pr.endSuite()
	cpus, pin := choosePins()
	pin = pin && cfg.pin
	for ci := range s.cases {
		c := &s.cases[ci]
		// The placement probe before every measured round: the vCPUs move
		// between near and far within seconds, so each case says where its
		// rounds ran (see casePlacement).
		var where []float64
		n := make([]int64, len(c.impls))
		for i := range n {
			n[i] = c.n0
		}
		vals := make([][]float64, len(c.impls))
		extras := make([]map[string][]float64, len(c.impls))
		failed := make([]bool, len(c.impls))
		for round := -1; round < cfg.rounds; round++ {
			if round >= 0 {
				where = append(where, roundProbe(pin, cpus))
			}
			for i, im := range c.impls {
				if failed[i] {
					continue
				}
				if ctx.Err() != nil {
					return out
				}
				pr.beginRun(c.name, im.name, round+1, cfg.rounds)
				rctx, cancel := context.WithTimeout(ctx, cfg.child)
				smp, err := im.run(rctx, n[i])
				cancel()
				if err == nil && (smp.units <= 0 || smp.elapsed <= 0) {
					err = fmt.Errorf("empty sample (%v units in %v)", smp.units, smp.elapsed)
				}
				var (
					v     float64
					extra map[string]float64
				)
				if err == nil {
					v, extra, err = c.figures(cfg, smp)
				}
				if err != nil {
					pr.endRun("")
					pr.printf("bench: %s %s %s: %v (left out)\n", s.name, c.name, im.name, err)
					failed[i] = true
					pr.skip(cfg.rounds - 1 - round) // the measured runs it will not make
					continue
				}
				pr.endRun(describe(c, v, extra))
				if round < 0 {
					// Calibrate: size the measured runs to cfg.dur.
					rate := smp.units / smp.elapsed.Seconds()
					n[i] = clamp(int64(rate*cfg.dur.Seconds()), c.nMin, c.nMax)
					continue
				}
				vals[i] = append(vals[i], v)
				for u, v := range extra {
					if extras[i] == nil {
						extras[i] = map[string][]float64{}
					}
					extras[i][u] = append(extras[i][u], v)
				}
			}
		}
		if len(where) > 0 {
			out = append(out, casePlacement(s.name, c.name, where))
		}
		for i, im := range c.impls {
			if failed[i] || len(vals[i]) == 0 {
				continue
			}
			out = append(out, measurement{Suite: s.name, Case: c.name, Impl: im.name,
				Value: round(median(vals[i])), Unit: c.unit, kind: c.kind, values: vals[i]})
			units := make([]string, 0, len(extras[i]))
			for u := range extras[i] {
				units = append(units, u)
			}
			slices.Sort(units)
			for _, u := range units {
				out = append(out, measurement{Suite: s.name, Case: c.name, Impl: im.name,
					Value: round(median(extras[i][u])), Unit: u, kind: kindOf(u), values: extras[i][u]})
			}
		}
	}
	return out
}

// describe prints one run's figures for -v.
func describe(c *benchCase, v float64, extra map[string]float64) string {
	s := human(v) + " " + c.unit
	units := make([]string, 0, len(extra))
	for u := range extra {
		units = append(units, u)
	}
	slices.Sort(units)
	for _, u := range units {
		s += ", " + human(extra[u]) + " " + u
	}
	return s
}

func clamp(v, lo, hi int64) int64 {
	if v < lo {
		return lo
	}
	if hi > 0 && v > hi {
		return hi
	}
	return v
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// round keeps JSON values readable: integers above 1000, four significant
// digits below.
func round(v float64) float64 {
	if math.Abs(v) >= 1000 {
		return math.Round(v)
	}
	if v == 0 {
		return 0
	}
	scale := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}
