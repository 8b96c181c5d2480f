package main

// Fanin case procs/u64-batch1: the per-item cost across processes.
// procsProducers child processes each send a sequence of uint64 one item
// per call into this process, where one loop.Loop thread (no spin) drains
// them all and checks every item:
//
//	fdring      each child Dials a ring of 1024 uint64 and sends each item
//	            with Put (which waits when the ring is full)
//	unixsocket  each child writes each item with one write(2) of 8 bytes on
//	            a socketpair; the loop reads whatever is there (up to 64 KiB
//	            per read) from every socket that is readable
//
// So both senders pay their per-item cost, and both receivers batch.
// syscalls/msg counts the read and write syscalls of this process and of
// the children (/proc/PID/io) plus the loop's polls, per item: exact for
// unixsocket, a lower bound for fdring, whose wakeups go out with sendto
// and are drained with recvmmsg (not in /proc/PID/io).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
	"golang.org/x/sys/unix"
)

const procsProducers = 2

type faninArgs struct {
	Impl  string
	Path  string // fdring: where this process listens
	Items int64  // per producer
}

func procsCase() benchCase {
	bc := benchCase{name: "procs/u64-batch1", unit: "items/s", kind: throughput, n0: 1 << 18, nMin: 1 << 14, nMax: 1 << 34}
	for _, im := range []string{"fdring", "unixsocket"} {
		bc.impls = append(bc.impls, impl{name: im, run: func(ctx context.Context, n int64) (sample, error) {
			return runFanInProcs(ctx, im, n)
		}})
	}
	return bc
}

func runFanInProcs(ctx context.Context, im string, n int64) (_ sample, err error) {
	dir, cleanup, err := tempDir()
	if err != nil {
		return sample{}, err
	}
	defer cleanup()
	a := faninArgs{Impl: im, Path: filepath.Join(dir, "fanin"), Items: max(1, n/procsProducers)}
	total := uint64(a.Items) * procsProducers
	lp, err := loop.New()
	if err != nil {
		return sample{}, err
	}
	defer lp.Close()
	var (
		got   uint64
		ferr  error
		procs []*proc
	)
	defer func() {
		if err != nil {
			for _, p := range procs {
				p.kill()
			}
		}
	}()
	count := func(k int, err error) {
		got += uint64(k)
		if err != nil && ferr == nil {
			ferr = err
		}
		if got == total || ferr != nil {
			lp.Stop()
		}
	}

	switch im {
	case "fdring":
		l, err := fdring.Listen(a.Path)
		if err != nil {
			return sample{}, err
		}
		defer l.Close()
		for range procsProducers {
			p, err := spawn(ctx, "fanin-producer", a)
			if err != nil {
				return sample{}, err
			}
			procs = append(procs, p)
		}
		for i := range procsProducers {
			rx, err := fdring.AcceptContext[uint64](ctx, l)
			if err != nil {
				return sample{}, fmt.Errorf("accept: %w", err)
			}
			defer rx.Close()
			if _, err := lp.Watch(rx, ringDrain(rx, i, count), loop.Readable); err != nil {
				return sample{}, err
			}
		}
	case "unixsocket":
		buf := make([]byte, 64<<10)
		for i := range procsProducers {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return sample{}, err
			}
			defer unix.Close(fds[0])
			child := os.NewFile(uintptr(fds[1]), "sock")
			p, err := spawn(ctx, "fanin-producer", a, child)
			child.Close()
			if err != nil {
				return sample{}, err
			}
			procs = append(procs, p)
			if err := unix.SetNonblock(fds[0], true); err != nil {
				return sample{}, err
			}
			f := &sockFeed{fd: fds[0], id: i, buf: buf}
			if _, err := lp.Watch(loop.FD(fds[0]), loop.HandlerFunc(func(loop.Token, loop.Event) {
				count(f.drain())
			}), loop.Readable); err != nil {
				return sample{}, err
			}
		}
	default:
		return sample{}, fmt.Errorf("unknown impl %q", im)
	}
	for _, p := range procs {
		if _, err := p.expect("ready"); err != nil {
			return sample{}, err
		}
	}
	io0, err := procsIO(procs)
	if err != nil {
		return sample{}, err
	}
	st0 := lp.Stats()
	start := time.Now()
	for _, p := range procs {
		if err := p.send("go"); err != nil {
			return sample{}, err
		}
	}
	runErr := lp.Run(ctx)
	el := time.Since(start)
	st1 := lp.Stats()
	io1, ioErr := procsIO(procs)
	if err := errors.Join(runErr, ferr, ioErr); err != nil {
		return sample{}, err
	}
	if got != total {
		return sample{}, fmt.Errorf("got %d items, want %d", got, total)
	}
	for _, p := range procs {
		if err := p.finish(); err != nil {
			return sample{}, fmt.Errorf("producer: %w", err)
		}
	}
	procs = nil
	calls := float64(io1.syscr-io0.syscr+io1.syscw-io0.syscw) +
		float64(st1.PollsBlocking-st0.PollsBlocking+st1.PollsNonBlocking-st0.PollsNonBlocking)
	return sample{units: float64(got), elapsed: el,
		extra: map[string]float64{"syscalls/msg": calls / float64(got)}}, nil
}

