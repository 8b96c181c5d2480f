package handlers

import (
	"errors"
	"io"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
)

// Connection to ring.
//
// ConnRing installs the Conn's read hook (loop.Conn.SetOnReadable) in
// OnOpen: on a readable event the loop calls it instead of reading into its
// own buffer and calling OnData, and the bridge reads
// straight into ring memory (Reserve, Conn.Read, Commit), so each byte is
// copied once, kernel to ring. Up to 16 reads of at most a chunk per event.
//
//   - ring full (Reserve returns nothing): Conn.PauseRead, and watch the
//     Sender (turn its ring interest on: the ring's space-ready wakeup). The socket's data
//     stays in the kernel and TCP flow control throttles the peer: the
//     bridge buffers nothing outside the ring.
//   - space: turn the Sender's interest off again and Conn.ResumeRead;
//     the loop reports the socket readable again.
//
// On the peer's EOF the bridge Closes the Sender at once (the consumer
// drains the ring, then sees io.EOF) and OnDone gets nil; the Conn then
// closes as loop.Conn does after EOF. A socket error closes the Conn and
// goes to OnDone; a ring error (the consumer closed: fdring.ErrClosed)
// closes the Conn and goes to OnDone. The Conn is the loop's like any
// other: counted in Stats.Conns and by LeastConns, closed by loop.Close.

// errHookReplaced: OnData was called, so the Conn's read hook the bridge
// installed was replaced.
var errHookReplaced = errors.New("handlers: conn to ring: the Conn's read hook was replaced (loop.Conn.SetOnReadable)")

// ConnRing moves one connection's bytes into a byte ring. See ConnToRing.
type ConnRing struct {
	bridge
	tx *fdring.Sender[byte]
}

// ConnToRing returns a loop.ConnHandler that copies everything the
// connection it serves receives into tx, and closes tx when the peer
// closes. It serves exactly one connection (further ones are closed at
// once). The bridge owns tx. It never writes to the connection. OnOpen
// installs the Conn's read hook, so a ConnHandler that wraps the bridge
// and forwards OnOpen cannot lose it; do not replace the hook with
// Conn.SetOnReadable.
func ConnToRing(tx *fdring.Sender[byte], opts ...BridgeOption) *ConnRing {
	b := &ConnRing{tx: tx}
	b.init(ringOf(tx), "conn to ring", opts)
	return b
}

// OnOpen starts the bridge and installs c's read hook. The Sender stays
// watched, turned off, until the ring fills.
func (b *ConnRing) OnOpen(c *loop.Conn) {
	if b.c == nil && !b.done {
		c.SetOnReadable(b.onReadable)
	}
	b.open(c, loop.HandlerFunc(b.onSpace), false)
}

// OnData is not called while the bridge's read hook is installed. If
// someone replaced the hook, the bridge stops with an error rather than
// buffer without bound.
func (b *ConnRing) OnData(c *loop.Conn, data []byte) {
	if c == b.c && !b.over() {
		b.stop(errHookReplaced)
	}
}

// onReadable, the Conn's read hook, reads the socket straight into the
// ring.
func (b *ConnRing) onReadable(c *loop.Conn) {
	if c != b.c || b.over() || b.paused {
		return
	}
	short := false
	for i := 0; ; i++ {
		free := b.reserve()
		switch {
		case b.over():
			return
		case len(free) == 0:
			b.pause()
			return
		case short || i == maxIOPerRound:
			// Most likely drained (level-triggered polling says if not).
			return
		}
		buf := free[:min(len(free), b.cfg.chunk)]
		n, err := c.Read(buf)
		switch {
		case err == io.EOF:
			b.finish(nil)
			return
		case err != nil || n == 0:
			// A read error closes the Conn after this call: OnClose follows.
			return
		}
		if err := b.tx.Commit(n); err != nil {
			b.stop(err)
			return
		}
		b.counts.bytes.Add(uint64(n))
		short = n < len(buf)
	}
}

// reserve returns the ring's free space, empty when the ring is full. A
// ring error (the consumer closed) stops the bridge: b.over() is then true.
// It makes no syscall, so checking after each Commit is cheap.
func (b *ConnRing) reserve() []byte {
	free, err := b.tx.Reserve()
	if err != nil {
		b.stop(err)
	}
	return free
}

// pause stops reading the socket until the ring has space.
func (b *ConnRing) pause() {
	if b.c.PauseRead() != nil {
		return // the Conn is closing: OnClose follows
	}
	// Turning it on queues the Sender at once if space was freed meanwhile.
	if b.setRing(true) {
		b.backpressure(true)
	}
}

// onSpace serves the Sender while paused: the consumer freed space.
func (b *ConnRing) onSpace(loop.Token, loop.Event) {
	if b.over() || !b.paused {
		return
	}
	if free := b.reserve(); b.over() || len(free) == 0 {
		return // stopped, or a spurious event
	}
	if !b.setRing(false) || b.c.ResumeRead() != nil {
		return // stopped, or the Conn is closing: OnClose follows
	}
	b.backpressure(false)
}
