package fdring

import (
	"context"
	"fmt"
	"io"

	"github.com/fdring/fdring/notify"
	"github.com/fdring/fdring/ring"
)

// Receiver is the consumer side of a channel. Its methods belong to one
// goroutine at a time (the owner), except Close and Stats, which are safe
// from any goroutine at any time, during or after any other call.
type Receiver[T any] struct {
	rx *ring.Receiver[T]
	ch *channel[T]
	side
}

func newReceiver[T any](c *channel[T]) *Receiver[T] {
	r := &Receiver[T]{rx: c.ring.Receiver(), ch: c}
	r.side = side{wakeOwn: func() { c.wakeOwn(c.data) }, own: c.data, peer: c.space, spin: c.spin, gone: &c.gone, markGone: c.markGone, retireMem: c.retire, unref: c.unref, op: "receive"}
	return r
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
	n, res := r.rx.Pull(read)
	if res != ring.OK {
		return r.settle(n, res)
	}
	if n == 0 && r.gone.Load() {
		return 0, r.err()
	}
	return n, nil
}

func (r *Receiver[T]) settle(n int, res ring.Result) (int, error) {
	if res == ring.Wake {
		return n, r.kick()
	}
	return n, r.stopErr()
}

// RecvWait is Recv that waits for data: it spins for the channel's spin
// time, then sleeps until the sender publishes, ctx ends (ctx.Err()), the
// stream ends (io.EOF, ErrPeerGone) or this side is closed (ErrClosed). It
// returns once read was called (its count, possibly 0) or with an error.
func (r *Receiver[T]) RecvWait(ctx context.Context, read func(data []T) int) (int, error) {
	for {
		n, res := r.rx.Pull(read)
		if res != ring.OK {
			return r.settle(n, res)
		}
		if n > 0 || r.rx.Buffered() > 0 {
			return n, nil // read was called
		}
		if err := r.err(); err != nil {
			return 0, err
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := r.wait(ctx, r.Ready, r.armWait, r.rx.Disarm); err != nil {
			return 0, err
		}
	}
}

// Peek returns the largest contiguous readable slice of the ring, for
// callers that cannot use a closure (conn.Write straight from ring memory).
// The elements stay in the ring until Release. It returns (nil, nil) when
// the ring is empty, and the errors of Recv.
func (r *Receiver[T]) Peek() ([]T, error) {
	if data := r.rx.Peek(); len(data) > 0 {
		return data, nil
	}
	return nil, r.err()
}

// Release frees the first n elements of the slice Peek returned. An n
// outside 0..len(peeked) panics (a programming error). After this side's
// Close it frees nothing and returns ErrClosed.
func (r *Receiver[T]) Release(n int) error {
	switch r.rx.Release(n) {
	case ring.OK:
		return nil
	case ring.Wake:
		return r.kick()
	}
	return r.stopErr()
}

// Wait blocks until there is data or a Recv would return an error (then
// it returns that error, io.EOF included), or ctx ends. It spins first,
// like RecvWait.
func (r *Receiver[T]) Wait(ctx context.Context) error {
	for !r.Ready() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.wait(ctx, r.Ready, r.armWait, r.rx.Disarm); err != nil {
			return err
		}
	}
	return r.err()
}

// err explains why there is nothing to read: nil when the ring is merely
// empty (or has data).
func (r *Receiver[T]) err() error {
	if r.rx.Closed() {
		r.retire() // an owner's call: it holds no slice of the ring any more
		return ErrClosed
	}
	if err := r.rx.Err(); err != nil {
		return fmt.Errorf("fdring: receive: %w", err)
	}
	if r.rx.Done() {
		return io.EOF
	}
	if r.gone.Load() {
		// The peer is dead, so its last stores are visible: one more
		// look for data it committed before it died.
		if r.rx.Ready() && r.rx.Buffered() > 0 {
			return nil
		}
		if err := r.rx.Err(); err != nil {
			return fmt.Errorf("fdring: receive: %w", err)
		}
		if r.rx.SenderClosed() {
			// It closed cleanly before it went: the end is io.EOF.
			if r.rx.Done() {
				return io.EOF
			}
			return nil
		}
		return fmt.Errorf("fdring: receive: %w", ErrPeerGone)
	}
	return nil
}

// stopErr is err for a ring that reported Stopped: never nil.
func (r *Receiver[T]) stopErr() error {
	if err := r.err(); err != nil {
		return err
	}
	return fmt.Errorf("fdring: receive: stopped: %w", ErrClosed)
}

// Close tells the sender that nobody reads any more (its Send returns
// ErrClosed). Data still in the ring is dropped. It wakes a RecvWait of
// this side in progress (which returns ErrClosed), releases this side's fds
// once nothing uses them, and is idempotent and safe from any goroutine,
// during any other call. Every method after Close returns ErrClosed
// (Stats: the last counters).
func (r *Receiver[T]) Close() error { return r.close(r.counters, r.rx.Close) }

// Fd returns the data-ready fd: it becomes readable when the sender
// publishes or closes after this side armed (see Arm). For event loops.
// -1 after Close.
func (r *Receiver[T]) Fd() int { return r.fd() }

// Ready reports whether a Recv would return data or an error (io.EOF
// included). It never blocks and makes no syscall. True after Close.
func (r *Receiver[T]) Ready() bool {
	return r.rx.Closed() || r.gone.Load() || r.rx.Ready()
}

// Arm declares that the caller is about to wait for Fd, then re-checks: it
// returns true when there is data (or an end) already: do not wait. For
// event loops; RecvWait does this itself.
func (r *Receiver[T]) Arm() bool {
	return r.armWait()
}

// armWait is Arm for this side's own waits.
func (r *Receiver[T]) armWait() bool {
	return r.rx.Closed() || r.gone.Load() || r.rx.Arm()
}

// WaitClear consumes the signal on Fd after it fired. A peer that hung up
// is recorded (the next Recv reports ErrPeerGone after the last element),
// not returned here.
func (r *Receiver[T]) WaitClear() error { return r.clearOwn() }

// EdgeTriggered reports whether Fd is an eventfd, which an event loop may
// register edge-triggered and never clear (see loop.EdgeSource).
func (r *Receiver[T]) EdgeTriggered() bool { return notify.Edge(r.ch.data) }

// SetWake is called by an event loop that watches this side (see
// loop.WakeSource) with a function that wakes it, safe from any goroutine;
// nil when it stops watching. Close and the peer's death call it, so a
// loop asleep finds the side Ready and its handler sees the end.
func (r *Receiver[T]) SetWake(wake func()) { r.setWake(wake) }

// Cap returns the ring's capacity in elements.
func (r *Receiver[T]) Cap() int { return r.ch.ring.Cap() }

// Stats returns this side's counters. Safe from any goroutine, also after
// Close (the counters at Close).
func (r *Receiver[T]) Stats() Stats {
	st := r.counters() // before the closed check: see statsAfterClose
	return r.statsAfterClose(r.state.closed(), st)
}

func (r *Receiver[T]) counters() Stats {
	return Stats{
		Sent:     r.ch.ring.Sender().Sent(),
		Received: r.rx.Received(),
		Signals:  r.signals.Load(),
		Waits:    r.waits.Load(),
	}
}
