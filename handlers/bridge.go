package handlers

import (
	"errors"
	"sync/atomic"

	"github.com/fdring/fdring/loop"
)

// What the two bridges (ringconn.go, connring.go) share: options, counters,
// and the life of the one Conn and one ring side a bridge owns.
//
// A bridge ends exactly once, in finish: it unwatches the ring, closes it
// (so the ring's peer learns the connection went away) and calls OnDone.
// Every end but one goes through the Conn's OnClose, so the Conn is always
// closed first: a bridge that must stop (a ring error, Close) records why
// in err and closes the Conn; OnClose then finishes with err, or with the
// Conn's own error, or ErrConnClosed when the Conn closed before the
// stream ended. The exception is ConnToRing at the peer's EOF, which
// finishes at once (the consumer sees io.EOF without waiting for the Conn
// to close); its OnClose then finds the bridge done.

// Errors reported to a bridge's BridgeOnDone function.
var (
	// ErrConnClosed: the connection was closed (by Conn.Close, not by the
	// peer's EOF) before the stream through the bridge ended.
	ErrConnClosed = errors.New("handlers: connection closed before the stream ended")
	// ErrStopped: the bridge was stopped with Close.
	ErrStopped = errors.New("handlers: stopped")
)

// Bridge defaults.
const (
	DefaultOutputLimit = 1 << 20  // RingToConn: pending output that pauses the ring
	DefaultChunkSize   = 64 << 10 // bytes per read or write call
	maxIOPerRound      = 16       // read or write calls per dispatch, for fairness
)

// BridgeOption configures RingToConn and ConnToRing.
type BridgeOption func(*bridgeConfig)

type bridgeConfig struct {
	onDone         func(error)
	onBackpressure func(paused bool)
	outputLimit    int
	chunk          int
}

// BridgeOnDone sets the function called once, on the loop goroutine, when
// the bridge is finished and has closed its ring side: nil for a clean end,
// else why it ended (a socket error, a ring error such as
// fdring.ErrPeerGone or fdring.ErrClosed, loop.ErrClosed when the loop
// closed, ErrConnClosed or ErrStopped).
func BridgeOnDone(f func(err error)) BridgeOption {
	return func(c *bridgeConfig) { c.onDone = f }
}

// OnBackpressure sets a function called on the loop goroutine when the
// bridge pauses (paused true: its destination is full) and when it resumes.
func OnBackpressure(f func(paused bool)) BridgeOption {
	return func(c *bridgeConfig) { c.onBackpressure = f }
}

// WithOutputLimit sets how much pending output RingToConn lets the Conn
// hold before it stops draining the ring (default DefaultOutputLimit); it
// resumes when the Conn's output has been written out. Pending output
// stays below limit plus one chunk. n <= 0 keeps the default.
func WithOutputLimit(n int) BridgeOption {
	return func(c *bridgeConfig) {
		if n > 0 {
			c.outputLimit = n
		}
	}
}

// WithChunkSize bounds the bytes of one read or write call (default
// DefaultChunkSize). A dispatch makes at most 16 such calls. n <= 0 keeps
// the default.
func WithChunkSize(n int) BridgeOption {
	return func(c *bridgeConfig) {
		if n > 0 {
			c.chunk = n
		}
	}
}

// BridgeStats are a bridge's counters.
type BridgeStats struct {
	Bytes       uint64 // bytes moved from source to destination
	Pauses      uint64 // times the bridge stopped for backpressure
	MaxBuffered int64  // RingToConn: the most pending Conn output seen after a write
}

// ringSide is the ring end a bridge owns: a *fdring.Receiver[byte] or a
// *fdring.Sender[byte].
type ringSide interface {
	loop.RingSource
	Close() error
}

// ringOf returns r as a ringSide: nil, not a non-nil interface holding a
// nil pointer, when r is nil.
func ringOf[P interface {
	*E
	ringSide
}, E any](r P) ringSide {
	if r == nil {
		return nil
	}
	return r
}

