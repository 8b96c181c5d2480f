package fdnet

import (
	"time"

	"github.com/fdring/fdring/internal/spin"
)

// Spinning. A Conn made without WithSpin has rings that never spin: a
// Read or Write that cannot go on sleeps on its wakeup fd at once, except a
// Read that waits for a reply. When the Conn wrote since a Read (or
// WriteTo) last received data or waited, the peer is probably answering
// what it wrote (a ping-pong, an RPC): that wait polls the ring for up to
// DefaultReplySpin first, so a quick answer costs well under a microsecond
// instead of a sleep and a wakeup (two syscalls and tens of microseconds
// here). Every other wait sleeps at once: a reader that only reads and a
// writer that finds the ring full are in a bulk transfer, where a side
// that spins keeps a CPU busy that its peer could use, and keeps the two
// processes apart. Measured on 2 vCPUs whose caches are far apart (a
// cache-line round trip of ~900 ns), 64 KiB writes between two processes
// over 1 MiB rings moved 2.9-4.4 GB/s when every wait spun for 5 us and
// 4.3-9 GB/s when waits slept, which lets the scheduler run both sides on
// one CPU, where the ring stays in its cache; with the two processes
// pinned to different CPUs, 2.4-3.5 GB/s either way.
//
// WithSpin(d) replaces this policy: every wait polls for d (the rings'
// spin, fdring.WithSpin), and a side that just woke its peer polls longer.

// DefaultReplySpin is how long a Read of a Conn made without WithSpin
// polls for a reply before it sleeps. Such a Conn spins only when a reply
// is likely: in a Read (or WriteTo) that has to wait after the Conn wrote,
// if no data came in since (a ping-pong, an RPC). Every other wait sleeps at
// once: a reader that only reads, and a writer that finds the ring full,
// are in a bulk transfer, where spinning takes a CPU the peer could use.
const DefaultReplySpin = 5 * time.Microsecond

// noteWrite records that this Conn wrote (n bytes): its next Read that
// has to wait expects a reply, unless data arrives first (gotReply). It
// stores only when the flag changes, so that a stream of Writes does not
// bounce its cache line.
func (c *Conn) noteWrite(n int) {
	if n > 0 && c.replySpin > 0 && !c.wrote.Load() {
		c.wrote.Store(true)
	}
}

// gotReply records that a Read (or WriteTo) received data: the answer to
// what this Conn wrote, if it expected one. Without it, a reader goroutine
// that was already waiting when another goroutine wrote (an RPC client's
// or server's reader, beside the goroutine that writes) would still expect
// a reply after it got one, and its next Read would spin in vain.
func (c *Conn) gotReply() {
	if c.wrote.Load() {
		c.wrote.Store(false)
	}
}

// awaitReply is called by Read and WriteTo before they wait for data: if a
// reply is expected (see noteWrite) and none is there yet, it polls the
// ring for up to replySpin. It consumes the expectation either way. It
// does not learn from spins that caught nothing: two sides that each
// stopped spinning for the other would never catch each other again (each
// answer would then come a wakeup later than the other side's spin).
func (c *Conn) awaitReply() {
	if c.replySpin <= 0 || !c.wrote.Load() {
		return
	}
	c.wrote.Store(false)
	spin.Until(c.replySpin, replyBackoff, 1, c.rx.Ready)
}

// replyBackoff is the first pause between polls of a reply wait, in
// iterations of spin's pause (about half a nanosecond each): short, since
// a reply is expected within microseconds; the wait reads the clock at
// every poll at full backoff (the last argument of spin.Until).
const replyBackoff = 64
