package loop

import (
	"errors"
	"fmt"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// Ring connections.
//
// A ring Conn is a *Conn whose transport is a pair of byte rings instead of
// a socket: it reads from rx and writes into tx, and its peer (another
// goroutine or process, e.g. an fdnet connection) holds the other side of
// each. The ConnHandler, the output buffer and every rule of conn.go are
// the same; only the four places that touch the transport differ:
//
//	read     Peek at rx; OnData gets the ring memory itself (no copy, at
//	         most one read buffer per call, as for a socket), then Release
//	         what was delivered. Conn.Read (for SetOnReadable) copies, and
//	         so does OnData after SetCopyInput(true).
//	write    Reserve in tx, copy, Commit; what does not fit goes into the
//	         output buffer, exactly as for a socket.
//	shut     CloseWrite closes tx once the output is flushed: the peer reads
//	         the rest, then io.EOF.
//	close    Close, or an error, closes rx and tx.
//
// Registration. rx and tx are two ring registrations of the loop (WatchRing
// slots, kindRing) whose handler is the ringConn, and whose slot also
// points at the Conn (slot.conn), so the loop's Close closes it like a
// socket Conn. Interest follows updateInterest's rule: rx is active while
// reading is wanted (not paused, no EOF yet), tx while output is pending.
// An inactive side is neither armed nor polled, so an idle ring Conn costs
// one armed rx per sleep, and a Conn whose peer is slow costs nothing until
// the peer frees room in tx and wakes the loop.
//
// Ends. rx's io.EOF is the peer's FIN (half-close rules of conn.go). Any
// other error of a ring (fdring's ErrPeerGone once the peer process died and
// everything it committed was delivered, ErrClosed once it closed its
// receiver, ErrCorrupt) closes the Conn with that error, which OnClose gets
// unchanged (errors.Is works on it). As with TCP, a Conn that only reads
// notices that its peer stopped reading at its next write.
//
// Shared input. The ring memory OnData gets may be shared with another
// process, which, if hostile, can change the bytes while OnData reads them
// (see SECURITY.md: fdring does not guarantee correct data). A handler that
// only passes bytes on (an echo, a proxy, a bridge) does not care; one
// that validates input and then relies on it (a parser that reads a length,
// checks it, and reads it again) must either read each byte once, or call
// SetCopyInput(true) in OnOpen: OnData then gets a private copy in the
// loop's read buffer, as from a socket, at the cost of one copy.
//
// Fd is -1 for a ring Conn: there is no socket to set options on, and the
// rings' wakeup fds are shared with the peer (a syscall on them could
// disturb it). Detach fails with ErrNotSocket.

// ByteRingReceiver is the receiving side of a byte ring that a ring Conn
// reads from (fdring's *Receiver[byte] is one). Peek returns the largest
// contiguous readable slice of ring memory ((nil, nil) when the ring is
// empty; io.EOF once the peer closed its sending side and everything was
// read; any other error is the end of the connection); Release frees the
// first n bytes of it; Close tells the peer nobody reads any more. Only
// Close may be called from another goroutine.
type ByteRingReceiver interface {
	RingSource
	// Peek returns the largest contiguous readable slice, without consuming it.
	Peek() ([]byte, error)
	// Release consumes the first n bytes of the slice Peek returned.
	Release(n int) error
	// Close closes this side.
	Close() error
}

// ByteRingSender is the sending side of a byte ring that a ring Conn writes
// into (fdring's *Sender[byte] is one). Reserve returns the largest
// contiguous free slice of ring memory ((nil, nil) when the ring is full;
// an error once the ring takes nothing any more); Commit publishes the
// first n bytes of it; Close ends the stream (the peer reads io.EOF after
// the last committed byte).
type ByteRingSender interface {
	RingSource
	// Reserve returns the largest contiguous free slice.
	Reserve() ([]byte, error)
	// Commit publishes the first n bytes of the slice Reserve returned.
	Commit(n int) error
	// Close closes this side.
	Close() error
}

var (
	// ErrNotSocket: the Conn is a ring Conn (WatchRingConn), which has no
	// socket: Detach fails with it.
	ErrNotSocket = errors.New("loop: ring conn has no socket")
	// ErrRingWakeup: consuming a ring Conn's wakeup failed (the
	// RingSource's WaitClear returned an error); the Conn closes with it.
	ErrRingWakeup = errors.New("loop: ring conn: wakeup fd failed")
)

// ringConn is the transport of a ring Conn and the Handler of its two ring
// registrations.
type ringConn struct {
	c            *Conn
	rx           ByteRingReceiver
	tx           ByteRingSender
	rxTok, txTok Token
}

// WatchRingConn serves the byte rings rx (input) and tx (output) as a
// connection with h, with the same callbacks and semantics as a socket
// Conn (see "Ring connections" in ringconn.go): so one ConnHandler serves
// TCP clients and ring clients alike. laddr and raddr are what
// LocalAddr and RemoteAddr report (nil is allowed). The loop owns rx and
// tx from now on, also when WatchRingConn fails (then both are closed):
// the Conn's close closes them. rx and tx must have different Fds. OnOpen
// runs before WatchRingConn returns. Loop goroutine only (or while the
// loop is not running); from any other goroutine use AddRingConn.
func (l *Loop) WatchRingConn(rx ByteRingReceiver, tx ByteRingSender, h ConnHandler, laddr, raddr net.Addr) (*Conn, error) {
	if rx == nil || tx == nil || h == nil {
		closeRings(rx, tx)
		return nil, errors.New("loop: watch ring conn: nil ring or handler")
	}
	l.nconns.Add(1)
	return l.adoptRing(rx, tx, h, laddr, raddr)
}

// AddRingConn is WatchRingConn for any goroutine: the loop creates the Conn
// in its next round (OnOpen runs there). The loop owns rx and tx from now
// on: if it is closed before it serves them, they are closed (then, or
// when AddRingConn fails with ErrClosed).
func (l *Loop) AddRingConn(rx ByteRingReceiver, tx ByteRingSender, h ConnHandler, laddr, raddr net.Addr) error {
	if rx == nil || tx == nil || h == nil {
		closeRings(rx, tx)
		return errors.New("loop: add ring conn: nil ring or handler")
	}
	l.nconns.Add(1)
	p := pendingConn{fd: -1, h: h, ring: &pendingRing{rx: rx, tx: tx, laddr: laddr, raddr: raddr}}
	if err := l.enqueue(p); err != nil {
		p.discard(l)
		return err
	}
	return nil
}

// AddRingConn hands a ring connection to one of the group's loops, chosen
// by the group's balancer as for accepted sockets (see Loop.AddRingConn).
// Any goroutine.
func (g *Group) AddRingConn(rx ByteRingReceiver, tx ByteRingSender, h ConnHandler, laddr, raddr net.Addr) error {
	return g.pick().AddRingConn(rx, tx, h, laddr, raddr)
}

// pendingRing is a ring connection queued for a loop (pendingConn.ring).
type pendingRing struct {
	rx           ByteRingReceiver
	tx           ByteRingSender
	laddr, raddr net.Addr
}

// adoptOn serves a queued connection (counted in nconns) on l. On failure
// its transport is closed; the client sees the end.
func (p pendingConn) adoptOn(l *Loop) {
	if r := p.ring; r != nil {
		_, _ = l.adoptRing(r.rx, r.tx, p.h, r.laddr, r.raddr)
		return
	}
	_, _ = l.adopt(p.fd, p.h)
}

// discard closes a queued connection that l will not serve, and uncounts
// it.
func (p pendingConn) discard(l *Loop) {
	if r := p.ring; r != nil {
		closeRings(r.rx, r.tx)
	} else {
		unix.Close(p.fd)
	}
	l.nconns.Add(-1)
}

func closeRings(rx ByteRingReceiver, tx ByteRingSender) {
	if rx != nil {
		_ = rx.Close()
	}
	if tx != nil {
		_ = tx.Close()
	}
}

// adoptRing registers a ring connection already counted in nconns. On
// failure it closes the rings and uncounts it.
func (l *Loop) adoptRing(rx ByteRingReceiver, tx ByteRingSender, h ConnHandler, laddr, raddr net.Addr) (_ *Conn, err error) {
	defer func() {
		if err != nil {
			closeRings(rx, tx)
			l.nconns.Add(-1)
		}
	}()
	if l.closedFlag.Load() {
		return nil, fmt.Errorf("loop: watch ring conn: %w", ErrClosed)
	}
	// tx joins the poller when output is pending; a second registration
	// of the same file would fail then, so refuse it now.
	if rx.Fd() == tx.Fd() {
		return nil, fmt.Errorf("loop: watch ring conn: rx and tx share fd %d", rx.Fd())
	}
	c := &Conn{l: l, fd: -1, h: h, laddr: laddr, raddr: raddr}
	rc := &ringConn{c: c, rx: rx, tx: tx}
	c.rc = rc
	rc.rxTok = l.alloc(kindRing, rx.Fd())
	rc.txTok = l.alloc(kindRing, tx.Fd())
	for _, r := range [...]struct {
		tok Token
		src RingSource
	}{{rc.rxTok, rx}, {rc.txTok, tx}} {
		s := &l.slots[r.tok.slot]
		s.h, s.ring, s.conn = rc, r.src, c
		s.edge = l.poller.edge() && r.src.EdgeTriggered()
	}
	if err := l.setInterest(rc.rxTok.slot, Readable); err != nil {
		l.freeSlot(rc.rxTok.slot)
		l.freeSlot(rc.txTok.slot)
		return nil, fmt.Errorf("loop: watch ring conn fd %d: %w", rx.Fd(), err)
	}
	rx.SetWake(l.wakeRing)
	tx.SetWake(l.wakeRing)
	l.open(c, h)
	return c, nil
}

// OnEvent serves the ring Conn's two registrations: rx has data (or its
// end), tx has room (or its end).
func (rc *ringConn) OnEvent(tok Token, ev Event) {
	c := rc.c
	if c.closed || c.closeQueued {
		return
	}
	switch tok {
	case rc.rxTok:
		if !c.readPaused && !c.userPaused && !c.peerEOF {
			c.read()
		}
	case rc.txTok:
		if c.Buffered() > 0 {
			c.flush()
		}
	}
	if ev&EventError != 0 && !c.closed && !c.closeQueued {
		c.closeLater(ErrRingWakeup)
	}
}

// SetCopyInput chooses, for a ring Conn, whether OnData gets the ring's
// memory itself (false, the default: no copy, but a peer process can change
// the bytes during the call) or a private copy of it in the loop's read
// buffer (true: the bytes cannot change under the handler, as from a
// socket). See "Shared input" in ringconn.go. No effect on a socket Conn.
// Call it in OnOpen, before input is delivered.
func (c *Conn) SetCopyInput(on bool) { c.copyIn = on }

// deliver is Conn.read for a ring Conn: OnData gets ring memory, which is
// released once OnData returned (all of it was delivered).
func (rc *ringConn) deliver() {
	c := rc.c
	limit := len(c.l.readBuf)
	for range maxReadsPerEvent {
		data, err := rc.rx.Peek()
		if err != nil {
			rc.readErr(err)
			return
		}
		if len(data) == 0 {
			return
		}
		data = data[:min(len(data), limit)]
		if c.copyIn {
			c.h.OnData(c, c.l.readBuf[:copy(c.l.readBuf, data)])
		} else {
			c.h.OnData(c, data)
		}
		if c.closed {
			return // the rings are closed: nothing to release
		}
		if err := rc.rx.Release(len(data)); err != nil {
			c.closeLater(err)
			return
		}
		if c.closeQueued || c.readPaused || c.userPaused || c.peerEOF {
			return
		}
	}
}

// read is Conn.Read for a ring Conn: a copy out of rx.
func (rc *ringConn) read(p []byte) (int, error) {
	data, err := rc.rx.Peek()
	if err != nil {
		return 0, rc.readErr(err)
	}
	n := copy(p, data)
	if n == 0 {
		return 0, nil
	}
	if err := rc.rx.Release(n); err != nil {
		rc.c.closeLater(err)
		return 0, fmt.Errorf("loop: read: %w", err)
	}
	return n, nil
}

// readErr handles the end of rx: io.EOF is the peer's FIN, anything else
// closes the Conn. It returns what Conn.Read reports.
func (rc *ringConn) readErr(err error) error {
	if errors.Is(err, io.EOF) {
		rc.c.sawEOF()
		return io.EOF
	}
	rc.c.closeLater(err)
	return fmt.Errorf("loop: read: %w", err)
}

// write copies as much of p into tx as fits now.
func (rc *ringConn) write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		free, err := rc.tx.Reserve()
		if err != nil {
			return done, err
		}
		if len(free) == 0 {
			break
		}
		n := copy(free, p[done:])
		if err := rc.tx.Commit(n); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// setInterest turns rx and tx on or off.
func (rc *ringConn) setInterest(rxOn, txOn bool) error {
	l := rc.c.l
	if (l.slots[rc.rxTok.slot].interest != 0) != rxOn {
		if err := l.setInterest(rc.rxTok.slot, ringInterest(rxOn)); err != nil {
			return fmt.Errorf("loop: ring conn fd %d: %w", rc.rx.Fd(), err)
		}
	}
	if (l.slots[rc.txTok.slot].interest != 0) != txOn {
		if err := l.setInterest(rc.txTok.slot, ringInterest(txOn)); err != nil {
			return fmt.Errorf("loop: ring conn fd %d: %w", rc.tx.Fd(), err)
		}
	}
	return nil
}

// close unregisters both rings and closes them.
func (rc *ringConn) close() {
	l := rc.c.l
	// The rings are closed right after; forget frees the slots either way.
	_ = l.forget(rc.rxTok.slot)
	_ = l.forget(rc.txTok.slot)
	closeRings(rc.rx, rc.tx)
}