// bridge is the part of RingConn and ConnRing that serves one Conn and
// owns one ring side.
type bridge struct {
	ring   ringSide // nil when the constructor was given a nil ring
	what   string   // for errors: "ring to conn", "conn to ring"
	cfg    bridgeConfig
	counts struct {
		bytes, pauses atomic.Uint64
		maxBuffered   atomic.Int64
	}

	// Loop goroutine only.
	c      *loop.Conn
	tok    loop.Token // the ring's registration, zero when not watched
	paused bool       // stopped for backpressure
	ended  bool       // the stream ended cleanly; the Conn closes next
	err    error      // why the bridge closed the Conn itself
	done   bool
}

// init sets b up to own ring (see ringOf) with opts.
func (b *bridge) init(ring ringSide, what string, opts []BridgeOption) {
	b.ring, b.what = ring, what
	b.cfg = bridgeConfig{outputLimit: DefaultOutputLimit, chunk: DefaultChunkSize}
	for _, o := range opts {
		o(&b.cfg)
	}
}

// open makes c the bridge's Conn and watches the ring with h, active or
// not (loop.WatchRing).
// A second Conn, or any Conn of a bridge already done, is closed at once; a
// setup error closes c and finishes the bridge with the error.
func (b *bridge) open(c *loop.Conn, h loop.Handler, active bool) {
	if b.c != nil || b.done {
		c.Close()
		return
	}
	b.c = c
	if b.ring == nil {
		b.stop(errors.New("handlers: " + b.what + ": nil ring"))
		return
	}
	tok, err := c.Loop().WatchRing(b.ring, h, active)
	if err != nil {
		b.stop(err)
		return
	}
	b.tok = tok
}

// setRing turns the ring's interest on or off; an error stops the bridge.
func (b *bridge) setRing(active bool) bool {
	if err := b.c.Loop().SetRingActive(b.tok, active); err != nil {
		b.stop(err)
		return false
	}
	return true
}

// backpressure records a pause or a resume and tells the user.
func (b *bridge) backpressure(paused bool) {
	b.paused = paused
	if paused {
		b.counts.pauses.Add(1)
	}
	if b.cfg.onBackpressure != nil {
		b.cfg.onBackpressure(paused)
	}
}

// over reports whether the bridge finished or is stopping (its Conn's
// OnClose, which finishes it, follows when the running callback returns).
func (b *bridge) over() bool { return b.done || b.err != nil }

// stop closes the Conn; its OnClose finishes the bridge with err.
func (b *bridge) stop(err error) {
	if b.err == nil {
		b.err = err
	}
	b.c.Close()
}

// OnClose finishes the bridge when its Conn closes.
func (b *bridge) OnClose(c *loop.Conn, err error) {
	if c != b.c || b.done {
		return
	}
	switch {
	case b.err != nil:
		err = b.err
	case err != nil:
	case b.ended:
	default:
		err = ErrConnClosed
	}
	b.finish(err)
}

func (b *bridge) unwatch() {
	if !b.tok.IsZero() {
		// The registration is live; there is nothing to undo on error.
		_ = b.c.Loop().Unwatch(b.tok)
		b.tok = loop.Token{}
	}
}

func (b *bridge) finish(err error) {
	b.done = true
	b.unwatch()
	if b.ring != nil {
		// Closing tells the ring's peer; its error has nowhere better to go.
		_ = b.ring.Close()
	}
	if b.cfg.onDone != nil {
		b.cfg.onDone(err)
	}
}

// Close stops the bridge: it closes the Conn (dropping its pending output)
// and the ring side; OnDone gets ErrStopped. Idempotent. Loop goroutine
// only, or after the loop stopped.
func (b *bridge) Close() error {
	switch {
	case b.done:
	case b.c == nil:
		b.finish(ErrStopped)
	default:
		b.stop(ErrStopped)
	}
	return nil
}

// Stats returns the bridge's counters. Safe from any goroutine.
func (b *bridge) Stats() BridgeStats {
	return BridgeStats{Bytes: b.counts.bytes.Load(), Pauses: b.counts.pauses.Load(), MaxBuffered: b.counts.maxBuffered.Load()}
}
