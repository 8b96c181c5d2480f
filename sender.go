package fdring

import (
	"context"
	"fmt"

	"github.com/fdring/fdring/notify"
	"github.com/fdring/fdring/ring"
)

// Sender is the producer side of a channel.
type Sender[T any] struct {
	tx *ring.Sender[T]
	ch *channel[T]
	side
}

func newSender[T any](c *channel[T]) *Sender[T] {
	return &Sender[T]{tx: c.ring.Sender(), ch: c, side: side{own: c.space, peer: c.data, spin: c.spin, unref: c.unref, op: "send"}}
}

// Send calls fill with the largest contiguous free slice of the ring (never
// empty) and publishes the n elements fill reports written. It never
// blocks: when the ring is full it returns (0, nil) without calling fill.
// After the receiver closed it returns ErrClosed (at the latest on the call
// after the one that saw it), after this side's Close ErrClosed, and
// ErrPeerGone or ErrCorrupt when the peer died or broke the ring.
//
// A fill that returns a count outside 0..len(free) panics: a programming
// error; nothing is published.
func (s *Sender[T]) Send(fill func(free []T) int) (int, error) {
	if s.state.closed() {
		return 0, ErrClosed
	}
	n, wake := s.tx.Send(fill)
	if wake {
		return n, s.kick()
	}
	if n == 0 {
		return 0, s.err()
	}
	return n, nil
}

// SendWait is Send that waits for room: it spins for the channel's spin
// time, then sleeps until the receiver frees space, ctx ends (ctx.Err()),
// the receiver closes (ErrClosed) or this side is closed (ErrClosed). It
// returns once fill was called and wrote at least one element, or returned
// 0 (then (0, nil)).
func (s *Sender[T]) SendWait(ctx context.Context, fill func(free []T) int) (int, error) {
	if free, err := s.Reserve(); len(free) > 0 || err != nil {
		return s.fill(free, err, fill)
	}
	if !s.state.enter() {
		return 0, ErrClosed
	}
	defer s.exit()
	for {
		if err := s.sleep(ctx, s.Ready, s.Arm, s.tx.Disarm); err != nil {
			return 0, err
		}
		if free, err := s.Reserve(); len(free) > 0 || err != nil {
			return s.fill(free, err, fill)
		}
	}
}

func (s *Sender[T]) fill(free []T, err error, fill func([]T) int) (int, error) {
	if err != nil {
		return 0, err
	}
	n := fill(free)
	checkCount("fill", n, len(free))
	return n, s.Commit(n)
}

// Reserve returns the largest contiguous free slice of the ring, for callers
// that cannot use a closure (conn.Read straight into ring memory). Write
// into it, then Commit. It returns (nil, nil) when the ring is full, and the
// errors of Send.
func (s *Sender[T]) Reserve() ([]T, error) {
	if s.state.closed() {
		return nil, ErrClosed
	}
	if free := s.tx.Reserve(); len(free) > 0 {
		return free, nil
	}
	return nil, s.err()
}

// Commit publishes the first n elements of the slice Reserve returned. An n
// outside 0..len(reserved) panics (a programming error).
func (s *Sender[T]) Commit(n int) error {
	if s.tx.Commit(n) {
		return s.kick()
	}
	return nil
}

// Wait blocks until the ring has room or a Send would return an error
// (then it returns that error), or ctx ends. It spins first, like SendWait.
func (s *Sender[T]) Wait(ctx context.Context) error {
	if s.Ready() {
		return s.err()
	}
	if !s.state.enter() {
		return ErrClosed
	}
	defer s.exit()
	if err := s.sleep(ctx, s.Ready, s.Arm, s.tx.Disarm); err != nil {
		return err
	}
	return s.err()
}

// err explains why the ring takes nothing: nil when it is merely full.
func (s *Sender[T]) err() error {
	switch {
	case s.state.closed():
		return ErrClosed
	case s.ch.gone.Load():
		return ErrPeerGone
	}
	if err := s.tx.Err(); err != nil {
		return fmt.Errorf("fdring: send: %w", err)
	}
	if s.tx.Closed() {
		return fmt.Errorf("fdring: send: receiver closed: %w", ErrClosed)
	}
	return nil
}

// Close ends the stream: the receiver drains what was sent, then gets
// io.EOF. It wakes a SendWait of this side in progress (which returns
// ErrClosed), releases this side's fds once nothing uses them, and is
// idempotent and safe from any goroutine. Send after Close returns
// ErrClosed.
func (s *Sender[T]) Close() error { return s.close(s.tx.Close) }

// Fd returns the space-ready fd: it becomes readable when the receiver
// frees space after this side armed (see Arm). For event loops.
func (s *Sender[T]) Fd() int { return s.ch.space.Fd() }

// Ready reports whether a Send would make progress or return an error. It
// never blocks and makes no syscall.
func (s *Sender[T]) Ready() bool {
	return s.tx.Ready() || s.state.closed() || s.ch.gone.Load()
}

// Arm declares that the caller is about to wait for Fd, then re-checks: it
// returns true when there is room already (do not wait). For event loops;
// SendWait does this itself.
func (s *Sender[T]) Arm() bool {
	if s.state.closed() || s.ch.gone.Load() {
		return true
	}
	return s.tx.Arm()
}

// WaitClear consumes the signal on Fd after it fired.
func (s *Sender[T]) WaitClear() error { return s.ch.space.Clear() }

// EdgeTriggered reports whether Fd is an eventfd, which an event loop may
// register edge-triggered and never clear (see loop.EdgeSource).
func (s *Sender[T]) EdgeTriggered() bool { return notify.Edge(s.ch.space) }

// Cap returns the ring's capacity in elements.
func (s *Sender[T]) Cap() int { return s.ch.ring.Cap() }

// Stats returns this side's counters. Safe from any goroutine.
func (s *Sender[T]) Stats() Stats {
	return Stats{
		Sent:     s.tx.Sent(),
		Received: s.ch.ring.Receiver().Received(),
		Signals:  s.signals.Load(),
		Waits:    s.waits.Load(),
	}
}

// Stats are a side's counters. Sent and Received come from the ring's
// shared indices (free: they are published anyway); Signals and Waits are
// counted on the slow path only.
type Stats struct {
	Sent     uint64 // elements the sender published
	Received uint64 // elements the receiver consumed
	Signals  uint64 // wakeups this side sent its peer (one syscall each)
	Waits    uint64 // times this side slept on its fd
}
