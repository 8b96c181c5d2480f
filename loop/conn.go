package loop

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/fdring/fdring/internal/sys"
	"golang.org/x/sys/unix"
)

// Connections.
//
// A Conn is a non-blocking stream socket owned by one loop; all its methods
// run on that loop's goroutine (from its handlers, Posts or timers).
//
// Reading: on a readable event the loop reads into its one shared buffer and
// calls OnData with the bytes read; the slice is valid only during the call.
// At most a few reads happen per event (level-triggered polling calls again).
//
// Writing: Write tries the socket at once when no output is pending, and
// appends what the socket did not take to the Conn's output buffer. Writable
// interest is on exactly while output is pending. When pending output reaches
// the high-water mark, reading stops (the peer, not reading, is throttled
// through TCP flow control); it resumes when output drains to the low-water
// mark. Write never refuses data, so the bound holds for servers whose writes
// are driven by reads (the usual case): pending <= high + one read buffer.
//
// Closing: a read of 0 (the peer's FIN) stops reading; pending output is
// flushed, then the Conn closes and OnClose gets nil. Close drops pending
// output; CloseWrite shuts the write side down after pending output is
// flushed. A socket error closes the Conn and hands the error to OnClose.
//
// When OnClose runs (one rule for Close, a failed Write, Read or
// CloseWrite, and every other way a Conn is closed): never nested inside
// another callback of the loop. A Conn closed while a callback runs (a
// ConnHandler method, a Watch handler, a Post function, a timer) is closed
// at once as far as its methods are concerned (Closed is true, they fail
// with ErrClosed, Fd is -1), and its socket is closed and OnClose called as
// soon as that callback returns, before the loop delivers anything else. A
// Conn closed outside any callback (on the goroutine that owns a loop that
// is not running) gets OnClose before the closing call returns. So a
// handler can call Close or Write and then go on using its own state,
// knowing OnClose has not run under it.
//
// Hooks. ConnHandler has the three methods every handler needs. A handler
// that also wants to know when its output drained (SetOnDrain) or that
// reads the socket itself (SetOnReadable) installs a hook on the Conn,
// usually in OnOpen. Unlike optional interfaces found by type assertion,
// which every wrapping handler would have to forward, a hook travels with
// OnOpen, which a wrapper forwards anyway: a wrapper cannot lose it.
//
// Half-close (SetHalfClose): for a handler whose output does not answer its
// input (a stream to a client that only reads and may shut its write side
// down at once), the peer's FIN only ends reading. The Conn stays open for
// writing until the handler calls CloseWrite (the Conn closes once its own
// FIN is sent, both directions being finished then) or Close. TCP cannot
// tell a peer that shut down its write side from one that closed: a peer
// that is gone shows as a write error (EPIPE, ECONNRESET) at the next Write
// or flush, which closes the Conn as usual. A half-closed Conn with no
// pending output is not polled.

// ConnHandler receives a connection's life. All calls run on the loop
// goroutine that owns the connection.
type ConnHandler interface {
	// OnOpen is called once the Conn is registered, before any OnData.
	OnOpen(c *Conn)
	// OnData delivers bytes read; data is valid only during the call.
	OnData(c *Conn, data []byte)
	// OnClose is called once, after the fd was closed: err is nil for a clean
	// close (the peer's EOF, or Close), ErrClosed when the loop closed, else
	// the socket error. It never runs nested inside another callback of
	// the loop: a Conn closed during a callback gets it when that callback
	// returns (see "When OnClose runs" at the top of conn.go).
	OnClose(c *Conn, err error)
}

// maxKeepOut is the output buffer capacity a Conn keeps once drained.
const maxKeepOut = 64 << 10

// maxReadsPerEvent bounds the reads per readable event, for fairness.
const maxReadsPerEvent = 4

// Conn is a connection served by a Loop.
type Conn struct {
	l            *Loop
	tok          Token
	fd           int
	h            ConnHandler
	onDrain      func(*Conn) // SetOnDrain
	onReadable   func(*Conn) // SetOnReadable
	ctx          any
	laddr, raddr net.Addr
	out          []byte // pending output is out[off:]
	off          int
	closed       bool
	closeQueued  bool  // a deferred close is pending (Loop.closing)
	closeErr     error // what the deferred close reports
	readPaused   bool  // pending output is above the high-water mark
	userPaused   bool  // PauseRead: the handler cannot take more input now
	peerEOF      bool  // the peer sent FIN: flush, then close (unless halfClose)
	halfClose    bool  // SetHalfClose: the peer's FIN does not close the Conn
	shutWrite    bool  // CloseWrite asked for a shutdown once flushed
	wrShut       bool  // the write side is shut down

	rc     *ringConn // a ring Conn's transport (ringconn.go); nil for a socket
	copyIn bool      // SetCopyInput: a ring Conn's OnData gets a private copy
}

