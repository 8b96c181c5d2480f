package fdring

import (
	"context"
	"errors"

	"github.com/fdring/fdring/notify"
)

// Across processes, each side has two connected SOCK_SEQPACKET sockets to
// its peer: one it waits on (the peer's wakeups arrive there) and one it
// signals on. The peer never writes to the second, so it carries only one
// event: end of file, when the peer's process closed its end, which it
// cannot help doing when it dies. watchPeer parks a goroutine in the
// runtime poller on that socket (no OS thread is held) and records the
// peer's death as soon as it happens, so a side that never sleeps (a
// producer whose ring never fills) learns it too: if the peer had not
// closed its side of the ring first, the channel is marked gone. A sleeping side also sees the death directly, as a hangup on the
// socket it waits on.
//
// Nothing here can be saturated or disarmed by the peer: a socket's end of
// file cannot be undone, every read is MSG_DONTWAIT (the peer may share the
// open file description and clear O_NONBLOCK), and whatever the peer writes
// to the watched socket is drained (bounded) and ignored.
//
// shutdown (run by channel.close before the notifiers are closed) stops the
// goroutine and waits for it.
func (c *channel[T]) watchPeer(fd int) error {
	w, err := notify.NewWaiter(fd)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			err := w.Wait(context.Background())
			if err == nil {
				continue // bytes from a misbehaving peer: drained, ignored
			}
			if errors.Is(err, notify.ErrHangup) {
				c.markGone()
			}
			return
		}
	}()
	c.shutdown = func() {
		w.Interrupt()
		<-done
		w.Close()
	}
	return nil
}
