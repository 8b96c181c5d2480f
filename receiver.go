package fdring

import (
	"context"
	"fmt"
	"io"

	"github.com/fdring/fdring/notify"
	"github.com/fdring/fdring/ring"
)

// Receiver is the consumer side of a channel.
type Receiver[T any] struct {
	rx *ring.Receiver[T]
	ch *channel[T]
	side
}

func newReceiver[T any](c *channel[T]) *Receiver[T] {
	return &Receiver[T]{rx: c.ring.Receiver(), ch: c, side: side{own: c.data, peer: c.space, spin: c.spin, unref: c.unref, op: "receive"}}
}

// Recv calls read with the largest contiguous readable slice of the ring
// (never empty) and frees the n elements read reports consumed. The slice
// is ring memory: valid only during the call. Recv never blocks: when the
// ring is empty it returns (0, nil) without calling read. After the sender
// closed and everything was consumed it returns io.EOF; after the peer
// process died (and everything it committed was consumed) ErrPeerGone;
// after this side's Close ErrClosed; on a broken ring ErrCorrupt.
//
// A read that returns a count outside 0..len(data) panics: a programming
// error; nothing is freed.
func (r *Receiver[T]) Recv(read func(data []T) int) (int, error) {
	if r.state.closed() {
		return 0, ErrClosed
	}
	n, wake := r.rx.Recv(read)
	if wake {
		return n, r.kick()
	}
	if n == 0 {
		return 0, r.err()
	}
	return n, nil
}

// RecvWait is Recv that waits for data: it spins for the channel's spin
// time, then sleeps until the sender publishes, ctx ends (ctx.Err()), the
// stream ends (io.EOF, ErrPeerGone) or this side is closed (ErrClosed). It
// returns once read was called (its count, possibly 0) or with an error.
func (r *Receiver[T]) RecvWait(ctx context.Context, read func(data []T) int) (int, error) {
	if data, err := r.Peek(); len(data) > 0 || err != nil {
		return r.read(data, err, read)
	}
	if !r.state.enter() {
		return 0, ErrClosed
	}
	defer r.exit()
	for {
		if err := r.sleep(ctx, r.Ready, r.Arm, r.rx.Disarm); err != nil {
			return 0, err
		}
		if data, err := r.Peek(); len(data) > 0 || err != nil {
			return r.read(data, err, read)
		}
	}
}

func (r *Receiver[T]) read(data []T, err error, read func([]T) int) (int, error) {
	if err != nil {
		return 0, err
	}
	n := read(data)
	checkCount("read", n, len(data))
	return n, r.Release(n)
}

// Peek returns the largest contiguous readable slice of the ring, for
// callers that cannot use a closure (conn.Write straight from ring memory).
// The elements stay in the ring until Release. It returns (nil, nil) when
// the ring is empty, and the errors of Recv.
func (r *Receiver[T]) Peek() ([]T, error) {
	if r.state.closed() {
		return nil, ErrClosed
	}
	if data := r.rx.Peek(); len(data) > 0 {
		return data, nil
	}
	return nil, r.err()
}

// Release frees the first n elements of the slice Peek returned. An n
// outside 0..len(peeked) panics (a programming error).
func (r *Receiver[T]) Release(n int) error {
	if r.rx.Release(n) {
		return r.kick()
	}
	return nil
}

// Wait blocks until there is data or a Recv would return an error (then
// it returns that error, io.EOF included), or ctx ends. It spins first,
// like RecvWait.
func (r *Receiver[T]) Wait(ctx context.Context) error {
	if r.Ready() {
		return r.err()
	}
	if !r.state.enter() {
		return ErrClosed
	}
	defer r.exit()
	if err := r.sleep(ctx, r.Ready, r.Arm, r.rx.Disarm); err != nil {
		return err
	}
	return r.err()
}

// err explains why there is nothing to read: nil when the ring is merely
// empty.
func (r *Receiver[T]) err() error {
	if r.state.closed() {
		return ErrClosed
	}
	if err := r.rx.Err(); err != nil {
		return fmt.Errorf("fdring: receive: %w", err)
	}
	if r.rx.Done() {
		return io.EOF
	}
	if r.ch.gone.Load() {
		// The peer is dead, so its last stores are visible: one more
		// look for data it committed before it died.
		if r.rx.Ready() && !r.rx.Done() && r.rx.Err() == nil {
			return nil
		}
		return fmt.Errorf("fdring: receive: %w", ErrPeerGone)
	}
	return nil
}

// Close tells the sender that nobody reads any more (its Send returns
// ErrClosed). Data still in the ring is dropped. It wakes a RecvWait of
// this side in progress (which returns ErrClosed), releases this side's fds
// once nothing uses them, and is idempotent and safe from any goroutine.
func (r *Receiver[T]) Close() error { return r.close(r.rx.Close) }

// Fd returns the data-ready fd: it becomes readable when the sender
// publishes or closes after this side armed (see Arm). For event loops.
func (r *Receiver[T]) Fd() int { return r.ch.data.Fd() }

// Ready reports whether a Recv would return data or an error (io.EOF
// included). It never blocks and makes no syscall.
func (r *Receiver[T]) Ready() bool {
	return r.rx.Ready() || r.state.closed() || r.ch.gone.Load()
}

// Arm declares that the caller is about to wait for Fd, then re-checks: it
// returns true when there is data (or an end) already: do not wait. For
// event loops; RecvWait does this itself.
func (r *Receiver[T]) Arm() bool {
	if r.state.closed() || r.ch.gone.Load() {
		return true
	}
	return r.rx.Arm()
}

// WaitClear consumes the signal on Fd after it fired.
func (r *Receiver[T]) WaitClear() error { return r.ch.data.Clear() }

// EdgeTriggered reports whether Fd is an eventfd, which an event loop may
// register edge-triggered and never clear (see loop.EdgeSource).
func (r *Receiver[T]) EdgeTriggered() bool { return notify.Edge(r.ch.data) }

// Cap returns the ring's capacity in elements.
func (r *Receiver[T]) Cap() int { return r.ch.ring.Cap() }

// Stats returns this side's counters. Safe from any goroutine.
func (r *Receiver[T]) Stats() Stats {
	return Stats{
		Sent:     r.ch.ring.Sender().Sent(),
		Received: r.rx.Received(),
		Signals:  r.signals.Load(),
		Waits:    r.waits.Load(),
	}
}
