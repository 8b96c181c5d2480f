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
// kept at Close, and the methods that are the same for both (Ready, Arm,
// Wait, Fd, WaitClear, EdgeTriggered, SetWake, Cap, Stats: promoted to
// Sender and Receiver, written once here).
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
	rs       ringSide     // the ring's side of the same direction
	counters func() Stats // reads the live counters (Sent, Received from the ring)
	errf     func() error // why the side takes or gives nothing (nil: merely full or empty)
	capacity int

	state   sideState
	waiter  atomic.Pointer[notify.Waiter]
	signals atomic.Uint64
	waits   atomic.Uint64
	last    atomic.Pointer[Stats] // the counters at Close
	// The highest Sent and Received Stats returned: the counters never go
	// backwards for an observer, whatever it races with.
	hiSent, hiReceived atomic.Uint64

	// wokePeer: this side woke its sleeping peer since it last waited (owner
	// goroutine only). The peer is then about to run, so the next wait
	// spins for at least a wakeup's latency instead of going to sleep too.
	wokePeer bool

	own, peer notify.Notifier
	spin      time.Duration
	gone      *atomic.Bool           // the channel's: the peer process is gone
	markGone  func()                 // records the peer's death (the channel's)
	retireMem func()                 // lets go of shared memory once the owner is done with it (the channel's)
	wakeOwn   func()                 // makes the own fd readable, so a waiter on it looks
	loopWake  atomic.Pointer[func()] // wakes the event loop that watches this side (SetWake)
	loopPin   atomic.Bool            // a loop watches the side: it counts as a call in progress (SetWake)
	unref     func() error           // drops this side's reference to the channel
	op        string                 // "send" or "receive", for errors
}

// ringSide is the part of a ring.Sender or ring.Receiver that side uses.
type ringSide interface {
	Ready() bool
	Arm() bool
	Disarm()
	Closed() bool
	Close() (wake bool)
}

// Ready reports whether the side would make progress now: a Send would
// publish (there is room) or a Recv would read (there is data), or the
// call would return an error (io.EOF included). It never blocks and makes
// no syscall. True after Close.
func (s *side) Ready() bool {
	return s.rs.Closed() || s.gone.Load() || s.rs.Ready()
}

// Arm declares that the caller is about to wait for Fd, then re-checks:
// it returns true when the side is Ready already (do not wait). After
// false, the peer signals Fd once when it frees space (Sender) or
// publishes (Receiver), or closes. For event loops; SendWait, RecvWait and
// Wait do this themselves.
func (s *side) Arm() bool {
	return s.rs.Closed() || s.gone.Load() || s.rs.Arm()
}

// Wait blocks until the side is Ready, or ctx ends. It returns the error a
// Send or Recv would return at that point (nil when there is room or
// data; io.EOF at the end of a Receiver's stream), or ctx's error. It
// spins first, like SendWait and RecvWait.
func (s *side) Wait(ctx context.Context) error {
	for !s.Ready() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.wait(ctx); err != nil {
			return err
		}
	}
	return s.errf()
}

// Fd returns the fd this side waits on: a Sender's becomes readable when
// the receiver frees space, a Receiver's when the sender publishes or
// closes, after the side armed (see Arm). For event loops. -1 after Close.
func (s *side) Fd() int {
	if s.state.closed() {
		return -1
	}
	return s.own.Fd()
}

// WaitClear consumes the signal on Fd after it fired (for event loops that
// register Fd level-triggered). A peer that hung up is recorded (the next
// call reports ErrPeerGone, after the last element on a Receiver), not
// returned here.
func (s *side) WaitClear() error {
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

// EdgeTriggered reports whether Fd is an eventfd, which an event loop may
// register edge-triggered and never clear (see loop.RingSource).
func (s *side) EdgeTriggered() bool { return notify.Edge(s.own) }

// SetWake is called by an event loop that watches this side (see
// loop.RingSource) with a function that wakes it, safe from any goroutine;
// nil when it stops watching. Close and the peer's death call it, so a
// loop asleep finds the side Ready and its handler sees the end. While a
// loop watches the side (from SetWake with a function until SetWake(nil))
// the side keeps its fd open, also after Close: the number the loop
// registered then never names another file when the loop removes it. Call
// it from one goroutine at a time.
func (s *side) SetWake(wake func()) {
	if wake == nil {
		s.loopWake.Store(nil)
		if s.loopPin.Swap(false) {
			s.exit() // releases the fds if Close came meanwhile
		}
		return
	}
	s.loopWake.Store(&wake)
	if !s.loopPin.Load() && s.state.enter() {
		s.loopPin.Store(true)
	}
}

// Cap returns the ring's capacity in elements.
func (s *side) Cap() int { return s.capacity }

// Stats returns this side's counters. Safe from any goroutine, also after
// Close (the counters at Close).
func (s *side) Stats() Stats {
	st := s.counters() // before the closed check: see statsAfterClose
	return s.statsAfterClose(s.state.closed(), st)
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

// wakePeer signals the peer after a publish that claimed its wakeup, and
// notes that the peer is about to run (see spinTime).
func (s *side) wakePeer() error {
	s.wokePeer = true
	return s.signal()
}

// wait returns once the side is Ready, after a wakeup, or with ctx's error
// or ErrClosed. It spins first, then declares with Arm (which re-checks)
// and sleeps on the own fd; the ring's Disarm withdraws a declaration it
// abandons. The caller re-checks its condition after a nil return.
//
// It takes no funcs: a sleep allocates nothing (the Waiter reuses its
// context registration, see notify.Waiter), and the same holds for the
// spin, whose condition (a closure) does not escape.
func (s *side) wait(ctx context.Context) error {
	if !s.state.enter() {
		return ErrClosed
	}
	defer s.exit()
	// The spin ends when ctx does: the caller re-checks and returns
	// ctx.Err(), not a spin time (which may be long) later.
	if spinUntil(s.spinTime(), func() bool { return s.Ready() || ctx.Err() != nil }) {
		return nil
	}
	if s.Arm() {
		return nil
	}
	w, err := s.getWaiter()
	if err != nil {
		s.rs.Disarm()
		return err
	}
	s.waits.Add(1)
	err = w.Wait(ctx)
	if err == nil {
		return nil
	}
	s.rs.Disarm()
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

// close marks the side closed, keeps its counters, publishes the close in
// the ring (whose Close reports whether the peer sleeps and must be
// signalled), interrupts a wait in progress and releases the side once no
// blocking call uses it.
func (s *side) close() error {
	if s.state.closed() {
		return nil
	}
	// The ring's close comes first: once the side is marked closed, a
	// blocking call that ends may release the channel, and the peer must
	// find the clean close in the ring by then (io.EOF or ErrClosed, not
	// ErrPeerGone). ringClose is idempotent on its own.
	wake := s.rs.Close()
	// The closer counts as a call in progress until it is done with the
	// fds (signal, wakeOwn): whichever of it and the blocking calls ends
	// last releases them, so nothing here touches a closed fd number that
	// the process may have reused.
	if !s.state.beginClose() {
		return nil
	}
	var err error
	st := s.counters()
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
