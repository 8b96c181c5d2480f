package handlers

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/fdring/fdring/fdnet"
	"github.com/fdring/fdring/loop"
)

// Serving fdnet connections on a loop.
//
// ServeFdnet accepts fdnet connections (on its caller's goroutine, which
// blocks in Accept), detaches each one's two rings from its fdnet.Conn
// (fdnet.Conn.Detach) and hands them to a loop as a ring Conn
// (loop.Loop.AddRingConn, or loop.Group.AddRingConn, which picks the loop
// as for TCP connections), served by the same ConnHandler as a socket: so
// a loop's threads serve TCP clients and fdnet clients together. The loop
// owns the rings from then on and closes them when the Conn closes.

// RingConnAdder is where ServeFdnet sends the connections it accepts:
// *loop.Loop and *loop.Group (AddRingConn: safe from any goroutine).
type RingConnAdder interface {
	// AddRingConn serves rx and tx as a Conn with h (see loop.Loop.AddRingConn).
	AddRingConn(rx loop.ByteRingReceiver, tx loop.ByteRingSender, h loop.ConnHandler, laddr, raddr net.Addr) error
}

// ServeFdnet accepts connections on ln and serves each with h on dst (a
// *loop.Group spreads them over its loops) until ln is closed: then it
// returns nil. It returns an error if dst refuses a connection because it
// was closed (wrapping loop.ErrClosed; the connection is closed), or if
// Accept fails otherwise. ServeFdnet does not close ln.
func ServeFdnet(dst RingConnAdder, ln *fdnet.Listener, h loop.ConnHandler) error {
	if dst == nil || ln == nil || h == nil {
		return errors.New("handlers: serve fdnet: nil loop, listener or handler")
	}
	for {
		c, err := ln.AcceptContext(context.Background())
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("handlers: serve fdnet: %w", err)
		}
		// Nothing else holds c: Detach finds no call to wait for.
		rx, tx, err := c.Detach(context.Background())
		if err != nil {
			c.Close()
			return fmt.Errorf("handlers: serve fdnet: %w", err)
		}
		// dst owns the rings now, also when it fails (it closes them).
		if err := dst.AddRingConn(rx, tx, h, c.LocalAddr(), c.RemoteAddr()); err != nil {
			return fmt.Errorf("handlers: serve fdnet: %w", err)
		}
	}
}
