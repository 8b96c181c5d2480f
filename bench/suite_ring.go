package main

// Suite ring: one producer goroutine, one consumer goroutine, in this
// process. fdring uses the blocking calls a user would (spin briefly, then
// sleep on the fd) on a ring of 1024 elements: Put/Get for one element per
// call (u64/batch1), SendWait/RecvWait with a callback for batches
// (fdring-fn: the callback calls at one element each); chan is a
// buffered channel of the same element with capacity 1024, which has no
// batch API, so it moves one element per operation in both u64 cases;
// bare (u64 cases only) is the reference ceiling of bare.go: a naive ring
// of 1024 with the same callbacks and batches as fdring, no wakeups, its
// full or empty side busy-polling with runtime.Gosched.
// bytes/4KiB moves 4 KiB chunks: a 4 MiB byte ring through Writer/Reader,
// a chan [4096]byte of capacity 1024 (the same 4 MiB), and os.Pipe.
// Every consumer checks every element (u64) or every chunk's stamp (bytes).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/fdring/fdring"
)

const ringCap = 1024

func ringSuite(config) suite {
	u64 := func(batch int) []impl {
		impls := []impl{
			{"fdring", func(ctx context.Context, n int64) (sample, error) { return ringU64(ctx, n, batch) }},
			{"chan", func(ctx context.Context, n int64) (sample, error) { return chanU64(ctx, n) }},
			{"bare", func(ctx context.Context, n int64) (sample, error) { return bareU64(ctx, n, batch) }},
		}
		if batch == 1 {
			impls[0].run = ringPutGet
			impls = append(impls, impl{"fdring-fn", func(ctx context.Context, n int64) (sample, error) { return ringU64(ctx, n, 1) }})
		}
		return impls
	}
	return suite{name: "ring",
		note: "ring: in-process, 1 producer + 1 consumer goroutine; fdring ring and chan both hold 1024 elements " +
			"(bytes: 4 MiB each); chan moves one element per operation (it has no batch API); pipe is os.Pipe; " +
			"bare is a reference ceiling, not an alternative: a naive ring of 1024 with no wakeups (it busy-polls, " +
			"never sleeps), same batches as fdring; u64/batch1: fdring is Put/Get, fdring-fn SendWait/RecvWait " +
			"with one element per callback",
		cases: []benchCase{
			{name: "u64/batch1", unit: "items/s", kind: throughput, n0: 1 << 21, nMin: 1 << 18, nMax: 1 << 34, impls: u64(1)},
			{name: "u64/batch64", unit: "items/s", kind: throughput, n0: 1 << 23, nMin: 1 << 18, nMax: 1 << 36, impls: u64(64)},
			{name: "bytes/4KiB", unit: "bytes/s", kind: throughput, n0: 256 << 20, nMin: 16 << 20, nMax: 1 << 36, impls: []impl{
				{"fdring", ringBytes},
				{"chan", chanBytes},
				{"pipe", pipeBytes},
			}},
		}}
}

// pair runs produce and consume on two goroutines and times them. When
// consume fails, abort must unblock the producer.
func pair(produce, consume func() error, abort func()) (time.Duration, error) {
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- produce() }()
	cerr := consume()
	el := time.Since(start)
	if cerr != nil {
		abort()
	}
	return el, errors.Join(cerr, <-errc)
}

