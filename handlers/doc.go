// Package handlers holds ready-made handlers for package loop, built only on
// the public APIs of loop and fdring:
//
//   - Consume drains an fdring Receiver on a loop, calling a function on ring
//     memory (no copy), a bounded amount per loop round.
//   - Echo is a loop.ConnHandler that sends back every byte it reads.
//   - RingToConn and ConnToRing bridge a byte ring and a connection in either
//     direction, with backpressure both ways.
//   - ServeEvio runs github.com/tidwall/evio callbacks on fdring's loop.
//
// # Goroutines
//
// Everything here follows package loop's rules. Constructors that register
// with a loop (Consume) and the methods named "loop goroutine only" must be
// called on the goroutine running the loop (from a handler, a Post function
// or a timer callback), or while the loop is not running. Every callback a
// handler makes (the Consume function, OnDone, OnBackpressure, evio's
// events) runs on the goroutine of the loop that serves the ring or the
// connection. Counters (Stats, Echo's getters) are readable from any
// goroutine. ServeEvio blocks its caller; evio's callbacks run on the loops'
// goroutines, except Serving (on the caller's, before the loops start) and
// the Closed calls of a shutdown (on the caller's, after the loops stopped);
// evio.Conn.Wake is safe from any goroutine.
//
// # Ownership
//
// Consume does not own its Receiver: it unwatches it when the stream ends
// and then calls OnDone, which may close it. The bridges own the ring side
// they are given and close it when they finish, so the peer of the ring
// learns that the connection went away.
//
// # Flow control
//
// The handlers build on package loop's Conn hooks rather than on
// descriptors of their own, so every connection stays the loop's (counted
// in Stats.Conns and by LeastConns, closed by loop.Close). Each installs
// its hooks in OnOpen, so a ConnHandler that wraps one of them and forwards
// the three ConnHandler methods (as it must) cannot lose a hook:
//
//   - ConnToRing installs a read hook (loop.Conn.SetOnReadable): it reads
//     the socket straight into ring memory with Conn.Read, and while the
//     ring is full it calls Conn.PauseRead and turns the Sender's ring
//     interest on, to learn of space, then ResumeRead.
//   - RingToConn installs a drain hook (loop.Conn.SetOnDrain): at its
//     output limit it stops draining the ring, and the hook (the Conn's
//     output was written out) starts it again. It only writes, so it sets
//     its Conn to half-close (loop.Conn.SetHalfClose): a client that only
//     reads may shut its write side down at once and still gets the whole
//     stream.
//   - ServeEvio carries out evio's Close and Detach actions at once, or in
//     its drain hook when output is pending; Detach hands the socket over
//     with Conn.Detach.
//
// A bridge stopped from inside a callback (a ring error, Close) finishes,
// and calls its OnDone, when that callback returns: package loop runs a
// Conn's OnClose only then (see loop's conn.go).
package handlers
