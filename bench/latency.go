package main

// Latency cases time every round trip, not the run: a mean over a run is
// dragged around by the few round trips in which a peer was descheduled
// (on a shared 2-vCPU machine, a quick run's mean moved by 18x between
// runs), while the median of the round trips moves little.
//
// An implementation records each round trip into an rttLog allocated
// before its timed loop (one clock read per round trip, no allocation),
// and returns the log in its sample. The runner drops the first
// rttWarmFraction of each run (child start-up, page faults, caches,
// a spin loop finding its rhythm), takes p50, p99 and p99.9 of the rest,
// and reports the median of each over the measured rounds: unit "ns"
// (p50), "ns-p99", and "ns-p999" in full runs (a quick run has too few
// round trips per round for it to mean much).

import (
	"slices"
	"time"
	_ "unsafe" // go:linkname
)

// nanotime is the runtime's monotonic clock: one vDSO clock_gettime (about
// 30 ns here), where time.Now reads two clocks.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// rttWarmFraction of each run's round trips is discarded as warm-up.
const rttWarmFraction = 10

// Latency units.
const (
	unitP50  = "ns"
	unitP99  = "ns-p99"
	unitP999 = "ns-p999"
)

// rttLog records the duration of every round trip of one run, and ends
// the run early when it overruns its time budget: the count of round
// trips is calibrated on an earlier run, and when the machine gets busier
// meanwhile (on these VMs a spinning round trip can go from 1 us to
// 400 us when another process takes a CPU) the same count would take
// minutes.
type rttLog struct {
	ns       []int64
	n        int
	last     int64
	deadline int64
}

// minRTT is the fewest round trips a run times, whatever its budget: fewer
// give no percentile (a busy machine can spend a whole short budget on
// one round trip).
const minRTT = 2 * rttWarmFraction

// newRTTLog allocates room for n round trips (at least minRTT), to be done
// within budget.
func newRTTLog(n int64, budget time.Duration) *rttLog {
	return &rttLog{ns: make([]int64, max(n, minRTT)), deadline: int64(budget)}
}

// start marks the beginning of the first round trip.
func (l *rttLog) start() {
	l.last = nanotime()
	l.deadline += l.last
}

// lap ends the current round trip and begins the next. Each round trip
// ends where the next begins, so the laps add up to the run's time. It
// reports false when the log is full or the budget is spent: stop.
func (l *rttLog) lap() bool {
	now := nanotime()
	if l.n < len(l.ns) {
		l.ns[l.n] = now - l.last
		l.n++
	}
	l.last = now
	return l.n < len(l.ns) && (now < l.deadline || l.n < minRTT)
}

// laps returns the recorded round trips.
func (l *rttLog) laps() []int64 { return l.ns[:l.n] }

// percentiles of one run.
type percentiles struct{ p50, p99, p999 float64 }

// rttPercentiles drops the warm-up and returns the percentiles of the
// rest, by nearest rank. It sorts ns in place.
func rttPercentiles(ns []int64) percentiles {
	ns = ns[len(ns)/rttWarmFraction:]
	if len(ns) == 0 {
		return percentiles{}
	}
	slices.Sort(ns)
	rank := func(q float64) float64 {
		i := int(q*float64(len(ns))+0.999999) - 1
		return float64(ns[min(max(i, 0), len(ns)-1)])
	}
	return percentiles{p50: rank(0.50), p99: rank(0.99), p999: rank(0.999)}
}