func ringU64(ctx context.Context, n int64, batch int) (sample, error) {
	tx, rx, err := fdring.New[uint64](ringCap)
	if err != nil {
		return sample{}, err
	}
	defer tx.Close()
	defer rx.Close()
	total := uint64(n)
	el, err := pair(func() error {
		next := uint64(0)
		fill := func(f []uint64) int {
			k := min(uint64(len(f)), uint64(batch), total-next)
			for i := range k {
				f[i] = next + i
			}
			next += k
			return int(k)
		}
		for next < total {
			if _, err := tx.SendWait(ctx, fill); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		want, bad := uint64(0), false
		read := func(d []uint64) int {
			k := min(len(d), batch)
			for _, v := range d[:k] {
				bad = bad || v != want
				want++
			}
			return k
		}
		for want < total {
			if _, err := rx.RecvWait(ctx, read); err != nil {
				return err
			}
		}
		if bad {
			return errors.New("fdring: wrong element")
		}
		return nil
	}, func() { rx.Close() })
	return sample{units: float64(n), elapsed: el}, err
}

// ringPutGet moves n elements one per call with Put and Get.
func ringPutGet(ctx context.Context, n int64) (sample, error) {
	tx, rx, err := fdring.New[uint64](ringCap)
	if err != nil {
		return sample{}, err
	}
	defer tx.Close()
	defer rx.Close()
	total := uint64(n)
	el, err := pair(func() error {
		for i := range total {
			if err := tx.Put(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		bad := false
		for i := range total {
			v, err := rx.Get(ctx)
			if err != nil {
				return err
			}
			bad = bad || v != i
		}
		if bad {
			return errors.New("fdring: wrong element")
		}
		return nil
	}, func() { rx.Close() })
	return sample{units: float64(n), elapsed: el}, err
}

// bareU64 is ringU64 on the bare ring: the same fill and read callbacks,
// and runtime.Gosched where fdring would spin and sleep.
func bareU64(ctx context.Context, n int64, batch int) (sample, error) {
	tx, rx := newBare(ringCap)
	total := uint64(n)
	var stop atomic.Bool // the consumer failed: the producer gives up
	el, err := pair(func() error {
		next := uint64(0)
		fill := func(f []uint64) int {
			k := min(uint64(len(f)), uint64(batch), total-next)
			for i := range k {
				f[i] = next + i
			}
			next += k
			return int(k)
		}
		for next < total {
			if tx.send(fill) == 0 {
				if stop.Load() {
					return nil
				}
				runtime.Gosched()
			}
		}
		return nil
	}, func() error {
		want, bad := uint64(0), false
		read := func(d []uint64) int {
			k := min(len(d), batch)
			for _, v := range d[:k] {
				bad = bad || v != want
				want++
			}
			return k
		}
		for want < total {
			if rx.recv(read) == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				runtime.Gosched()
			}
		}
		if bad {
			return errors.New("bare: wrong element")
		}
		return nil
	}, func() { stop.Store(true) })
	return sample{units: float64(n), elapsed: el}, err
}

func chanU64(ctx context.Context, n int64) (sample, error) {
	ch := make(chan uint64, ringCap)
	total := uint64(n)
	el, err := pair(func() error {
		for i := range total {
			ch <- i
		}
		return nil
	}, func() error {
		bad := false
		for i := range total {
			bad = bad || <-ch != i
		}
		if bad {
			return errors.New("chan: wrong element")
		}
		return nil
	}, func() {})
	return sample{units: float64(n), elapsed: el}, err
}

const ringChunk = 4 << 10

func ringBytes(ctx context.Context, n int64) (sample, error) {
	tx, rx, err := fdring.New[byte](ringCap * ringChunk)
	if err != nil {
		return sample{}, err
	}
	defer tx.Close()
	defer rx.Close()
	chunks := max(1, n/ringChunk)
	el, err := pair(func() error {
		w := fdring.NewWriter(tx).WithContext(ctx)
		src := pattern(ringChunk)
		for i := range chunks {
			stamp(src, i)
			if _, err := w.Write(src); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		rd := fdring.NewReader(rx).WithContext(ctx)
		return readChunksFrom(rd, make([]byte, ringChunk), chunks)
	}, func() { rx.Close() })
	return sample{units: float64(chunks * ringChunk), elapsed: el}, err
}

func chanBytes(ctx context.Context, n int64) (sample, error) {
	ch := make(chan [ringChunk]byte, ringCap)
	chunks := max(1, n/ringChunk)
	el, err := pair(func() error {
		var src [ringChunk]byte
		copy(src[:], pattern(ringChunk))
		for i := range chunks {
			stamp(src[:], i)
			ch <- src // copies the 4 KiB into the channel
		}
		return nil
	}, func() error {
		var (
			dst [ringChunk]byte
			err error
		)
		for i := range chunks {
			dst = <-ch // copies them out
			if e := checkStamp(dst[:], i); e != nil && err == nil {
				err = e // keep draining: the producer must finish
			}
		}
		return err
	}, func() {})
	return sample{units: float64(chunks * ringChunk), elapsed: el}, err
}

func pipeBytes(ctx context.Context, n int64) (sample, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return sample{}, err
	}
	defer r.Close()
	if dl, ok := ctx.Deadline(); ok {
		r.SetDeadline(dl)
		w.SetDeadline(dl)
	}
	chunks := max(1, n/ringChunk)
	el, err := pair(func() error {
		defer w.Close()
		src := pattern(ringChunk)
		for i := range chunks {
			stamp(src, i)
			if _, err := w.Write(src); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		return readChunksFrom(r, make([]byte, ringChunk), chunks)
	}, func() { r.Close() })
	return sample{units: float64(chunks * ringChunk), elapsed: el}, err
}

func readChunksFrom(r io.Reader, dst []byte, chunks int64) error {
	for i := range chunks {
		if _, err := io.ReadFull(r, dst); err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
		if err := checkStamp(dst, i); err != nil {
			return err
		}
	}
	return nil
}
