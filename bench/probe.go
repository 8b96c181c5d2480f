package main

// The cache-line probe: two goroutines on their own OS threads ping-pong a
// counter through two atomics on separate 128-byte lines. On these virtual
// machines the two CPUs are sometimes near (~65 ns) and sometimes far
// (~250 ns); every cross-CPU figure moves with it, so each run reports the
// probe at its start and its end.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

type probeLines struct {
	ping atomic.Uint64
	_    [120]byte
	pong atomic.Uint64
	_    [120]byte
}

// probeOnce returns the mean round trip of iters ping-pongs in ns.
func probeOnce(iters uint64) float64 {
	lines := new(probeLines)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := uint64(1); i <= iters; i++ {
			waitFor(&lines.ping, i)
			lines.pong.Store(i)
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	for i := uint64(1); i <= iters; i++ {
		lines.ping.Store(i)
		waitFor(&lines.pong, i)
	}
	el := time.Since(start)
	wg.Wait()
	return float64(el.Nanoseconds()) / float64(iters)
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
func probe() measurement {
	vals := make([]float64, 0, 7)
	for range 7 {
		vals = append(vals, probeOnce(20000))
	}
	return measurement{Suite: "probe", Case: "cacheline-rtt", Impl: "probe",
		Value: round(median(vals)), Unit: "ns", kind: latency, values: vals}
}
