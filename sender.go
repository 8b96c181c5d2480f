package fdring

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/fdring/fdring/ring"
)

// Sender is the producer side of a channel. Its methods belong to one
// goroutine at a time (the owner), except Close and Stats, which are safe
// from any goroutine at any time, during or after any other call.
// While a loop.Loop watches the side, the loop's goroutine is its owner
// (every round the loop calls Ready and Arm on it, which move the side's
// private view of the ring): call Put, TryPut, Send and the rest from its
// handler or a Post function then, never from another goroutine.
type Sender[T any] struct {
	tx   *ring.Sender[T]
	ch   *channel[T]
	low  int           // see lowWater
	idle time.Duration // see gatherIdle; tests lengthen it
	// gatherHook, set by tests only, runs as gather starts to spin.
	gatherHook func()
	side
}

func newSender[T any](c *channel[T]) *Sender[T] {
	s := &Sender[T]{tx: c.ring.Sender(), ch: c, low: lowWater(c.ring.Cap(), unsafe.Sizeof(*new(T))), idle: gatherIdle}
	s.side = side{rs: s.tx, counters: s.counters, errf: s.err, capacity: c.ring.Cap(),
		wakeOwn: func() { c.wakeOwn(c.space) }, own: c.space, peer: c.data, spin: c.spin,
		gone: &c.gone, markGone: c.markGone, retireMem: c.retire, unref: c.unref, op: "send"}
	return s
}

// Send calls fill with the largest contiguous free slice of the ring (never
// empty) and publishes the n elements fill reports written. It never
// blocks: when the ring is full it returns (0, nil) without calling fill.
// It returns ErrClosed after this side's Close (without calling fill) and
// once the receiver closed: on the call whose publish saw it, with the n
// elements fill wrote (the receiver may or may not have read them), and
// without calling fill after that. ErrPeerGone or ErrCorrupt when the peer
// died or broke the ring.
//
// A fill that returns a count outside 0..len(free) panics: a programming
// error; nothing is published.
func (s *Sender[T]) Send(fill func(free []T) int) (int, error) {
	n, res := s.tx.Push(fill)
	if res != ring.OK {
		return s.settle(n, res)
	}
	return n, nil
}

// settle finishes a publish that left work: a wakeup to send, or a stop to
// explain.
func (s *Sender[T]) settle(n int, res ring.Result) (int, error) {
	if res == ring.Wake {
		return n, s.wakePeer()
	}
	return n, s.stopErr()
}

// SendWait is Send that waits for room: it spins for the channel's spin
// time, then sleeps until the receiver frees space, ctx ends (ctx.Err()),
// the receiver closes (ErrClosed) or this side is closed (ErrClosed). It
// returns once fill was called and wrote at least one element, or returned
// 0 (then (0, nil)).
//
// A SendWait that finds the ring nearly full (after a look at the
// receiver's index: fewer than a quarter of its slots free, at most 64 KiB
// of elements) first spins, up to the channel's spin time, until that many
// are free, then calls fill with what there is: a producer that keeps up
// with its receiver then writes in large pieces, a quarter of the ring
// behind the receiver, instead of a few elements right behind it with a
// cache-line transfer of the receiver's index for each. That spin ends
// early when the receiver frees nothing for 20 us (it may be waiting for
// this SendWait), and when ctx ends (a SendWait whose ctx already ended
// does not spin); fill is then called with the room there is, as
// whenever the ring has room: ctx ends only a wait for room.
func (s *Sender[T]) SendWait(ctx context.Context, fill func(free []T) int) (int, error) {
	// The first attempt is kept here and the rest out of line, so the
	// common call (room, fill writes) has a small frame: per-item callers
	// pay for little more than Push.
	if s.tx.Room() == 0 {
		return s.sendFull(ctx, fill)
	}
	n, res := s.tx.Push(fill)
	if res == ring.OK && n > 0 {
		return n, nil
	}
	return s.sendWait(ctx, fill, n, res)
}

// sendFull is SendWait when this side's cached view of the ring is full:
// it looks at the receiver's index, and if the room there is less than
// low, gathers more before it writes.
func (s *Sender[T]) sendFull(ctx context.Context, fill func(free []T) int) (int, error) {
	if s.spin > 0 && s.tx.Reload() == ring.OK {
		if room := s.tx.Room(); room > 0 && room < s.low && ctx.Err() == nil {
			s.gather(ctx)
		}
	}
	n, res := s.tx.Push(fill)
	if res == ring.OK && n > 0 {
		return n, nil
	}
	return s.sendWait(ctx, fill, n, res)
}

// gather spins, up to the channel's spin time, until low slots are free,
// the ring takes nothing more (a close, a dead peer, corruption: the Push
// after it reports that) or ctx ends (the caller gave up: the Push after it
// writes what room there is). A receiver that stopped reading costs the
// spin once per refill, never a wait. ctx is polled with Err, an atomic
// load for the standard contexts: Done would make a channel for a context
// that never made one.
//
// It also ends once the receiver freed nothing for gatherIdle: a receiver
// that streams frees slots all the time, one that stopped is waiting for
// something, perhaps for this very SendWait (it reads one element, then
// waits for the next before it reads again): gathering for a spin of a
// minute would then cost each step a minute. A spin no longer than
// gatherIdle needs no such watch (it ends first).
func (s *Sender[T]) gather(ctx context.Context) {
	if s.gatherHook != nil {
		s.gatherHook()
	}
	if s.spin <= s.idle {
		spinUntil(s.spin, func() bool { return s.gathered() || ctx.Err() != nil })
		return
	}
	room, since := s.tx.Room(), time.Now()
	spinUntil(s.spin, func() bool {
		if s.gathered() || ctx.Err() != nil {
			return true
		}
		if r := s.tx.Room(); r != room {
			room, since = r, time.Now()
			return false
		}
		return time.Since(since) >= s.idle
	})
}

