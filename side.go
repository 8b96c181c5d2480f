package fdring

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fdring/fdring/notify"
)

// side is what a Sender and a Receiver have in common, off the fast path:
// the lifecycle word, the fd it waits on (own) and the fd it signals
// (peer), the lazily made Waiter, the slow-path counters and the counters
// kept at Close.
//
// Lifetimes. Close may come from any goroutine at any time. It never frees
// anything a call in progress can touch:
//
//   - The ring's memory stays mapped and intact after Close, so a callback,
//     a held Peek or Reserve slice or an io.Copy in progress in the owner's
//     goroutine goes on reading real data and writing memory that exists.
//     Across processes the owner's next call that sees the side closed
//     (which proves it holds no slice any more) retires the mapping
//     (shm.Region.Retire: private zero pages over the same addresses, the
//     shared pages let go), and the address range is unmapped once the
//     ring is unreachable (a cleanup), so nothing can fault whatever the
//     order.
//   - The notifiers make a Close wait for a Signal or Clear in flight.
//   - The waiter and the channel's fds are released by whichever of Close
//     and the last blocking call (state.enter/exit) comes last.
type side struct {
	state   sideState
	waiter  atomic.Pointer[notify.Waiter]
	signals atomic.Uint64
	waits   atomic.Uint64
	last    atomic.Pointer[Stats] // the counters at Close
	// The highest Sent and Received Stats returned: the counters never go
	// backwards for an observer, whatever it races with.
	hiSent, hiReceived atomic.Uint64

	// kicked: this side woke its sleeping peer since it last waited (owner
	// goroutine only). The peer is then about to run, so the next wait
	// spins for at least a wakeup's latency instead of going to sleep too.
	kicked bool

	own, peer notify.Notifier
	spin      time.Duration
	gone      *atomic.Bool           // the channel's: the peer process is gone
	markGone  func()                 // records the peer's death (the channel's)
	retireMem func()                 // lets go of shared memory once the owner is done with it (the channel's)
	wakeOwn   func()                 // makes the own fd readable, so a waiter on it looks
	loopWake  atomic.Pointer[func()] // wakes the event loop that watches this side (SetWake)
	unref     func() error           // drops this side's reference to the channel
	op        string                 // "send" or "receive", for errors
}

// signal wakes the peer, which declared it sleeps.
func (s *side) signal() error {
	s.signals.Add(1)
	err := s.peer.Signal()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, notify.ErrClosed):
		return fmt.Errorf("fdring: %s: %w", s.op, ErrClosed)
	case errors.Is(err, notify.ErrHangup):
		// Nobody to wake: the peer closed or died. The side's next call
		// says which (ErrClosed, io.EOF or ErrPeerGone).
		s.markGone()
		return nil
	}
	return fmt.Errorf("fdring: %s: %w", s.op, err)
}

// kick signals the peer after a publish that claimed its wakeup.
func (s *side) kick() error {
	s.kicked = true
	return s.signal()
}

// wait returns once ready reports true, after a wakeup, or with ctx's error
// or ErrClosed. It spins first, then declares with arm (which re-checks)
// and sleeps on the own fd; disarm withdraws a declaration it abandons.
// The caller re-checks its condition after a nil return.
func (s *side) wait(ctx context.Context, ready, arm func() bool, disarm func()) error {
	if !s.state.enter() {
		return ErrClosed
	}
	defer s.exit()
	if spinUntil(s.spinTime(), ready) {
		return nil
	}
	if arm() {
		return nil
	}
	w, err := s.getWaiter()
	if err != nil {
		disarm()
		return err
	}
	s.waits.Add(1)
	err = w.Wait(ctx)
	if err == nil {
		return nil
	}
	disarm()
	switch {
	case s.state.closed():
		return ErrClosed
	case errors.Is(err, notify.ErrHangup):
		// The peer's end of our wakeup socket is gone: it died, or broke
		// the protocol. The caller's re-check reports ErrPeerGone once
		// everything it committed was delivered.
		s.markGone()
		return nil
	case errors.Is(err, notify.ErrInterrupted):
		return nil // the liveness watch saw the peer die: re-check
	case errors.Is(err, notify.ErrClosed):
		return ErrClosed
	}
	return err
}

func (s *side) spinTime() time.Duration {
	if s.kicked {
		s.kicked = false
		return max(s.spin, wakeSpin(s.spin))
	}
	return s.spin
}

func (s *side) getWaiter() (*notify.Waiter, error) {
	if w := s.waiter.Load(); w != nil {
		return w, nil
	}
	w, err := notify.NewWaiter(s.own.Fd())
	if err != nil {
		return nil, fmt.Errorf("fdring: %s wait: %w", s.op, err)
	}
	s.waiter.Store(w)
	// close stores closedBit before it loads waiter; we stored waiter
	// before this load: one of us sees the other (sequential consistency).
	if s.state.closed() {
		return nil, ErrClosed
	}
	return w, nil
}

// interrupt makes a wait in progress return and re-check, and wakes the
// event loop that watches the side (the liveness watch calls it when the
// peer died, Close when it closes). Safe from any goroutine.
func (s *side) interrupt() {
	if w := s.waiter.Load(); w != nil {
		w.Interrupt()
	}
	if f := s.loopWake.Load(); f != nil {
		(*f)()
	}
}

