// Package fdnet is a bidirectional byte stream over two fdring byte rings,
// one per direction, behind net.Conn and net.Listener: code written for
// sockets (net/http, gRPC, anything that takes a net.Conn) runs over
// shared memory unchanged. A Read or Write with data or room makes no
// syscall; a side that has to wait sleeps on its wakeup fd until the peer
// signals it (see package fdring), after a short spin if it is a Read
// waiting for the answer to what this Conn just wrote.
//
//	a, b, err := fdnet.Pipe()                // a connected pair in this process
//	l, err := fdnet.Listen("/run/app.sock")  // across processes: *Listener, a net.Listener
//	c, err := fdnet.Dial(ctx, "/run/app.sock")
//
// # Switching a server and its clients
//
// A net/http or gRPC server changes the line that makes its listener, and
// a client the line that dials:
//
//	l, err := fdnet.Listen("/run/app.sock") // was net.Listen("unix", "/run/app.sock")
//	srv.Serve(l)                            // http.Server or grpc.Server, unchanged
//
//	// net/http
//	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
//		return fdnet.Dial(ctx, "/run/app.sock")
//	}}
//	// gRPC (the target is then only a name)
//	cc, err := grpc.NewClient("passthrough:///app", grpc.WithContextDialer(
//		func(ctx context.Context, _ string) (net.Conn, error) { return fdnet.Dial(ctx, "/run/app.sock") }),
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//
// # Across processes
//
// Listen and Dial set up each connection with fdring's duplex handshake
// (fdring.DialDuplex, fdring.AcceptDuplex): the dialer creates both rings
// in one memfd sealed against shrinking and growing, passes it over a
// unix SOCK_SEQPACKET connection and opens a second connection that the
// listener pairs with the first by a single-use random token; each
// connection then carries one ring's wakeups, so a blocked Read and a
// blocked Write never take each other's. Both ends check who is on the
// other side (SO_PEERCRED: the same effective uid unless WithPeerUIDs or
// WithAnyPeerUID allow others), and the second connection must come from
// the process of the first. The dialer chooses the buffer size; the
// Listener maps at most SetMaxMemory bytes per connection.
//
// Accept returns only completed connections. The Listener reads each
// dialer's first message on a goroutine of its own, bounded by
// fdring.HandshakeTimeout, so a silent or slow dialer holds up nobody; a
// dialer that fails a check is told and closed, and Accept goes on to the
// next (it never returns a handshake error: http.Server and grpc.Server
// would stop serving). A connection whose second half never comes is closed
// at the handshake deadline. Close makes a blocked Accept return an error
// wrapping net.ErrClosed.
//
// Each process watches the other (a pidfd and the connections' hang-up):
// when a peer process dies, Read returns everything it had written and then
// an error wrapping fdring.ErrPeerGone, and Write fails with one. A peer
// that corrupts the shared ring state makes Read and Write fail with
// fdring.ErrCorrupt; nothing is read or written out of bounds.
//
// # Semantics
//
// A *Conn is a full net.Conn, like a *net.UnixConn stream:
//
//   - Read copies out of the receive ring, waiting until at least one byte
//     is there; it returns io.EOF after the peer closed its writing side
//     (Close or CloseWrite) and every byte was read. Write copies into the
//     send ring and returns once every byte is in it, or with an error.
//   - io.Copy copies each byte once: ReadFrom reads from its source
//     straight into the send ring's memory, WriteTo hands the receive
//     ring's memory straight to its destination's Write. Neither may keep
//     the slice it is given.
//   - Read and Write run at once from different goroutines; concurrent
//     Reads (and concurrent Writes) are serialized, never interleaved.
//   - Close, from any goroutine, wakes every blocked call, which returns an
//     error wrapping net.ErrClosed ("use of closed network connection"); it
//     is idempotent. The peer then reads io.EOF after the last byte, and its
//     writes fail with an error wrapping fdring.ErrClosed.
//   - Deadlines follow net.Conn: SetDeadline, SetReadDeadline and
//     SetWriteDeadline apply to calls already blocked (moving a deadline
//     later keeps them waiting, a deadline in the past wakes them at once),
//     and a timed-out call returns a net.Error whose Timeout() is true and
//     which wraps os.ErrDeadlineExceeded. They also bound ReadFrom's and
//     WriteTo's waits for the ring, but cannot interrupt the source's Read
//     or the destination's Write in progress; neither can Close.
//   - CloseWrite ends the stream towards the peer, which reads io.EOF after
//     the last byte, while Read goes on; Write then fails with net.ErrClosed.
//     CloseRead drops unread bytes and makes Read return io.EOF; the peer's
//     writes fail.
//   - LocalAddr and RemoteAddr are Addr values: Network "fdring", String
//     the socket path ("pipe" for a Pipe); so is a Listener's Addr.
//
// Other errors arrive as *net.OpError wrapping fdring's: fdring.ErrPeerGone
// once a peer process died without closing (after everything it wrote was
// read), fdring.ErrCorrupt when a peer broke the shared ring.
//
// Each direction's ring holds WithBufferSize bytes (DefaultBufferSize by
// default); a Write larger than that returns when the peer has read enough
// of it. By default only a Read that waits for a reply (this Conn wrote
// since its last wait) polls the ring, for DefaultReplySpin, before it
// sleeps; every other wait sleeps at once, which keeps bulk transfers
// from spinning on CPUs the peer needs. WithSpin(d) makes every blocked
// call poll for d instead: spinning answers a busy peer in well under a
// microsecond instead of a wakeup's tens, at the cost of CPU while it
// spins.
package fdnet
