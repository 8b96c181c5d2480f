package handlers

import (
	"errors"
	"io"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
)

// Ring to connection.
//
// The bridge watches the Receiver on the Conn's loop. Each dispatch Peeks
// at the ring and Writes the slice straight from ring memory: the socket
// takes what it can and loop.Conn copies the rest into its output buffer.
// The bridge Releases exactly what Write accepted (all of it, since
// loop.Conn.Write never refuses an open Conn). Before each write it looks
// at Conn.Buffered: at the output limit it turns the ring off
// (loop.SetRingActive, so the loop does not spin on a Ready ring), and the
// Conn's drain hook (loop.Conn.SetOnDrain, installed in OnOpen: the output
// was written out completely) resumes it.
// Pending output therefore stays below limit + chunk, and a paused bridge
// costs nothing until the socket drains.
//
// The peer's FIN. The bridge only writes, and a client that only reads may
// shut its write side down at once, so the bridge sets its Conn to
// half-close (loop.Conn.SetHalfClose): the FIN ends nothing but reading,
// and the stream goes on. TCP cannot tell such a client from one that
// closed: a client that is gone shows as a write error (EPIPE or
// ECONNRESET) when the bridge next writes, which ends the bridge with that
// error. While the ring is idle, nothing is written and nothing is noticed.
//
// End of stream: on io.EOF the bridge unwatches the ring and calls
// CloseWrite, which flushes the output and then sends FIN; the Conn closes
// when the peer closes its side (at once if its FIN came already), and
// OnDone gets nil. A ring error closes the Conn at once and goes to OnDone;
// a Conn that closes first makes OnDone get the socket error or
// ErrConnClosed. Either way the bridge closes the Receiver, so the
// producer's next Send fails with fdring.ErrClosed.

// RingConn moves a byte ring's stream into one connection. See RingToConn.
type RingConn struct {
	bridge
	rx *fdring.Receiver[byte]
}

// RingToConn returns a loop.ConnHandler that sends everything rx delivers
// to the connection it serves, then shuts the connection's write side
// down. It serves exactly one connection (further ones are closed at
// once): pass it to loop.WatchConn or WatchConnFd, or call its methods from
// your own ConnHandler's (OnOpen installs the Conn's drain hook, which
// resumes a paused bridge, so a wrapper that forwards OnOpen cannot lose
// it; do not replace the hook with Conn.SetOnDrain). Bytes the peer sends
// are discarded; the peer's FIN does not end the stream. The bridge owns
// rx and closes it when it finishes.
func RingToConn(rx *fdring.Receiver[byte], opts ...BridgeOption) *RingConn {
	b := &RingConn{rx: rx}
	b.init(ringOf(rx), "ring to conn", opts)
	return b
}

// OnOpen starts the bridge on c's loop and installs c's drain hook. The
// peer's FIN will not end the stream (see loop.Conn.SetHalfClose).
func (b *RingConn) OnOpen(c *loop.Conn) {
	c.SetHalfClose(true)
	c.SetOnDrain(b.onDrain)
	b.open(c, loop.HandlerFunc(b.serveRing), true)
}

// OnData discards what the peer sends.
func (b *RingConn) OnData(c *loop.Conn, data []byte) {}

// onDrain, the Conn's drain hook, resumes a bridge paused on the Conn's
// output.
func (b *RingConn) onDrain(c *loop.Conn) {
	if c != b.c || b.done || !b.paused || b.tok.IsZero() {
		return
	}
	b.backpressure(false)
	// Turning it on queues the ring at once if it has data.
	b.setRing(true)
}

// serveRing serves the ring: the handler the Receiver is watched with.
func (b *RingConn) serveRing(loop.Token, loop.Event) {
	if b.paused || b.tok.IsZero() {
		return
	}
	c := b.c
	for range maxIOPerRound {
		if c.Closed() {
			b.unwatch() // OnClose follows
			return
		}
		if c.Buffered() >= b.cfg.outputLimit {
			if b.setRing(false) {
				b.backpressure(true)
			}
			return
		}
		data, err := b.rx.Peek()
		if err != nil {
			b.ringDone(err)
			return
		}
		if len(data) == 0 {
			return
		}
		n, err := c.Write(data[:min(len(data), b.cfg.chunk)])
		if err != nil {
			// The Conn is closed or closing: OnClose follows.
			b.unwatch()
			return
		}
		b.counts.bytes.Add(uint64(n))
		if buf := int64(c.Buffered()); buf > b.counts.maxBuffered.Load() {
			b.counts.maxBuffered.Store(buf)
		}
		if err := b.rx.Release(n); err != nil {
			b.ringDone(err)
			return
		}
	}
}

// ringDone handles the end of the ring's stream.
func (b *RingConn) ringDone(err error) {
	b.unwatch()
	if !errors.Is(err, io.EOF) {
		b.stop(err)
		return
	}
	b.ended = true
	// An error means the Conn is closing: OnClose follows.
	_ = b.c.CloseWrite()
}
