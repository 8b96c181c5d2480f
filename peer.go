package fdring

import (
	"net"
	"sync/atomic"
)

// watchPeer turns the unix connection of a cross-process channel into its
// liveness signal. The peer never writes after the handshake, so a read
// that ends means the peer's process closed its socket: it exited, was
// killed, or closed its side of the channel. If the peer had not closed its
// side of the ring first (peerClosed), it is gone: mark the channel and run
// gone. Either way signal both notifiers, so a side sleeping on its fd, in
// a wait or in an event loop, wakes up and looks.
//
// The watcher is a goroutine parked in the runtime poller: it costs no OS
// thread. shutdown (run by channel.close before the notifiers are closed)
// stops it and waits for it, so it never signals a closed fd.
func (c *channel[T]) watchPeer(conn *net.UnixConn, peerClosed func() bool, gone func()) {
	var closing atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf [64]byte
		for {
			if _, err := conn.Read(buf[:]); err != nil {
				break
			}
		}
		if closing.Load() {
			return
		}
		if !peerClosed() {
			c.gone.Store(true)
			gone()
		}
		c.data.Signal()
		c.space.Signal()
	}()
	c.shutdown = func() {
		closing.Store(true)
		conn.Close()
		<-done
	}
}
