package fdnet

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fdring/fdring"
)

// How a Conn works. It is two fdring byte rings, one per direction: it
// writes into tx and reads from rx, and its peer holds the other side of
// each.
//
// Concurrency. fdring's sides belong to one goroutine at a time, except
// Close, which is safe from any goroutine and wakes a blocked SendWait,
// RecvWait or Wait of its side. So:
//
//	rmu   held by Read and WriteTo for the whole call: the only users of rx
//	wmu   held by Write and ReadFrom for the whole call: the only users of tx
//	rd    the read deadline; Read and WriteTo wait on its context
//	wd    the write deadline; Write and ReadFrom wait on its context
//
// rmu and wmu are independent (a Read and a Write run at once); the
// deadlines' locks are leaves. Close, CloseRead, CloseWrite and the
// deadline setters take neither rmu nor wmu, so they never wait for a
// blocked call: they wake it instead.
//
// Closing. Close sets closed, cancels both deadline contexts (cause
// net.ErrClosed), then closes tx and rx. CloseWrite sets wclosed, then
// closes tx; CloseRead sets rclosed, then closes rx. A call that then
// fails on its ring finds the flag already set and reports the close
// (net.ErrClosed, or io.EOF after CloseRead) rather than the ring's error.
//
// Lifetimes. fdring never frees ring memory or fds that a call in progress
// can still touch (a Reserve or Peek slice included), so Close need not
// wait for ReadFrom's src.Read or WriteTo's dst.Write, which it cannot
// interrupt.

// Conn is one end of a byte stream over two fdring rings; see the package
// documentation for its semantics. Make one with Pipe (or Listen and Dial).
type Conn struct {
	tx *fdring.Sender[byte]
	rx *fdring.Receiver[byte]

	local, remote net.Addr

	rmu, wmu sync.Mutex
	rd, wd   deadline

	closed, rclosed, wclosed atomic.Bool

	// replySpin: how long a Read that finds no data polls the ring before
	// it sleeps, when this Conn wrote since it last received data or
	// waited (wrote), so that the peer is likely answering. 0: never
	// (WithSpin was given, and the rings spin on every wait instead).
	replySpin time.Duration
	wrote     atomic.Bool
}

var (
	_ net.Conn      = (*Conn)(nil)
	_ io.ReaderFrom = (*Conn)(nil)
	_ io.WriterTo   = (*Conn)(nil)
)

// newConn makes a Conn that writes into tx and reads from rx. The Conn owns
// both sides and closes them on Close.
func newConn(tx *fdring.Sender[byte], rx *fdring.Receiver[byte], local, remote net.Addr, cfg *config) *Conn {
	c := &Conn{tx: tx, rx: rx, local: local, remote: remote, replySpin: cfg.replySpin()}
	c.rd.init()
	c.wd.init()
	return c
}

// errInvalidCount: a src.Read or dst.Write in ReadFrom or WriteTo returned
// a count outside 0..len(p).
var errInvalidCount = errors.New("fdnet: reader or writer returned an invalid count")

// Read copies up to len(p) bytes out of the receive ring, waiting until
// there is at least one. It returns io.EOF once the peer closed its
// writing side and every byte was read.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		ctx := c.rd.context()
		if ctx.Err() != nil {
			return 0, c.readErr(context.Cause(ctx))
		}
		if len(p) == 0 {
			return 0, nil
		}
		c.awaitReply()
		n, err := c.rx.RecvWait(ctx, func(data []byte) int { return copy(p, data) })
		switch {
		case n > 0:
			c.gotReply()
			if err != nil {
				err = c.readErr(err)
			}
			return n, err
		case err != nil && !errors.Is(err, context.Canceled):
			return 0, c.readErr(err)
		}
		// The deadline passed, or moved after it had passed: look again.
	}
}

// Write copies p into the send ring, waiting for room as needed. It
// returns once every byte is in the ring, or with an error and the number
// of bytes that made it.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	done := 0
	for {
		ctx := c.wd.context()
		if ctx.Err() != nil {
			return done, c.writeErr(context.Cause(ctx))
		}
		if len(p) == 0 {
			return 0, nil
		}
		n, err := c.tx.SendWait(ctx, func(free []byte) int { return copy(free, p[done:]) })
		done += n
		c.noteWrite(n)
		switch {
		case err != nil && !errors.Is(err, context.Canceled):
			return done, c.writeErr(err)
		case done == len(p):
			return done, nil
		}
		// Room for more, or the deadline passed or moved: look again.
	}
}

