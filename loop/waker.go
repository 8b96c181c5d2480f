package loop

import (
	"fmt"
	"sync/atomic"
)

// Waking the loop.
//
// Loop.state is a three-state word:
//
//	awake    the loop is running a round; it will look at posts and flags
//	         before it sleeps, so nobody needs to signal it.
//	sleeping the loop declared it is about to block in the poller.
//	woken    someone moved sleeping -> woken and owes (or made) one signal.
//
// The loop, before blocking, stores sleeping and THEN re-checks every reason
// not to sleep (mustWake: postPending, ringWoken, stop, cancellation). A
// waker first publishes its reason (posts appended and postPending stored,
// ringWoken stored, or a stop flag) and THEN
// loads the state; only the goroutine whose CAS sleeping -> woken succeeds
// writes the wake fd. Go's atomics are sequentially consistent, so of the two
// store -> load pairs at least one side sees the other: either the loop sees
// the reason and does not block, or the waker sees sleeping and signals. No
// wakeup is lost, and there is one fd write per sleep, however many Posts.
// After the poller returns, the loop stores awake. A signal that arrives
// after that leaves the fd readable and costs one spurious round, nothing
// more.
//
// The wake fd is a notify.Notifier (notify.New: an eventfd on Linux, a
// pipe elsewhere), the same kind the rings use, so its signal, clear and
// close live in one place. Loop.release closes it; the Notifier's Close
// waits for a Signal in flight and later Signals fail with notify.ErrClosed
// (ignored here: a closed loop needs no wakeup), so a late signaller never
// writes into a closed, possibly reused, fd number. Its lock is taken only
// on the slow path, when the loop really sleeps.

const (
	stateAwake uint32 = iota
	stateSleeping
	stateWoken
)

// mustWake reports the cross-goroutine reasons not to sleep (see the top
// of the file).
func (l *Loop) mustWake() bool {
	return l.postPending.Load() || l.ringWoken.Load() || l.shouldStop()
}

// wakeRing is the wake function WatchRing gives a ring (RingSource.SetWake):
// the ring's state changed without a signal on its fd. The ring published
// the change before the call; ringWoken is the reason the loop re-checks
// after it declared sleeping, so a wake between the loop's Arm of the ring
// and that declaration is not lost; the round that follows calls Ready on
// every ring. Any goroutine.
func (l *Loop) wakeRing() {
	l.ringWoken.Store(true)
	l.wakeup()
}

// wakeup makes a sleeping loop return from the poller. Any goroutine.
func (l *Loop) wakeup() {
	if l.state.Load() != stateSleeping || !l.state.CompareAndSwap(stateSleeping, stateWoken) {
		return
	}
	// ErrClosed: the loop was released and needs no wakeup. Any other
	// error would mean the fd is broken; there is nobody to report it to,
	// and the loop's next poll reports the broken fd itself.
	_ = l.wake.Signal()
}

// Waker runs a function on the loop goroutine when woken from any goroutine.
// Wake calls are coalesced: every Wake is followed by at least one run of the
// function that starts after it, and Wakes that arrive before that run share
// it.
type Waker struct {
	l       *Loop
	pending atomic.Bool
	f       func()
	run     func()
}

// NewWaker returns a Waker for l that runs f (which may be nil: then Wake
// only makes the loop run a round). Safe from any goroutine.
func (l *Loop) NewWaker(f func()) *Waker {
	w := &Waker{l: l, f: f}
	w.run = func() {
		w.pending.Store(false)
		if w.f != nil {
			w.f()
		}
	}
	return w
}

// Wake schedules the Waker's function on the loop goroutine. Safe from any
// goroutine; it allocates nothing and writes the wake fd at most once per loop
// sleep. It fails only with ErrClosed.
func (w *Waker) Wake() error {
	if !w.pending.CompareAndSwap(false, true) {
		// A run is queued, unless the loop closed and dropped it (then
		// pending stays set for good).
		if w.l.closedFlag.Load() {
			return fmt.Errorf("loop: wake: %w", ErrClosed)
		}
		return nil
	}
	if err := w.l.Post(w.run); err != nil {
		w.pending.Store(false)
		return err
	}
	return nil
}