// wakeAll wakes everyone who may sleep on this side: a wait, the event
// loop that watches it, and anyone polling its fd (the peer is gone).
func (s *side) wakeAll() {
	s.interrupt()
	s.wakeOwn()
}

// setWake installs (or, with nil, removes) the function that wakes the
// event loop watching the side.
func (s *side) setWake(wake func()) {
	if wake == nil {
		s.loopWake.Store(nil)
		return
	}
	s.loopWake.Store(&wake)
}

// close marks the side closed, keeps its counters, publishes the close in
// the ring (ringClose reports whether the peer sleeps and must be
// signalled), interrupts a wait in progress and releases the side once no
// blocking call uses it.
func (s *side) close(stats func() Stats, ringClose func() bool) error {
	if s.state.closed() {
		return nil
	}
	// The ring's close comes first: once the side is marked closed, a
	// blocking call that ends may release the channel, and the peer must
	// find the clean close in the ring by then (io.EOF or ErrClosed, not
	// ErrPeerGone). ringClose is idempotent on its own.
	wake := ringClose()
	// The closer counts as a call in progress until it is done with the
	// fds (signal, wakeOwn): whichever of it and the blocking calls ends
	// last releases them, so nothing here touches a closed fd number that
	// the process may have reused.
	if !s.state.beginClose() {
		return nil
	}
	var err error
	st := stats()
	s.last.Store(&st)
	if wake {
		if serr := s.signal(); serr != nil && !errors.Is(serr, ErrPeerGone) {
			err = serr
		}
	}
	s.interrupt()
	s.wakeOwn()
	if s.state.exit() {
		if rerr := s.release(); err == nil {
			err = rerr
		}
	}
	return err
}

// retire lets go of the shared memory: called by an owner's call that saw
// the side closed. It waits until Close kept the last counters (which it
// reads from that memory); until then the next owner call, or the
// cleanup, does it.
func (s *side) retire() {
	if s.last.Load() != nil {
		s.retireMem()
	}
}

// statsAfterClose returns st, or the counters kept at Close once closed:
// the shared memory may hold zeros by then (it is retired at Close). st must
// be read before closed is loaded: Close keeps its counters before it marks
// the side closed, and retires the memory after, so a closed of false means
// st was read from the live memory.
func (s *side) statsAfterClose(closed bool, st Stats) Stats {
	if closed {
		if p := s.last.Load(); p != nil {
			st = *p
		}
	}
	st.Sent = raise(&s.hiSent, st.Sent)
	st.Received = raise(&s.hiReceived, st.Received)
	return st
}

// raise makes hi at least v and returns the result.
func raise(hi *atomic.Uint64, v uint64) uint64 {
	for {
		h := hi.Load()
		if v <= h {
			return h
		}
		if hi.CompareAndSwap(h, v) {
			return v
		}
	}
}

// exit ends a blocking call (state.enter) and releases the side if it was
// closed meanwhile.
func (s *side) exit() {
	if s.state.exit() {
		s.release()
	}
}

func (s *side) release() error {
	var err error
	if w := s.waiter.Load(); w != nil {
		err = w.Close()
	}
	if cerr := s.unref(); err == nil {
		err = cerr
	}
	return err
}

// clearOwn consumes the signal on the own fd (for event loops).
func (s *side) clearOwn() error {
	if s.state.closed() {
		return fmt.Errorf("fdring: %s: %w", s.op, ErrClosed)
	}
	err := s.own.Clear()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, notify.ErrHangup):
		s.markGone()
		return nil // the handler's next call reports ErrPeerGone
	case errors.Is(err, notify.ErrClosed):
		return fmt.Errorf("fdring: %s: %w", s.op, ErrClosed)
	}
	return fmt.Errorf("fdring: %s: %w", s.op, err)
}

// fd returns the own fd, or -1 once closed.
func (s *side) fd() int {
	if s.state.closed() {
		return -1
	}
	return s.own.Fd()
}

// sideState is a side's lifecycle word: closedBit once Close was called, and
// below it the number of blocking calls in progress. The side's waiter and
// channel reference are released by whichever of Close and the last
// blocking call comes last, so Close may wake a blocked SendWait/RecvWait
// from another goroutine without pulling its fds from under it.
type sideState struct{ v atomic.Int32 }

const closedBit = 1 << 30

func (s *sideState) closed() bool { return s.v.Load()&closedBit != 0 }

// enter registers a blocking call; false when the side is closed.
func (s *sideState) enter() bool {
	for {
		v := s.v.Load()
		if v&closedBit != 0 {
			return false
		}
		if s.v.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// exit ends a blocking call; true when the caller must release the side.
func (s *sideState) exit() bool { return s.v.Add(-1) == closedBit }

// beginClose marks the side closed and registers the closer as a call in
// progress (ended with exit); false when it was closed already.
func (s *sideState) beginClose() bool {
	for {
		v := s.v.Load()
		if v&closedBit != 0 {
			return false
		}
		if s.v.CompareAndSwap(v, (v|closedBit)+1) {
			return true
		}
	}
}
