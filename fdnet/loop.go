package fdnet

import (
	"context"
	"net"

	"github.com/fdring/fdring"
)

// Handing a Conn to an event loop.
//
// Detach ends the Conn as a net.Conn and gives its two rings to the caller,
// typically to serve them on a loop (loop.Loop.WatchRingConn or
// AddRingConn, handlers.ServeFdnet) with the same handler as a TCP
// connection. The Conn counts as closed from then on (every method fails
// with net.ErrClosed, Close does nothing), but the rings stay open: the
// peer sees nothing of the hand-over.
//
// A ring side belongs to one goroutine at a time, so Detach must not return
// while a Read, Write, ReadFrom or WriteTo still uses a ring. It first marks
// the Conn closed and cancels both deadline contexts, which wakes every
// call waiting on a ring (it returns net.ErrClosed), then takes rmu and
// wmu, which the calls hold: once it has them, no call uses the rings and
// none can start. A ReadFrom's src.Read or a WriteTo's dst.Write in
// progress cannot be interrupted: Detach waits for it until ctx ends, and
// then closes the rings (the Conn is closed, as by Close) and returns ctx's
// error.

// Detach hands c's rings over to the caller: rx, which reads what the peer
// writes, and tx, which writes to the peer. The caller owns them from now
// on and must close them. c is unusable afterwards: its methods fail with an
// error wrapping net.ErrClosed (Close returns nil and closes nothing). A
// call blocked on c is woken and fails the same way; Detach waits for the
// calls in progress to return, until ctx ends (see "Handing a Conn to an
// event loop" in loop.go). Detach of a closed Conn fails with net.ErrClosed.
func (c *Conn) Detach(ctx context.Context) (*fdring.Receiver[byte], *fdring.Sender[byte], error) {
	if c.closed.Swap(true) {
		return nil, nil, c.opErr("detach", net.ErrClosed)
	}
	c.rd.close()
	c.wd.close()
	if err := c.lockCalls(ctx); err != nil {
		return nil, nil, err
	}
	// Both locks are held: no call uses the rings. A call that starts
	// after they are released fails at its closed deadline context before
	// it touches a ring.
	rx, tx := c.rx, c.tx
	c.wmu.Unlock()
	c.rmu.Unlock()
	return rx, tx, nil
}

// lockCalls takes rmu and wmu, waiting for the calls that hold them until
// ctx ends: then it closes the rings and returns ctx's error, wrapped.
func (c *Conn) lockCalls(ctx context.Context) error {
	if c.rmu.TryLock() {
		if c.wmu.TryLock() {
			return nil
		}
		c.rmu.Unlock()
	}
	got := make(chan struct{})
	go func() {
		c.rmu.Lock()
		c.wmu.Lock()
		select {
		case got <- struct{}{}: // Detach holds them now
		case <-ctx.Done(): // Detach gave up
			c.wmu.Unlock()
			c.rmu.Unlock()
		}
	}()
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		// Close is safe during the calls still in progress.
		_ = c.tx.Close()
		_ = c.rx.Close()
		return c.opErr("detach", ctx.Err())
	}
}
