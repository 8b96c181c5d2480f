package loop

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fdring/fdring/notify"
	"golang.org/x/sys/unix"
)

// fakeRing is a minimal SPSC ring of uint64 with the wakeup protocol the
// loop expects from a RingSource (the receiver side):
//
//   - the consumer, before sleeping, stores waiting=1 and THEN re-checks tail
//     (Arm);
//   - the producer, after publishing tail, loads waiting and only if it is 1
//     CASes it 1->0 and writes the wake fd (an eventfd on Linux).
//
// Sequentially consistent atomics make the two store->load pairs safe: the
// consumer sees the data or the producer sees the flag.
type fakeRing struct {
	head    atomic.Uint64 // consumer-owned
	_       [120]byte
	tail    atomic.Uint64 // producer-owned
	_       [120]byte
	waiting atomic.Uint32
	closed  atomic.Bool
	_       [120]byte
	signals atomic.Uint64 // wake fd writes made by the producer
	buf     []uint64
	mask    uint64
	w       notify.Notifier
	pHead   uint64 // producer's cached head

	edge     bool                   // EdgeTriggered's answer (set before watching)
	wake     atomic.Pointer[func()] // what SetWake set
	clears   atomic.Uint64          // WaitClear calls
	afterArm func()                 // if set, called by Arm after its re-check
}

func newFakeRing(tb testing.TB, capacity int) *fakeRing {
	tb.Helper()
	if capacity&(capacity-1) != 0 {
		tb.Fatalf("capacity %d not a power of two", capacity)
	}
	w, err := notify.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	return &fakeRing{buf: make([]uint64, capacity), mask: uint64(capacity - 1), w: w}
}

// Producer side.

func (r *fakeRing) trySend(v uint64) bool {
	t := r.tail.Load()
	if t-r.pHead == uint64(len(r.buf)) {
		r.pHead = r.head.Load()
		if t-r.pHead == uint64(len(r.buf)) {
			return false
		}
	}
	r.buf[t&r.mask] = v
	r.tail.Store(t + 1)
	r.signal()
	return true
}

// sendBatch sends values start, start+1, ... up to n of them; returns how many.
func (r *fakeRing) sendBatch(start uint64, n int) int {
	t := r.tail.Load()
	free := uint64(len(r.buf)) - (t - r.pHead)
	if free < uint64(n) {
		r.pHead = r.head.Load()
		free = uint64(len(r.buf)) - (t - r.pHead)
	}
	k := min(uint64(n), free)
	for i := range k {
		r.buf[(t+i)&r.mask] = start + i
	}
	if k > 0 {
		r.tail.Store(t + k)
		r.signal()
	}
	return int(k)
}

func (r *fakeRing) signal() {
	if r.waiting.Load() == 1 && r.waiting.CompareAndSwap(1, 0) {
		r.signals.Add(1)
		r.w.Signal()
	}
}

// send spins (yielding) until v fits or ctx ends.
func (r *fakeRing) send(ctx context.Context, v uint64) bool {
	for i := 0; !r.trySend(v); i++ {
		if i&1023 == 1023 && ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return true
}

func (r *fakeRing) closeSend() {
	r.closed.Store(true)
	r.signal()
}

// Consumer side: RingSource.

func (r *fakeRing) Fd() int { return r.w.Fd() }

func (r *fakeRing) Ready() bool { return r.tail.Load() != r.head.Load() || r.closed.Load() }

func (r *fakeRing) Arm() bool {
	r.waiting.Store(1)
	ready := r.Ready()
	if r.afterArm != nil {
		r.afterArm()
	}
	return ready
}

func (r *fakeRing) WaitClear() error {
	r.clears.Add(1)
	return r.w.Clear()
}

func (r *fakeRing) EdgeTriggered() bool { return r.edge && notify.Edge(r.w) }

func (r *fakeRing) SetWake(wake func()) {
	if wake == nil {
		r.wake.Store(nil)
		return
	}
	r.wake.Store(&wake)
}

// wakeFunc returns what SetWake set, or nil.
func (r *fakeRing) wakeFunc() func() {
	if p := r.wake.Load(); p != nil {
		return *p
	}
	return nil
}

// recv consumes everything available; it reports how many and whether the
// producer closed and everything was consumed.
func (r *fakeRing) recv(fn func(v uint64)) (n int, done bool) {
	closed := r.closed.Load() // before reading tail: a close is after the last send
	h, t := r.head.Load(), r.tail.Load()
	for i := h; i != t; i++ {
		fn(r.buf[i&r.mask])
	}
	r.head.Store(t)
	return int(t - h), closed && r.tail.Load() == t
}

// waitReady blocks the calling (non-loop) goroutine until r is Ready: spin
// for up to spin, then arm and poll the fd, until ctx ends.
func (r *fakeRing) waitReady(ctx context.Context, spin time.Duration) bool {
	if spin > 0 {
		start := time.Now()
		for time.Since(start) < spin {
			if r.Ready() {
				return true
			}
		}
	}
	for ctx.Err() == nil {
		if r.Arm() {
			return true
		}
		fds := []unix.PollFd{{Fd: int32(r.Fd()), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 100); err != nil && err != unix.EINTR {
			return false
		}
		r.WaitClear()
	}
	return false
}

func yield() { runtime.Gosched() }