// ReadFrom reads from src straight into the send ring's memory until
// src returns io.EOF (ReadFrom then returns a nil error), waiting for room
// as needed: io.Copy to a Conn copies each byte once. The write deadline
// and Close end a wait for room; they cannot interrupt a src.Read in
// progress. src.Read gets ring memory: it must not keep the slice.
func (c *Conn) ReadFrom(src io.Reader) (int64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var total int64
	for {
		ctx := c.wd.context()
		if ctx.Err() != nil {
			return total, c.writeErr(context.Cause(ctx))
		}
		free, err := c.tx.Reserve()
		if len(free) == 0 {
			if err == nil {
				err = c.tx.Wait(ctx)
			}
			if err == nil || errors.Is(err, context.Canceled) {
				continue
			}
			return total, c.writeErr(err)
		}
		n, rerr := src.Read(free)
		if n < 0 || n > len(free) {
			return total, errInvalidCount
		}
		total += int64(n)
		if err := c.tx.Commit(n); err != nil {
			return total, c.writeErr(err)
		}
		c.noteWrite(n)
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// WriteTo hands the receive ring's memory straight to dst.Write until the
// peer closes its writing side (WriteTo then returns a nil error): io.Copy
// from a Conn copies each byte once. The read deadline and Close end a
// wait for data; they cannot interrupt a dst.Write in progress. dst.Write
// gets ring memory: it must not keep the slice.
func (c *Conn) WriteTo(dst io.Writer) (int64, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var total int64
	for {
		ctx := c.rd.context()
		if ctx.Err() != nil {
			return total, c.readErr(context.Cause(ctx))
		}
		data, err := c.rx.Peek()
		if len(data) == 0 {
			if err == nil {
				c.awaitReply()
				err = c.rx.Wait(ctx)
			}
			if err == nil || errors.Is(err, context.Canceled) {
				continue
			}
			if err = c.readErr(err); err == io.EOF {
				err = nil
			}
			return total, err
		}
		c.gotReply()
		n, werr := dst.Write(data)
		if n < 0 || n > len(data) {
			return total, errInvalidCount
		}
		total += int64(n)
		if err := c.rx.Release(n); err != nil {
			return total, c.readErr(err)
		}
		if werr != nil {
			return total, werr
		}
		if n < len(data) {
			return total, io.ErrShortWrite
		}
	}
}

// Close closes both directions: a Read, Write, ReadFrom or WriteTo
// blocked on this Conn returns an error wrapping net.ErrClosed, the peer
// reads io.EOF after the last byte this side wrote, and the peer's writes
// fail. Close is safe from any goroutine, and idempotent: later calls
// return nil.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.rd.close()
	c.wd.close()
	if err := errors.Join(c.tx.Close(), c.rx.Close()); err != nil {
		return c.opErr("close", err)
	}
	return nil
}

// CloseWrite shuts down the writing side, like (*net.UnixConn).CloseWrite:
// the peer reads io.EOF after the last byte, and Read on this Conn keeps
// working. A Write blocked at the time, and every later one, fails with an
// error wrapping net.ErrClosed.
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	c.wclosed.Store(true)
	if err := c.tx.Close(); err != nil {
		return c.opErr("close", err)
	}
	return nil
}

// CloseRead shuts down the reading side: a Read blocked at the time, and
// every later one, returns io.EOF (as on a *net.UnixConn on Linux), unread
// bytes are dropped, and the peer's writes fail.
func (c *Conn) CloseRead() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	c.rclosed.Store(true)
	if err := c.rx.Close(); err != nil {
		return c.opErr("close", err)
	}
	return nil
}

// LocalAddr returns the local address: the socket path, or "pipe".
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the remote address: the socket path, or "pipe".
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines, as net.Conn describes:
// it applies to calls already blocked, a zero t means none, and a call
// that times out returns an error that is a net.Error with Timeout() true
// and wraps os.ErrDeadlineExceeded.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline of Read and WriteTo (see SetDeadline).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the deadline of Write and ReadFrom (see
// SetDeadline).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.wd.set(t)
	return nil
}

// readErr turns why the receive ring gave nothing (a ring error, or a
// deadline context's cause) into what Read returns: io.EOF as it is, the
// Conn's own close as net.ErrClosed (io.EOF after CloseRead), the rest
// wrapped in a *net.OpError.
func (c *Conn) readErr(err error) error {
	switch {
	case err == io.EOF:
		return io.EOF
	case c.closed.Load():
		err = net.ErrClosed
	case c.rclosed.Load():
		return io.EOF
	}
	return c.opErr("read", err)
}

// writeErr is readErr for the sending side. The peer's close arrives as
// an error wrapping fdring.ErrClosed.
func (c *Conn) writeErr(err error) error {
	if c.closed.Load() || c.wclosed.Load() {
		err = net.ErrClosed
	}
	return c.opErr("write", err)
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: network, Source: c.local, Addr: c.remote, Err: err}
}
