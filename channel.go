package fdring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fdring/fdring/notify"
	"github.com/fdring/fdring/ring"
	"github.com/fdring/fdring/shm"
)

// channel is what the two sides of one ring share in this process: the ring,
// the two notifiers and the resources to release when the last local side
// is closed. In-process both sides hold a reference; across processes each
// process has its own channel with one.
type channel[T any] struct {
	ring  *ring.Ring[T]
	data  notify.Notifier // sender signals, receiver waits
	space notify.Notifier // receiver signals, sender waits
	spin  time.Duration

	refs       atomic.Int32
	gone       atomic.Bool // the peer process died (liveness watch or a hangup on the wakeup socket)
	peerClosed func() bool // the peer closed its side cleanly (then its hangup is no death)
	peerGone   func()      // tells the ring the peer is gone (the producer's Send stops)
	wakeAll    func()      // wakes local waits, the watching loop and pollers of the fd, to re-check
	shutdown   func()      // stops whatever may still signal the notifiers

	// Across processes: the mapping (retired by the owner's first call
	// after Close, see side).
	region *shm.Region
}

// retire lets go of the shared pages (see side). Idempotent.
func (c *channel[T]) retire() {
	if c.region != nil {
		c.region.Retire()
	}
}

func (c *channel[T]) closeNotifiers() error {
	err := c.data.Close()
	if c.space != c.data {
		err = errors.Join(err, c.space.Close())
	}
	return err
}

// wakeOwn makes the fd a side of this process waits on readable, so that
// whoever sleeps on it (an event loop that armed the side) wakes and finds
// the side closed. In a process with both sides the notifier is ours to
// signal; across processes our wakeup socket only receives from the peer,
// so it is shut for reading instead (a socket shut for reading reports end
// of file; it does not touch the peer's direction).
func (c *channel[T]) wakeOwn(own notify.Notifier) {
	if c.region != nil {
		notify.ShutRead(own) // under the notifier's lock: never a closed fd
		return
	}
	own.Signal()
}

// markGone records that the peer process is gone: the flag, then the ring
// (a producer's fast path stops at its next call), then local waits are
// woken to look. Safe from any goroutine; idempotent.
func (c *channel[T]) markGone() {
	if c.gone.Load() {
		return
	}
	if c.peerClosed != nil && c.peerClosed() {
		// A clean close, then the process went away: the close stands
		// (io.EOF, ErrClosed), the hangup adds nothing.
		if c.wakeAll != nil {
			c.wakeAll()
		}
		return
	}
	// The flag first: a Send that sees the ring stop must find it set, or
	// it would report a clean close.
	c.gone.Store(true)
	if c.peerGone != nil {
		c.peerGone()
	}
	if c.wakeAll != nil {
		c.wakeAll()
	}
}

func (c *channel[T]) unref() error {
	if c.refs.Add(-1) != 0 {
		return nil
	}
	return c.close()
}

func (c *channel[T]) close() error {
	if c.shutdown != nil {
		c.shutdown()
	}
	if err := c.closeNotifiers(); err != nil {
		return fmt.Errorf("fdring: close: %w", err)
	}
	return nil
}
