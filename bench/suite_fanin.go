package main

// Suite fanin: P producer goroutines, each with its own ring of 1024
// uint64, stream into one loop.Loop thread that drains every ring; the
// figure is items/s consumed (every item checked), and syscalls per item:
// the loop's polls (its Stats: blocking and non-blocking epoll_wait calls)
// plus every read and write syscall of the process (/proc/self/io syscr and
// syscw deltas: eventfd signals and clears, by producers and loop alike),
// divided by the items moved. The Go runtime's own epoll_wait and futex
// calls are not in it, nor membarrier (a side about to sleep) nor, across
// processes, the wakeups' sendto and recvmmsg on the seqpacket connection:
// for fdring the figure is a lower bound (README gives a perf count). The last case, procs/u64-batch1, has its producers
// in child processes, one item per call, beside a unix socket doing the
// same (suite_fanin_procs.go).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
)

func fanInSuite(config) suite {
	s := suite{name: "fanin", note: "fanin: P producer goroutines, one ring of 1024 uint64 each, one consumer loop " +
		"(no spin); producers use SendWait and fill what fits; syscalls/msg = (loop polls + read/write syscalls " +
		"of the process) / items; ratio is vs producers=1. procs/u64-batch1: " + fmt.Sprint(procsProducers) +
		" child processes, one uint64 per call (fdring Dial + Put of one item; unixsocket one 8-byte write), " +
		"the loop drains all; syscalls/msg includes the children's read/write syscalls but not the wakeups between " +
		"processes (sendto, recvmmsg on the seqpacket connection) nor membarrier: a lower bound for fdring; ratio vs unixsocket"}
	for _, p := range []int{1, 8, 64} {
		s.cases = append(s.cases, benchCase{name: fmt.Sprintf("producers=%d", p), unit: "items/s", kind: throughput,
			n0: 1 << 22, nMin: 1 << 18, nMax: 1 << 36,
			impls: []impl{{"fdring", func(ctx context.Context, n int64) (sample, error) { return runFanIn(ctx, p, n) }}}})
	}
	s.cases = append(s.cases, procsCase())
	return s
}

func runFanIn(ctx context.Context, producers int, n int64) (sample, error) {
	lp, err := loop.New()
	if err != nil {
		return sample{}, err
	}
	defer lp.Close()
	per := uint64(max(1, n/int64(producers)))
	total := per * uint64(producers)
	txs := make([]*fdring.Sender[uint64], producers)
	var (
		got  uint64
		ferr error
	)
	for p := range producers {
		tx, rx, err := fdring.New[uint64](ringCap)
		if err != nil {
			return sample{}, err
		}
		defer tx.Close()
		defer rx.Close()
		txs[p] = tx
		want := uint64(0)
		read := func(d []uint64) int {
			for _, v := range d {
				if v != want && ferr == nil {
					ferr = fmt.Errorf("producer %d: item %d, want %d", p, v, want)
				}
				want++
			}
			return len(d)
		}
		_, err = lp.Watch(rx, loop.HandlerFunc(func(loop.Token, loop.Event) {
			for {
				k, err := rx.Recv(read)
				got += uint64(k)
				if err != nil && ferr == nil {
					ferr = err
				}
				if k == 0 || err != nil {
					break
				}
			}
			if got == total || ferr != nil {
				lp.Stop()
			}
		}), loop.Readable)
		if err != nil {
			return sample{}, err
		}
	}
	io0, err := procIO("self")
	if err != nil {
		return sample{}, err
	}
	var wg sync.WaitGroup
	perr := make(chan error, producers)
	start := time.Now()
	for _, tx := range txs {
		wg.Go(func() {
			next := uint64(0)
			fill := func(f []uint64) int {
				k := min(uint64(len(f)), per-next)
				for i := range k {
					f[i] = next + i
				}
				next += k
				return int(k)
			}
			for next < per {
				if _, err := tx.SendWait(ctx, fill); err != nil {
					perr <- err
					return
				}
			}
		})
	}
	runErr := lp.Run(ctx)
	el := time.Since(start)
	st := lp.Stats()
	io1, err := procIO("self")
	if runErr != nil || ferr != nil || err != nil {
		for _, tx := range txs {
			tx.Close() // unblock the producers
		}
	}
	wg.Wait()
	close(perr)
	if runErr != nil {
		return sample{}, runErr
	}
	if ferr != nil {
		return sample{}, ferr
	}
	if err != nil {
		return sample{}, err
	}
	if err := <-perr; err != nil {
		return sample{}, err
	}
	calls := float64(io1.syscr-io0.syscr+io1.syscw-io0.syscw) + float64(st.PollsBlocking+st.PollsNonBlocking)
	return sample{units: float64(got), elapsed: el,
		extra: map[string]float64{"syscalls/msg": calls / float64(got)}}, nil
}

type ioCounts struct{ syscr, syscw uint64 }

// procIO reads the read and write syscall counts of process pid ("self"
// for this one).
func procIO(pid string) (ioCounts, error) {
	b, err := os.ReadFile("/proc/" + pid + "/io")
	if err != nil {
		return ioCounts{}, err
	}
	var c ioCounts
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(": "))
		if !ok {
			continue
		}
		x, _ := strconv.ParseUint(string(v), 10, 64)
		switch string(k) {
		case "syscr":
			c.syscr = x
		case "syscw":
			c.syscw = x
		}
	}
	return c, nil
}