// Loop returns the loop that owns c.
func (c *Conn) Loop() *Loop { return c.l }

// Fd returns the socket descriptor (owned by the loop; do not close it), or
// -1 once c is closed (or closing) or detached: the number may name another
// file by then. A ring Conn (WatchRingConn) has no socket: -1.
func (c *Conn) Fd() int {
	if c.closed || c.closeQueued || c.rc != nil {
		return -1
	}
	return c.fd
}

// LocalAddr returns the local address, if known.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer address, if known.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// Context returns the value set by SetContext.
func (c *Conn) Context() any { return c.ctx }

// SetContext attaches user data to c.
func (c *Conn) SetContext(v any) { c.ctx = v }

// SetOnDrain installs f, called on the loop goroutine each time c's pending
// output has just been written out completely (Buffered went from non-zero
// to zero), so a handler that holds back output (a bridge from a ring)
// knows when to produce more. nil removes it. Install it in OnOpen (see
// "Hooks" in conn.go): a wrapping ConnHandler then cannot lose it. One hook
// per Conn: a later call replaces an earlier one.
func (c *Conn) SetOnDrain(f func(c *Conn)) { c.onDrain = f }

// SetOnReadable installs f for a handler that reads the socket itself,
// straight into memory of its own (a ring, with no copy through the loop's
// buffer): on a readable event the loop calls f instead of reading and
// calling OnData. f calls Read as often as it likes (until it returns 0 or
// the handler's memory is full; whatever it leaves is reported again next
// round). nil restores OnData. Install it in OnOpen, before any data is
// read (see "Hooks" in conn.go). One hook per Conn: a later call replaces
// an earlier one.
func (c *Conn) SetOnReadable(f func(c *Conn)) { c.onReadable = f }

// Buffered returns how many bytes of output are pending.
func (c *Conn) Buffered() int { return len(c.out) - c.off }

// ReadPaused reports whether reading is paused, because output is backed up
// or because the handler called PauseRead.
func (c *Conn) ReadPaused() bool { return c.readPaused || c.userPaused }

// PauseRead stops reading from c until ResumeRead: for a handler whose
// downstream (a full ring, a slow peer) cannot take more input now. The
// kernel's socket buffer then fills and TCP flow control throttles the peer.
// Pausing does not stop output or the detection of errors on writes; but a
// paused Conn with no pending output is not polled at all, so a peer's
// hangup is noticed only after ResumeRead.
func (c *Conn) PauseRead() error {
	if c.closed || c.closeQueued {
		return fmt.Errorf("loop: pause read: %w", ErrClosed)
	}
	c.userPaused = true
	return c.updateInterest()
}

// ResumeRead undoes PauseRead. Input that arrived meanwhile is delivered in
// the next rounds.
func (c *Conn) ResumeRead() error {
	if c.closed || c.closeQueued {
		return fmt.Errorf("loop: resume read: %w", ErrClosed)
	}
	c.userPaused = false
	return c.updateInterest()
}

// Closed reports whether c was closed (or is about to be, after the running
// handler returns).
func (c *Conn) Closed() bool { return c.closed || c.closeQueued }

// SetHalfClose chooses what the peer's FIN does. By default (false) the
// Conn flushes its pending output and closes. With true the FIN only ends
// reading, and the Conn stays open for writing until CloseWrite (it closes
// once its own FIN is sent) or Close: for output that does not depend on
// the input, to a peer that may shut its write side down at once. Call it
// in OnOpen, before the FIN can be read. No effect on a closed Conn.
func (c *Conn) SetHalfClose(on bool) {
	if c.closed || c.closeQueued {
		return
	}
	c.halfClose = on
	if !on && c.peerEOF && c.Buffered() == 0 {
		c.closeLater(nil)
	}
}

// PeerClosed reports whether the peer's FIN was read: nothing more will be
// read from c.
func (c *Conn) PeerClosed() bool { return c.peerEOF }

