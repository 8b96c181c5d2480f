package transport

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/fdring/fdring/fdnet"
)

// PipeListener is a net.Listener in one process whose connections are
// fdnet.Pipe pairs: Dial makes a pair, keeps one end and hands the other
// to Accept. It runs a server (net/http, gRPC) over fdnet's rings without
// a second process.
type PipeListener struct {
	opts    []fdnet.Option
	conns   chan net.Conn
	done    chan struct{}
	closing sync.Once
}

var _ net.Listener = (*PipeListener)(nil)

// NewPipeListener returns a PipeListener whose pairs are made with opts.
func NewPipeListener(opts ...fdnet.Option) *PipeListener {
	return &PipeListener{opts: opts, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept returns the server's end of the next Dial, or an error wrapping
// net.ErrClosed once the listener is closed.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "fdring", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

// Dial makes a connected pair and returns the client's end once Accept
// took the other. It fails when ctx ends or the listener is closed first.
func (l *PipeListener) Dial(ctx context.Context) (net.Conn, error) {
	a, b, err := fdnet.Pipe(l.opts...)
	if err != nil {
		return nil, fmt.Errorf("transport: pipe: %w", err)
	}
	select {
	case l.conns <- b:
		return a, nil
	case <-l.done:
		err = net.ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	a.Close()
	b.Close()
	return nil, &net.OpError{Op: "dial", Net: "fdring", Addr: l.Addr(), Err: err}
}

// Close stops Accept and later Dials; connections already made stay open.
// It is idempotent.
func (l *PipeListener) Close() error {
	l.closing.Do(func() { close(l.done) })
	return nil
}

// Addr returns fdnet's address of a pipe.
func (l *PipeListener) Addr() net.Addr { return fdnet.Addr{Path: "pipe"} }
