package fdring

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fdring/fdring/notify"
)

// side is what a Sender and a Receiver have in common: the lifecycle word,
// the fd it waits on (own) and the fd it signals (peer), the lazily made
// Waiter, and the slow-path counters. Everything here is off the fast path.
type side struct {
	state   sideState
	waiter  atomic.Pointer[notify.Waiter]
	signals atomic.Uint64
	waits   atomic.Uint64

	// kicked: this side woke its sleeping peer since it last waited (owner
	// goroutine only). The peer is then about to run, so the next wait
	// spins for at least a wakeup's latency instead of going to sleep too.
	kicked bool

	own, peer notify.Notifier
	spin      time.Duration
	unref     func() error // drops this side's reference to the channel
	op        string       // "send" or "receive", for errors
}

// signal wakes the peer, which declared it sleeps.
func (s *side) signal() error {
	s.signals.Add(1)
	if err := s.peer.Signal(); err != nil {
		return fmt.Errorf("fdring: %s: %w", s.op, err)
	}
	return nil
}

// kick signals the peer after a publish that claimed its wakeup.
func (s *side) kick() error {
	s.kicked = true
	return s.signal()
}

// sleep returns once ready reports true, or with ctx's error or ErrClosed.
// It spins first, then declares with arm (which re-checks) and sleeps on
// the own fd; disarm withdraws a declaration it abandons. The caller holds
// the side (state.enter).
func (s *side) sleep(ctx context.Context, ready, arm func() bool, disarm func()) error {
	if spinUntil(s.spinTime(), ready) {
		return nil
	}
	for {
		if arm() {
			return nil
		}
		w, err := s.getWaiter()
		if err != nil {
			disarm()
			return err
		}
		s.waits.Add(1)
		if err := w.Wait(ctx); err != nil {
			disarm()
			if s.state.closed() {
				return ErrClosed
			}
			return err
		}
	}
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

// close marks the side closed, publishes that in the ring (ringClose
// reports whether the peer sleeps and must be signalled), interrupts a wait
// in progress and releases the side once no blocking call uses it.
func (s *side) close(ringClose func() bool) error {
	first, release := s.state.close()
	if !first {
		return nil
	}
	var err error
	if ringClose() {
		err = s.signal()
	}
	if w := s.waiter.Load(); w != nil {
		w.Interrupt()
	}
	if release {
		if rerr := s.release(); err == nil {
			err = rerr
		}
	}
	return err
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
