package main

// The cache-line probe: two goroutines on their own OS threads ping-pong a
// counter through two atomics on separate 128-byte lines. On these virtual
// machines the two vCPUs are sometimes near (~130 ns a round trip here) and
// sometimes far (~950 ns), as the hypervisor places them, and that changes
// from one minute to the next; every cross-CPU figure moves with it (a
// spinning ping-pong between processes: 260 ns near, 1.15 us far), so each
// run reports the probe at its start and its end, and each case the probe
// made before each of its measured rounds (casePlacement).
//
// With -pin the two threads run on the CPUs the pingpong suite uses. The
// figure is the median over 7 runs of each run's median batch: round trips
// are timed 64 at a time (the clock read amortised), and the median batch
// ignores the batches in which another process took one of the CPUs (on a
// busy machine the mean of a run was 5-40x the median).

import (
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

type probeLines struct {
	ping atomic.Uint64
	_    [120]byte
	pong atomic.Uint64
	_    [120]byte
}

// probeBatch round trips are timed together.
const probeBatch = 64

// probeOnce returns the median round trip, in ns, of iters ping-pongs,
// the two threads on cpus when pin.
func probeOnce(iters uint64, pin bool, cpus cpuPair) float64 {
	lines := new(probeLines)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if pin {
			defer pinThread(cpus.child)()
		}
		for i := uint64(1); i <= iters; i++ {
			waitFor(&lines.ping, i)
			lines.pong.Store(i)
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if pin {
		defer pinThread(cpus.parent)()
	}
	batches := make([]float64, 0, iters/probeBatch)
	t := nanotime()
	for i := uint64(1); i <= iters; i++ {
		lines.ping.Store(i)
		waitFor(&lines.pong, i)
		if i%probeBatch == 0 {
			now := nanotime()
			batches = append(batches, float64(now-t)/probeBatch)
			t = now
		}
	}
	wg.Wait()
	return median(batches)
}

// pinThread moves the calling thread (locked by the caller) to cpu and
// returns what moves it back. Failing, it leaves the thread where it was.
func pinThread(cpu int) func() {
	var old, set unix.CPUSet
	if unix.SchedGetaffinity(0, &old) != nil {
		return func() {}
	}
	set.Set(cpu)
	if unix.SchedSetaffinity(0, &set) != nil {
		return func() {}
	}
	return func() { _ = unix.SchedSetaffinity(0, &old) }
}

// waitFor spins until a holds v, yielding now and then so that the probe
// cannot deadlock when both goroutines share one CPU.
func waitFor(a *atomic.Uint64, v uint64) {
	for spins := 1; a.Load() != v; spins++ {
		if spins&4095 == 0 {
			runtime.Gosched()
		}
	}
}

// probe is the median of several probe runs, as a measurement.
func probe(pin bool) measurement {
	debug.FreeOSMemory() // see roundProbe
	cpus, ok := choosePins()
	pin = pin && ok
	vals := make([]float64, 0, 7)
	for range 7 {
		vals = append(vals, probeOnce(20000, pin, cpus))
	}
	return measurement{Suite: "probe", Case: "cacheline-rtt", Impl: "probe",
		Value: round(median(vals)), Unit: "ns", kind: latency, values: vals}
}

// caseProbeIters is the size of the probe made before every measured round
// of every case: a few milliseconds, next to runs of 150 ms to 1 s.
const caseProbeIters = 4096

// roundProbe is the probe made before a measured round: the least of three
// short probes. A run can leave the machine busy for a few hundred
// milliseconds after it ends (measured after the pingpong runs: probes
// read 35-52 us for up to 0.7 s, then 0.85-0.96 us again), which is a CPU
// taken, not a distance: no placement of these vCPUs reads more than
// about 1.5 us. So while the least reads above probeBusy, it waits 100 ms
// and probes again, up to a second in all.
func roundProbe(pin bool, cpus cpuPair) float64 {
	// The memory the run freed goes back to the system now, not while the
	// probe runs (each page returned interrupts the other CPU).
	debug.FreeOSMemory()
	best := math.Inf(1)
	for range 3 {
		best = min(best, probeOnce(caseProbeIters, pin, cpus))
	}
	for try := 0; best > probeBusy && try < 10; try++ {
		time.Sleep(100 * time.Millisecond)
		best = min(best, probeOnce(caseProbeIters, pin, cpus))
	}
	return best
}

// probeBusy is a probe reading (ns) no placement gives: a CPU was busy.
const probeBusy = 5000

// casePlacement is the probe made before each measured round of a case, as
// a measurement of suite "probe" (so no ratio is computed for it) whose
// case names the suite and case it belongs to, e.g. "ring u64/batch64":
// the median, and every round's value for the spread, so that a reader
// can tell whether the case ran near, far or moved in between.
func casePlacement(suite, cas string, where []float64) measurement {
	return measurement{Suite: "probe", Case: suite + " " + cas, Impl: "probe",
		Value: round(median(where)), Unit: "ns", kind: latency, values: where}
}
