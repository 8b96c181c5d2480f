package main

// CPU pinning for the latency cases. Unpinned, the scheduler decides where
// the two sides of a ping-pong run, and on a shared 2-vCPU machine that
// decision is the result: while another process holds one CPU, both sides
// land on the other, a spinning side keeps its peer off the CPU for its
// whole spin, and fdring-spin's median round trip went from 1.2 us to
// 416 us from one 150 ms round to the next (2 x the 200 us spin). So by
// default (-pin) the parent process runs on one allowed CPU during each
// timed run and the child process on another, for every implementation
// alike: the cross-CPU case that the cache-line probe measures. -pin=false
// leaves placement to the scheduler.

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuPair is where the parent and the child run.
type cpuPair struct{ parent, child int }

// choosePins returns the first two CPUs this process may run on; false
// when it may run on fewer than two.
func choosePins() (cpuPair, bool) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return cpuPair{}, false
	}
	var cpus []int
	for c := 0; c < len(set)*64 && len(cpus) < 2; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return cpuPair{}, false
	}
	return cpuPair{parent: cpus[0], child: cpus[1]}, true
}

// pinProcess moves every thread of this process to cpu and returns what
// moves them back to where they were allowed before. Threads made later
// inherit the mask of the thread that makes them, which is pinned by then
// (the list is walked twice to catch threads made during the first walk).
// The whole process, not one locked thread: a goroutine locked to its
// thread that sleeps in the Go poller (SendWait, RecvWait, shmipc) needs
// one more thread hand-off to wake up, which would tax those peers only.
func pinProcess(cpu int) (func() error, error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("pin: %w", err)
	}
	set.Set(cpu)
	if err := setProcessAffinity(&set); err != nil {
		_ = setProcessAffinity(&old)
		return nil, fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return func() error { return setProcessAffinity(&old) }, nil
}

func setProcessAffinity(set *unix.CPUSet) error {
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
		}
	}
	return nil
}
