package fdnet

import (
	"context"
	"errors"
	"net"
	"sync/atomic"

	"github.com/fdring/fdring"
)

// Listener accepts fdnet connections from other processes (and this one)
// on a unix socket: a net.Listener whose Accept returns *Conn. Each
// connection is an fdring duplex channel of two byte rings (see
// fdring.AcceptDuplex): the dialer chooses the ring size.
//
// Handshakes run off the Accept caller's path: a dialer that connects and
// stays silent costs a goroutine for at most fdring.HandshakeTimeout and
// holds up nobody. A connection that fails its handshake (a peer of a user
// not allowed, a malformed or hostile hello, a half that never completes)
// is closed and never returned: Accept goes on to the next one, so a
// server's Serve loop does not stop for a bad client.
type Listener struct {
	fl     *fdring.Listener
	addr   Addr
	cfg    config
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	rejected atomic.Uint64 // handshakes that failed
}

var _ net.Listener = (*Listener)(nil)

// Listen creates the unix socket at path (file mode 0600; a stale socket
// file nobody listens on is replaced) and returns a Listener on it.
// Options: WithSpin (the accepted Conns' spin), WithPeerUIDs and
// WithAnyPeerUID (which users may connect; by default only our own
// effective uid). WithBufferSize does not apply: the dialer decides.
func Listen(path string, opts ...Option) (*Listener, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	addr := Addr{Path: path}
	fl, err := fdring.Listen(path)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: addr, Err: err}
	}
	if len(cfg.uids) > 0 {
		fl.AllowUIDs(cfg.uids...)
	}
	if cfg.anyUID {
		fl.AllowAnyUID()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Listener{fl: fl, addr: addr, cfg: cfg, ctx: ctx, cancel: cancel}, nil
}

// Accept waits for the next connection and returns it (a *Conn). After
// Close it returns an error wrapping net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptContext(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptContext is Accept as a *Conn, until ctx ends (then a *net.OpError
// wrapping ctx.Err()) or the Listener is closed (wrapping net.ErrClosed).
// Safe for concurrent use.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(l.ctx, cancel)
	defer stop()
	for {
		tx, rx, err := fdring.AcceptDuplex[byte](ctx, l.fl, l.cfg.ringOptions()...)
		if err == nil {
			return newConn(tx, rx, l.addr, l.addr, &l.cfg), nil
		}
		switch {
		case l.ctx.Err() != nil || errors.Is(err, fdring.ErrClosed):
			return nil, &net.OpError{Op: "accept", Net: network, Addr: l.addr, Err: net.ErrClosed}
		case ctx.Err() != nil:
			return nil, &net.OpError{Op: "accept", Net: network, Addr: l.addr, Err: ctx.Err()}
		}
		// That dialer's handshake failed: it was told, and its
		// connection closed. Serve the next one.
		l.rejected.Add(1)
	}
}

// SetMaxMemory sets the most ring memory, in bytes, the Listener maps for
// one connection, both directions together (fdring.DefaultMaxMemory by
// default): a dialer asking for larger rings is refused.
func (l *Listener) SetMaxMemory(bytes int64) { l.fl.SetMaxMemory(bytes) }

// Addr returns the Listener's address: network "fdring", the socket path.
func (l *Listener) Addr() net.Addr { return l.addr }

// Close stops listening and removes the socket file; a blocked Accept
// returns an error wrapping net.ErrClosed. Connections already accepted
// are not affected. Idempotent.
func (l *Listener) Close() error {
	l.cancel()
	if err := l.fl.Close(); err != nil {
		return &net.OpError{Op: "close", Net: network, Addr: l.addr, Err: err}
	}
	return nil
}