// gatherIdle is how long a gather waits for a receiver that frees nothing
// (see gather): several times what a receiver that streams takes to free
// a few slots, even one that takes the cache misses on 64 KiB of data per
// call.
const gatherIdle = 20 * time.Microsecond

// gathered is gather's condition.
func (s *Sender[T]) gathered() bool {
	return s.tx.Reload() != ring.OK || s.tx.Room() >= s.low || s.gone.Load()
}

// lowWater is the room a SendWait gathers before it writes into a nearly
// full ring: a quarter of the ring, at most 64 KiB of elements, at least 1.
func lowWater(capacity int, elemSize uintptr) int {
	low := capacity / 4
	if elemSize > 0 {
		low = min(low, int((64<<10)/elemSize))
	}
	return max(low, 1)
}

// sendWait is SendWait after its first Push returned (n, res).
func (s *Sender[T]) sendWait(ctx context.Context, fill func(free []T) int, n int, res ring.Result) (int, error) {
	for {
		if res != ring.OK {
			return s.settle(n, res)
		}
		if n > 0 || s.tx.Room() > 0 {
			return n, nil // fill was called
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := s.wait(ctx); err != nil {
			return 0, err
		}
		n, res = s.tx.Push(fill)
	}
}

// Put sends one element, waiting for room as SendWait does: the per-item
// API. Its common case (room, a receiver that is awake) is inlined: the
// element's store, the index's two (the private copy and the shared word)
// and one load: no callback and no call beyond Put's own. It returns nil
// once v is published, ctx.Err() if ctx ends first, ErrClosed after this
// side's Close or once the receiver has closed, ErrPeerGone or ErrCorrupt. A Put whose own publish sees the
// receiver's close still returns nil (v is in the ring, as a channel send
// that happens before a close); the next one returns ErrClosed. An error
// from waking the receiver comes after v was published.
func (s *Sender[T]) Put(ctx context.Context, v T) error {
	if s.tx.TryPut(v) {
		return nil
	}
	return s.put(ctx, v)
}

// put is Put after its TryPut returned false.
func (s *Sender[T]) put(ctx context.Context, v T) error {
	for {
		if ok, err := s.settlePut(s.tx.Put(v)); ok || err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.wait(ctx); err != nil {
			return err
		}
	}
}

// TryPut sends one element if there is room, without waiting: (true, nil)
// once v is published, (false, nil) when the ring is full, and Put's
// errors (then v was not published, unless the error came from waking the
// receiver: see Put).
func (s *Sender[T]) TryPut(v T) (bool, error) {
	if s.tx.TryPut(v) {
		return true, nil
	}
	return s.settlePut(s.tx.Put(v))
}

// settlePut finishes a ring Put: ok when v was published.
func (s *Sender[T]) settlePut(res ring.Result) (ok bool, err error) {
	switch res {
	case ring.OK:
		return true, nil
	case ring.Wake:
		return true, s.wakePeer()
	case ring.Stopped:
		return false, s.stopErr()
	}
	return false, s.err() // full: nil, unless the receiver is gone
}

// Reserve returns the largest contiguous free slice of the ring, for callers
// that cannot use a closure (conn.Read straight into ring memory). Write
// into it, then Commit. It returns (nil, nil) when the ring is full, and the
// errors of Send.
func (s *Sender[T]) Reserve() ([]T, error) {
	if free := s.tx.Reserve(); len(free) > 0 {
		return free, nil
	}
	return nil, s.err()
}

// Commit publishes the first n elements of the slice Reserve returned. An n
// outside 0..len(reserved) panics (a programming error); a Send, Put or
// TryPut that publishes between Reserve and Commit ends the reservation
// (then only 0). After this side's Close it publishes nothing and returns
// ErrClosed.
func (s *Sender[T]) Commit(n int) error {
	switch s.tx.Commit(n) {
	case ring.OK:
		return nil
	case ring.Wake:
		return s.wakePeer()
	}
	return s.stopErr()
}

// err explains why the ring takes nothing: nil when it is merely full.
func (s *Sender[T]) err() error {
	switch {
	case s.tx.Closed():
		s.retire() // an owner's call: it holds no slice of the ring any more
		return ErrClosed
	case s.gone.Load():
		return fmt.Errorf("fdring: send: %w", ErrPeerGone)
	}
	if err := s.tx.Err(); err != nil {
		return fmt.Errorf("fdring: send: %w", err)
	}
	if s.tx.ReceiverClosed() {
		return fmt.Errorf("fdring: send: receiver closed: %w", ErrClosed)
	}
	return nil
}

// stopErr is err for a ring that reported Stopped: never nil.
func (s *Sender[T]) stopErr() error {
	if err := s.err(); err != nil {
		return err
	}
	return fmt.Errorf("fdring: send: stopped: %w", ErrClosed)
}

// Close ends the stream: the receiver drains what was sent, then gets
// io.EOF. It wakes a SendWait of this side in progress (which returns
// ErrClosed), releases this side's fds once nothing uses them, and is
// idempotent and safe from any goroutine, during any other call. Every
// method after Close returns ErrClosed (Stats: the last counters).
func (s *Sender[T]) Close() error { return s.close() }

func (s *Sender[T]) counters() Stats {
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