// doneAfterFlush reports whether c closes once its output is flushed: the
// peer sent FIN and, for a half-closing Conn, the write side is shut down
// as well.
func (c *Conn) doneAfterFlush() bool {
	return c.peerEOF && (!c.halfClose || c.wrShut)
}

// Write sends p, buffering what the socket does not take at once. It returns
// len(p) unless the Conn is closed or write-shut (ErrClosed) or the socket
// failed (then the Conn closes after the running handler returns).
func (c *Conn) Write(p []byte) (int, error) {
	if c.closed || c.closeQueued || c.shutWrite {
		return 0, fmt.Errorf("loop: write: %w", ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	done := 0
	if c.Buffered() == 0 {
		n, err := c.writeNow(p)
		if err != nil {
			c.closeLater(err)
			return 0, fmt.Errorf("loop: %w", err)
		}
		done = n
		if done == len(p) {
			return len(p), nil
		}
	}
	if c.off > 0 && c.off >= len(c.out)/2 {
		n := copy(c.out, c.out[c.off:])
		c.out, c.off = c.out[:n], 0
	}
	c.out = append(c.out, p[done:]...)
	if !c.readPaused && c.Buffered() >= c.l.cfg.highWater {
		c.readPaused = true
	}
	if err := c.updateInterest(); err != nil {
		c.closeLater(err)
	}
	return len(p), nil
}

// CloseWrite shuts the write side down once pending output is flushed; the
// Conn keeps reading until the peer closes. If the peer's FIN came already
// (a half-closing Conn, see SetHalfClose), the Conn closes once the shutdown
// is sent, after the running handler returns.
func (c *Conn) CloseWrite() error {
	if c.closed || c.closeQueued {
		return fmt.Errorf("loop: close write: %w", ErrClosed)
	}
	if c.shutWrite {
		return nil
	}
	c.shutWrite = true
	if c.Buffered() == 0 {
		if err := c.shutdownWrite(); err != nil {
			return err
		}
		if c.doneAfterFlush() {
			c.closeLater(nil)
		}
	}
	return nil
}

// Close closes c, dropping pending output; OnClose gets nil (or the error
// of a failed Write or Read made earlier in the same callback). From a
// callback, OnClose runs when the callback returns; elsewhere, before Close
// returns (see "When OnClose runs" in conn.go). Idempotent.
func (c *Conn) Close() error {
	c.closeLater(c.closeErr)
	return nil
}

// writeNow writes what the transport takes of p now, without blocking.
func (c *Conn) writeNow(p []byte) (int, error) {
	if c.rc != nil {
		return c.rc.write(p)
	}
	n, err := sys.IgnoringEINTRValue(func() (int, error) { return unix.Write(c.fd, p) })
	switch {
	case err == unix.EAGAIN:
		return 0, nil
	case err != nil:
		return 0, os.NewSyscallError("write", err)
	}
	return n, nil
}

func (c *Conn) shutdownWrite() error {
	c.wrShut = true
	if c.rc != nil {
		// The peer reads the rest, then io.EOF.
		if err := c.rc.tx.Close(); err != nil {
			c.closeLater(err)
			return fmt.Errorf("loop: close write: %w", err)
		}
		return nil
	}
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		err = os.NewSyscallError("shutdown", err)
		c.closeLater(err)
		return fmt.Errorf("loop: %w", err)
	}
	return nil
}

// handle serves one readiness event: read first (so data the peer sent
// before hanging up is delivered), then flush.
func (c *Conn) handle(ev Event) {
	if !c.readPaused && !c.userPaused && !c.peerEOF && ev&(EventReadable|EventHangup|EventError) != 0 {
		c.read()
	}
	if !c.closed && !c.closeQueued && c.Buffered() > 0 && ev&(EventWritable|EventHangup|EventError) != 0 {
		c.flush()
	}
}

// Read reads from the socket into p without blocking, for a handler that
// installed SetOnReadable. It returns (0, nil) when nothing is there now; io.EOF
// once the peer sent FIN (the Conn then flushes its pending output and
// closes, as after OnData); any other error closes the Conn (OnClose when
// the running callback returns).
func (c *Conn) Read(p []byte) (int, error) {
	if c.closed || c.closeQueued {
		return 0, fmt.Errorf("loop: read: %w", ErrClosed)
	}
	if c.peerEOF {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.rc != nil {
		return c.rc.read(p)
	}
	n, err := sys.IgnoringEINTRValue(func() (int, error) { return unix.Read(c.fd, p) })
	switch {
	case err == unix.EAGAIN:
		return 0, nil
	case err != nil:
		err = os.NewSyscallError("read", err)
		c.closeLater(err)
		return 0, fmt.Errorf("loop: %w", err)
	case n == 0:
		c.sawEOF()
		return 0, io.EOF
	}
	return n, nil
}

// sawEOF records the peer's FIN: reading ends, and c closes once its
// output is flushed (unless it half-closes).
func (c *Conn) sawEOF() {
	c.peerEOF = true
	if c.Buffered() == 0 && c.doneAfterFlush() {
		c.closeLater(nil)
	} else if err := c.updateInterest(); err != nil {
		c.closeLater(err)
	}
}

// Detach stops serving c without closing its socket and returns the fd,
// which the caller owns from now on (close-on-exec, non-blocking). Pending
// output is dropped (check Buffered first) and OnClose is not called.
func (c *Conn) Detach() (int, error) {
	if c.closed || c.closeQueued {
		return -1, fmt.Errorf("loop: detach: %w", ErrClosed)
	}
	if c.rc != nil {
		return -1, fmt.Errorf("loop: detach: %w", ErrNotSocket)
	}
	c.closed = true
	l := c.l
	_ = l.forget(c.tok.slot) // as in closeWith: the slot is free either way
	l.nconns.Add(-1)
	c.out, c.off = nil, 0
	return c.fd, nil
}

func (c *Conn) read() {
	if c.onReadable != nil {
		c.onReadable(c)
		return
	}
	if c.rc != nil {
		c.rc.deliver()
		return
	}
	buf := c.l.readBuf
	for range maxReadsPerEvent {
		// Read closes c (after this event) on an error or at the peer's
		// EOF with nothing left to send.
		n, err := c.Read(buf)
		if n == 0 || err != nil {
			return
		}
		c.h.OnData(c, buf[:n])
		if c.closed || c.closeQueued || c.readPaused || c.userPaused || c.peerEOF || n < len(buf) {
			return
		}
	}
}

func (c *Conn) flush() {
	for c.off < len(c.out) {
		n, err := c.writeNow(c.out[c.off:])
		if err != nil {
			c.closeWith(err)
			return
		}
		if n == 0 {
			break
		}
		c.off += n
	}
	drained := false
	if c.Buffered() == 0 {
		c.off = 0
		if cap(c.out) > maxKeepOut {
			c.out = nil
		} else {
			c.out = c.out[:0]
		}
		if c.doneAfterFlush() {
			c.closeWith(nil)
			return
		}
		if c.shutWrite && !c.wrShut {
			if c.shutdownWrite() != nil {
				return
			}
			if c.doneAfterFlush() {
				c.closeWith(nil) // half-closed: both FINs are out now
				return
			}
		}
		drained = true
	}
	if c.readPaused && c.Buffered() <= c.l.cfg.lowWater {
		c.readPaused = false
	}
	if err := c.updateInterest(); err != nil {
		c.closeWith(err)
		return
	}
	if c.onDrain != nil && drained && !c.wrShut {
		c.onDrain(c)
	}
}

// updateInterest keeps the poller registration in line with the Conn state:
// Readable unless paused or past the peer's EOF, Writable while output is pending.
func (c *Conn) updateInterest() error {
	var in Interest
	if !c.readPaused && !c.userPaused && !c.peerEOF {
		in |= Readable
	}
	if c.Buffered() > 0 {
		in |= Writable
	}
	if c.rc != nil {
		return c.rc.setInterest(in&Readable != 0, in&Writable != 0)
	}
	if c.l.slots[c.tok.slot].interest == in {
		return nil
	}
	if err := c.l.setInterest(c.tok.slot, in); err != nil {
		return fmt.Errorf("loop: conn fd %d: %w", c.fd, err)
	}
	return nil
}

// closeLater closes c with err as the rule at the top of the file says: it
// queues the close for the end of the running callback, or, when no
// callback runs, closes at once.
func (c *Conn) closeLater(err error) {
	if c.closed || c.closeQueued {
		return
	}
	c.closeQueued, c.closeErr = true, err
	c.l.closing = append(c.l.closing, c)
	if !c.l.inCallback {
		c.l.closeDeferred()
	}
}

// afterCallback runs the closes a callback queued, once it returned.
func (l *Loop) afterCallback() {
	if len(l.closing) > 0 {
		l.closeDeferred()
	}
}

// closeDeferred runs the closes queued by closeLater, as one callback
// (OnClose may close other Conns: those follow, not nested).
func (l *Loop) closeDeferred() {
	nested := l.inCallback
	l.inCallback = true
	defer func() { l.inCallback = nested }()
	for len(l.closing) > 0 {
		c := l.closing[len(l.closing)-1]
		l.closing[len(l.closing)-1] = nil
		l.closing = l.closing[:len(l.closing)-1]
		c.closeWith(c.closeErr)
	}
}

func (c *Conn) closeWith(err error) {
	if c.closed {
		return
	}
	c.closed = true
	l := c.l
	// The fd is closed right after, which removes it from the poller
	// anyway; forget's error has nowhere more useful to go.
	if c.rc != nil {
		c.rc.close()
	} else {
		_ = l.forget(c.tok.slot)
		unix.Close(c.fd)
	}
	l.nconns.Add(-1)
	c.out, c.off = nil, 0
	c.h.OnClose(c, err)
}

// WatchConnFd adopts a connected stream socket: the loop owns fd from now on
// (also when this fails: then fd is closed). It is made non-blocking and
// close-on-exec, OnOpen runs before WatchConnFd returns. Loop goroutine only.
func (l *Loop) WatchConnFd(fd int, h ConnHandler) (*Conn, error) {
	if h == nil {
		unix.Close(fd)
		return nil, fmt.Errorf("loop: watch conn: nil handler")
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("loop: watch conn fd %d: %w", fd, err)
	}
	l.nconns.Add(1)
	return l.adopt(fd, h)
}

// WatchConn adopts nc (which must implement syscall.Conn, as *net.TCPConn and
// *net.UnixConn do): the loop takes a duplicate of its fd and closes nc, so
// from now on only the returned Conn serves the connection. On error nc is
// left open, the caller's (ErrClosed on a closed loop). Loop goroutine only.
func (l *Loop) WatchConn(nc net.Conn, h ConnHandler) (*Conn, error) {
	if l.closedFlag.Load() {
		return nil, fmt.Errorf("loop: watch conn: %w", ErrClosed)
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("loop: watch conn: %T has no file descriptor", nc)
	}
	fd, err := dupConn(sc)
	if err != nil {
		return nil, fmt.Errorf("loop: watch conn: %w", err)
	}
	c, err := l.WatchConnFd(fd, h) // closes the duplicate on error
	if err != nil {
		return nil, err
	}
	// The duplicate keeps the connection open; nc's descriptor goes.
	nc.Close()
	return c, nil
}

// dupConn duplicates the fd behind sc, close-on-exec.
func dupConn(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	err = rc.Control(func(raw uintptr) {
		fd, derr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl", derr)
	}
	return fd, nil
}

// adopt registers a connected non-blocking fd already counted in nconns. On
// failure it closes fd and uncounts it.
func (l *Loop) adopt(fd int, h ConnHandler) (*Conn, error) {
	if l.closedFlag.Load() {
		unix.Close(fd)
		l.nconns.Add(-1)
		return nil, fmt.Errorf("loop: watch conn: %w", ErrClosed)
	}
	c := &Conn{l: l, fd: fd, h: h}
	c.tok = l.alloc(kindConn, fd)
	l.slots[c.tok.slot].conn = c
	if err := l.setInterest(c.tok.slot, Readable); err != nil {
		l.freeSlot(c.tok.slot)
		unix.Close(fd)
		l.nconns.Add(-1)
		return nil, fmt.Errorf("loop: watch conn fd %d: %w", fd, err)
	}
	if sa, err := unix.Getsockname(fd); err == nil {
		c.laddr = sockaddrToAddr(sa)
		switch sa.(type) {
		case *unix.SockaddrInet4, *unix.SockaddrInet6:
			// Best effort: a reactor batches its own writes.
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
	}
	if sa, err := unix.Getpeername(fd); err == nil {
		c.raddr = sockaddrToAddr(sa)
	}
	l.open(c, h)
	return c, nil
}

// open runs h.OnOpen for a new Conn as a loop callback: a Close or a
// failed Write inside it runs OnClose when it returns, never nested (see
// Conn.Close).
func (l *Loop) open(c *Conn, h ConnHandler) {
	nested := l.inCallback
	l.inCallback = true
	h.OnOpen(c)
	l.inCallback = nested
	if !nested {
		l.afterCallback()
	}
}
