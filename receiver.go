package fdring

import (
	"context"
	"fmt"
	"io"

	"github.com/fdring/fdring/ring"
)

// Receiver is the consumer side of a channel. Its methods belong to one
// goroutine at a time (the owner), except Close and Stats, which are safe
// from any goroutine at any time, during or after any other call.
// While a loop.Loop watches the side, the loop's goroutine is its owner
// (every round the loop calls Ready and Arm on it, which move the side's
// private view of the ring): call Get, TryGet, Recv and the rest from its
// handler or a Post function then, never from another goroutine.
type Receiver[T any] struct {
	rx *ring.Receiver[T]
	ch *channel[T]
	side
}

func newReceiver[T any](c *channel[T]) *Receiver[T] {
	r := &Receiver[T]{rx: c.ring.Receiver(), ch: c}
	r.side = side{rs: r.rx, counters: r.counters, errf: r.err, capacity: c.ring.Cap(),
		wakeOwn: func() { c.wakeOwn(c.data) }, own: c.data, peer: c.space, spin: c.spin,
		gone: &c.gone, markGone: c.markGone, retireMem: c.retire, unref: c.unref, op: "receive"}
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
		return n, r.wakePeer()
	}
	return n, r.stopErr()
}

// RecvWait is Recv that waits for data: it spins for the channel's spin
// time, then sleeps until the sender publishes, ctx ends (ctx.Err()), the
// stream ends (io.EOF, ErrPeerGone) or this side is closed (ErrClosed). It
// returns once read was called (its count, possibly 0) or with an error.
func (r *Receiver[T]) RecvWait(ctx context.Context, read func(data []T) int) (int, error) {
	// As SendWait: the common call stays small, the rest is out of line.
	n, res := r.rx.Pull(read)
	if res == ring.OK && n > 0 {
		return n, nil
	}
	return r.recvWait(ctx, read, n, res)
}

// recvWait is RecvWait after its first Pull returned (n, res).
func (r *Receiver[T]) recvWait(ctx context.Context, read func(data []T) int, n int, res ring.Result) (int, error) {
	for {
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
		if err := r.wait(ctx); err != nil {
			return 0, err
		}
		n, res = r.rx.Pull(read)
	}
}

// Get receives one element, waiting for one as RecvWait does: the
// per-item API, the mirror of Sender.Put (its common case is inlined: the
// element's load, the index's private and shared stores and one load of
// the producer's state). It returns the element and nil; or ctx.Err(),
// io.EOF at the end of the stream, ErrPeerGone (after every element the
// peer committed), ErrClosed after this side's Close, ErrCorrupt. An error from waking the producer comes with the
// element taken (the only case of an element with an error).
func (r *Receiver[T]) Get(ctx context.Context) (T, error) {
	v, ok := r.rx.TryGet()
	if ok {
		return v, nil
	}
	return r.get(ctx, v)
}

// get is Get after its TryGet returned false.
func (r *Receiver[T]) get(ctx context.Context, tried T) (T, error) {
	for {
		if v, ok, err := r.settleGet(r.rx.Get(tried)); ok || err != nil {
			return v, err
		}
		if err := ctx.Err(); err != nil {
			var zero T
			return zero, err
		}
		if err := r.wait(ctx); err != nil {
			var zero T
			return zero, err
		}
	}
}

// TryGet receives one element if there is one, without waiting: (v, true,
// nil), (zero, false, nil) when the ring is empty, and Get's errors.
func (r *Receiver[T]) TryGet() (T, bool, error) {
	v, ok := r.rx.TryGet()
	if ok {
		return v, true, nil
	}
	return r.settleGet(r.rx.Get(v))
}

// settleGet finishes a ring Get: ok when v is an element.
func (r *Receiver[T]) settleGet(v T, res ring.Result) (T, bool, error) {
	switch res {
	case ring.OK:
		return v, true, nil
	case ring.Wake:
		return v, true, r.wakePeer()
	case ring.Stopped:
		return v, false, r.stopErr()
	}
	return v, false, r.err() // empty: nil, unless the stream ended or the peer is gone
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
// outside 0..len(peeked) panics (a programming error); a Recv, Get or
// TryGet that reads between Peek and Release ends the peek (then only 0).
// After this side's Close it frees nothing and returns ErrClosed.
func (r *Receiver[T]) Release(n int) error {
	switch r.rx.Release(n) {
	case ring.OK:
		return nil
	case ring.Wake:
		return r.wakePeer()
	}
	return r.stopErr()
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
func (r *Receiver[T]) Close() error { return r.close() }

func (r *Receiver[T]) counters() Stats {
	return Stats{
		Sent:     r.ch.ring.Sender().Sent(),
		Received: r.rx.Received(),
		Signals:  r.signals.Load(),
		Waits:    r.waits.Load(),
	}
}
