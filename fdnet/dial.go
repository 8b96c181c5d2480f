package fdnet

import (
	"context"
	"net"

	"github.com/fdring/fdring"
)

// Dial connects to the Listener at path and returns the connection: two
// byte rings of WithBufferSize bytes each (DefaultBufferSize unless given)
// in one sealed memfd, set up with fdring's duplex handshake (see
// fdring.DialDuplex). It checks that the listening process runs as our
// effective uid (or one allowed with WithPeerUIDs or WithAnyPeerUID). ctx
// bounds the connect and the handshake; it does not limit the Conn
// afterwards. Errors are *net.OpError values wrapping fdring's
// (fdring.ErrNotAllowed, fdring.ErrHandshake, ...) or the socket's.
//
// Unlike a unix socket's connect, Dial completes only while the listening
// process is in Listener.Accept (the handshake is read there; net/http and
// gRPC servers always are): a Dial with no Accept to come waits until ctx
// ends or the listener's handshake timeout (fdring.HandshakeTimeout).
//
// When the listening process dies, Read returns everything it had written
// and then an error wrapping fdring.ErrPeerGone, and Write fails with one.
func Dial(ctx context.Context, path string, opts ...Option) (*Conn, error) {
	addr := Addr{Path: path}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	tx, rx, err := fdring.DialDuplex[byte](ctx, path, cfg.bufSize, cfg.ringOptions()...)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	return newConn(tx, rx, addr, addr, &cfg), nil
}
