package fdnet

import "time"

// Sleeps returns how many times c's reading and writing sides have gone to
// sleep on their wakeup fds: a test waits for the count to rise to know
// that a call it started is blocked.
func Sleeps(c *Conn) (read, write uint64) {
	return c.rx.Stats().Waits, c.tx.Stats().Waits
}

// BufferSize returns the capacity of c's send ring.
func BufferSize(c *Conn) int { return c.tx.Cap() }

// Rejected returns how many handshakes l's Accept dropped.
func Rejected(l *Listener) uint64 { return l.rejected.Load() }

// ExpectsReply reports whether c's next Read that has to wait spins for a
// reply first (it wrote since its last such wait), and for how long.
func ExpectsReply(c *Conn) (bool, time.Duration) { return c.wrote.Load(), c.replySpin }