// ringDrain is the handler of producer id's ring: it drains it, checking
// that items arrive as 0, 1, 2, ...
func ringDrain(rx *fdring.Receiver[uint64], id int, count func(int, error)) loop.Handler {
	want := uint64(0)
	var bad error
	read := func(d []uint64) int {
		for _, v := range d {
			if v != want && bad == nil {
				bad = fmt.Errorf("producer %d: item %d, want %d", id, v, want)
			}
			want++
		}
		return len(d)
	}
	return loop.HandlerFunc(func(loop.Token, loop.Event) {
		for {
			k, err := rx.Recv(read)
			if err == nil {
				err = bad
			}
			count(k, err)
			if k == 0 || err != nil {
				return
			}
		}
	})
}

// sockFeed is one producer's socket: it reads what is there and checks
// the items, keeping a partial item for the next read.
type sockFeed struct {
	fd, id int
	buf    []byte // shared by all feeds of the loop
	want   uint64
	carry  [8]byte
	nc     int
}

// drain reads until the socket is empty and returns the items it got.
func (f *sockFeed) drain() (int, error) {
	items := 0
	for {
		copy(f.buf, f.carry[:f.nc])
		k, err := unix.Read(f.fd, f.buf[f.nc:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return items, nil
		case err != nil:
			return items, err
		case k == 0:
			return items, fmt.Errorf("producer %d: hung up after %d items", f.id, f.want)
		}
		data := f.buf[:f.nc+k]
		whole := len(data) &^ 7
		for off := 0; off < whole; off += 8 {
			if v := binary.LittleEndian.Uint64(data[off:]); v != f.want {
				return items, fmt.Errorf("producer %d: item %d, want %d", f.id, v, f.want)
			}
			f.want++
			items++
		}
		f.nc = copy(f.carry[:], data[whole:])
	}
}

// procsIO adds up the read and write syscalls of this process and of the
// children.
func procsIO(procs []*proc) (ioCounts, error) {
	c, err := procIO("self")
	for _, p := range procs {
		cc, perr := procIO(fmt.Sprint(p.cmd.Process.Pid))
		c.syscr += cc.syscr
		c.syscw += cc.syscw
		err = errors.Join(err, perr)
	}
	return c, err
}

// faninProducer is the child: Items items, one per call.
func faninProducer(ctl *childCtl) error {
	var a faninArgs
	if err := ctl.decode(&a); err != nil {
		return err
	}
	ctx := context.Background()
	var produce func() error
	switch a.Impl {
	case "fdring":
		tx, err := fdring.DialContext[uint64](ctx, a.Path, ringCap)
		if err != nil {
			return err
		}
		defer tx.Close()
		produce = func() error {
			for i := range uint64(a.Items) {
				if err := tx.Put(ctx, i); err != nil {
					return err
				}
			}
			return nil
		}
	case "unixsocket":
		var b [8]byte
		produce = func() error {
			for i := range uint64(a.Items) {
				binary.LittleEndian.PutUint64(b[:], i)
				if err := writeFull(3, b[:]); err != nil {
					return err
				}
			}
			return nil
		}
	default:
		return fmt.Errorf("unknown impl %q", a.Impl)
	}
	ctl.ready("")
	if err := ctl.wait("go"); err != nil {
		return err
	}
	if err := produce(); err != nil {
		return err
	}
	// Stay until the parent has read everything (it closes our stdin).
	return ctl.wait("exit")
}
