package fdring

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/fdring/fdring/ring"
	"github.com/fdring/fdring/shm"
)

// The listener's half of duplex channels (see duplex.go for the protocol).
//
// Goroutines and ownership. The first AcceptDuplex on a Listener starts an
// acceptor goroutine that accepts connections and hands each to a reader
// goroutine (at most maxHandshakes at once), which checks the peer's uid
// and reads its first message with a deadline, then offers the result (an
// arrival) to whichever AcceptDuplex call takes it. An arrival belongs to
// its reader until taken, then to the taker; whoever drops it closes its
// connection and fds. The taker does the rest, none of which waits for the
// peer: a hello becomes a halfOpen entry in pending (owned by the table; a
// timer drops it at its deadline), a join takes its entry out of the table
// (owned by the taker from then on) and completes the channel.
//
// When every reader is taken, the connection accepted next evicts the
// one that has waited longest for its first message (its read ends, and
// it is closed without an arrival): dialers that connect and stay silent
// cannot starve the listener, since a well-behaved dialer sends its first
// message right after it connects and is read long before 64 newer
// connections push it out.
//
// Listener.Close closes done, makes every reader's read end at once, drops
// every pending entry and waits for the goroutines.
//
// Lock order: duplexAcceptor.mu is a leaf.
type duplexAcceptor struct {
	l        *Listener
	arrivals chan arrival
	slots    chan struct{} // reader goroutines running (a semaphore)
	wg       sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	inflight map[*net.UnixConn]time.Time // connections being read: when each was accepted
	pending  map[token]*halfOpen
}

// arrival is a connection and its first message (or why there is none).
type arrival struct {
	conn     *net.UnixConn
	msg      []byte
	fds      []int
	pid, uid int
	err      error
}

// drop closes the connection and every fd the message carried.
func (a *arrival) drop() {
	if a.conn != nil {
		a.conn.Close()
	}
	for i, fd := range a.fds {
		if fd >= 0 {
			syscall.Close(fd)
			a.fds[i] = -1
		}
	}
}

// reject answers the peer with status before the caller drops a.
func (a *arrival) reject(status uint32, err error) error {
	a.conn.Write(newReply(status, false).encode())
	return err
}

// halfOpen is a duplex connection whose second half has not come yet.
type halfOpen struct {
	conn             *net.UnixConn
	pid, uid         int
	regionA, regionB *shm.Region
	rings            any // duplexRings[T] of the AcceptDuplex that took the hello
	timer            *time.Timer
	parked           time.Time // when it went into the table
}

func (p *halfOpen) close() {
	p.conn.Close()
	p.regionA.Close()
	p.regionB.Close()
}

type duplexRings[T any] struct {
	a, b *ring.Ring[T] // a: dialer -> listener, b: the other way
}

// duplex returns the Listener's acceptor, started on first use, or nil
// once the Listener is closed.
func (l *Listener) duplex() *duplexAcceptor {
	l.dxOnce.Do(func() {
		dx := &duplexAcceptor{
			l:        l,
			arrivals: make(chan arrival),
			slots:    make(chan struct{}, maxHandshakes),
			inflight: make(map[*net.UnixConn]time.Time),
			pending:  make(map[token]*halfOpen),
		}
		dx.wg.Add(1)
		go dx.acceptLoop()
		l.dx = dx
	})
	return l.dx
}

// acceptLoop accepts connections until the Listener closes. Errors other
// than the close (too many open files, ...) are retried after a pause that
// grows to a second, like net/http's Serve.
func (dx *duplexAcceptor) acceptLoop() {
	defer dx.wg.Done()
	var pause time.Duration
	for {
		conn, err := dx.l.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			t := time.NewTimer(pause)
			select {
			case <-dx.l.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		pause = 0
		select {
		case dx.slots <- struct{}{}:
		default:
			// Every reader is taken: make room by ending the read that
			// has waited longest (none when every reader holds a
			// message already: then wait for an AcceptDuplex to take one).
			dx.evictOldest()
			select {
			case dx.slots <- struct{}{}:
			case <-dx.l.done:
				conn.Close()
				return
			}
		}
		// Tracked before its reader runs, so that evictOldest sees every
		// connection that holds a slot and has no message yet.
		deadline := time.Now().Add(HandshakeTimeout)
		if !dx.track(conn, deadline) {
			conn.Close()
			<-dx.slots
			return
		}
		dx.wg.Add(1)
		go dx.readFirst(conn, deadline)
	}
}

// readFirst checks the peer of conn (tracked) and reads its first
// message, then offers the arrival to an AcceptDuplex call until the
// handshake deadline.
func (dx *duplexAcceptor) readFirst(conn *net.UnixConn, deadline time.Time) {
	defer dx.wg.Done()
	defer func() { <-dx.slots }()
	a := arrival{conn: conn}
	a.err = dx.read(&a)
	if !dx.untrack(conn) {
		a.drop() // evicted for a newer connection: nobody's business
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case dx.arrivals <- a:
		return
	case <-dx.l.done:
	case <-t.C:
	}
	a.drop()
}

func (dx *duplexAcceptor) read(a *arrival) error {
	pid, uid, err := checkPeerUID(a.conn, dx.l.policy())
	a.pid, a.uid = pid, uid
	if err != nil {
		return err
	}
	buf := make([]byte, helloSize)
	n, fds, err := shm.RecvFds(a.conn, buf, handshakeFds)
	a.fds = fds
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: peer hung up before its hello", ErrHandshake)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: no hello within the handshake timeout: %w", ErrHandshake, err)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	a.msg = buf[:n]
	return nil
}

// track registers conn as being read (Close then ends the read) and sets
// its deadline; false once the Listener is closed.
func (dx *duplexAcceptor) track(conn *net.UnixConn, deadline time.Time) bool {
	dx.mu.Lock()
	defer dx.mu.Unlock()
	if dx.closed {
		return false
	}
	dx.inflight[conn] = time.Now()
	conn.SetDeadline(deadline)
	return true
}

// untrack ends the read of conn; false if evictOldest ended it.
func (dx *duplexAcceptor) untrack(conn *net.UnixConn) bool {
	dx.mu.Lock()
	defer dx.mu.Unlock()
	if _, ok := dx.inflight[conn]; !ok {
		return false
	}
	delete(dx.inflight, conn)
	return true
}

// evictOldest ends the read of the connection that has waited longest for
// its first message (its reader then drops it and frees its slot).
func (dx *duplexAcceptor) evictOldest() {
	dx.mu.Lock()
	defer dx.mu.Unlock()
	var oldest *net.UnixConn
	var at time.Time
	for c, t := range dx.inflight {
		if oldest == nil || t.Before(at) {
			oldest, at = c, t
		}
	}
	if oldest != nil {
		delete(dx.inflight, oldest)
		oldest.SetDeadline(time.Unix(1, 0))
	}
}

// shutdown ends every read in progress, drops every half-open connection
// and waits for the goroutines (the Listener's socket is closed already).
func (dx *duplexAcceptor) shutdown() {
	dx.mu.Lock()
	dx.closed = true
	for conn := range dx.inflight {
		conn.SetDeadline(time.Unix(1, 0))
	}
	pending := dx.pending
	dx.pending = make(map[token]*halfOpen)
	dx.mu.Unlock()
	for _, p := range pending {
		p.timer.Stop()
		p.close()
	}
	dx.wg.Wait()
}

// park adds p under a fresh token; false when the Listener is closed. A
// full table makes room by closing the half that has waited longest: a
// dialer that sends first halves and no second ones cannot lock the
// others out, since a well-behaved dialer sends its second half right
// after the reply.
func (dx *duplexAcceptor) park(p *halfOpen) (token, bool) {
	var tok token
	rand.Read(tok[:])
	var evicted *halfOpen
	defer func() {
		if evicted != nil {
			evicted.close()
		}
	}()
	dx.mu.Lock()
	defer dx.mu.Unlock()
	if dx.closed {
		return tok, false
	}
	if len(dx.pending) >= maxHalfOpen {
		var oldTok token
		for t, q := range dx.pending {
			if evicted == nil || q.parked.Before(evicted.parked) {
				oldTok, evicted = t, q
			}
		}
		delete(dx.pending, oldTok)
		evicted.timer.Stop() // its callback finds it gone anyway
	}
	p.parked = time.Now()
	dx.pending[tok] = p
	dx.l.mu.Lock()
	wait := dx.l.halfOpen
	dx.l.mu.Unlock()
	p.timer = time.AfterFunc(wait, func() {
		if dx.take(tok, p) != nil {
			p.close()
		}
	})
	return tok, true
}

// take removes the entry for tok (only if it is p, unless p is nil) and
// returns it: single use.
func (dx *duplexAcceptor) take(tok token, p *halfOpen) *halfOpen {
	dx.mu.Lock()
	defer dx.mu.Unlock()
	q := dx.pending[tok]
	if q == nil || (p != nil && q != p) {
		return nil
	}
	delete(dx.pending, tok)
	return q
}

func (dx *duplexAcceptor) halfOpenCount() int {
	dx.mu.Lock()
	defer dx.mu.Unlock()
	return len(dx.pending)
}

// AcceptDuplex waits, until ctx ends or l is closed, for the next duplex
// channel (see DialDuplex) and returns this process's two sides: a Sender
// into the ring towards the dialer and a Receiver of the ring from it.
//
// Connections are read on goroutines of the Listener, so a dialer that is
// slow to send its hello holds up nobody. What the call does itself never
// waits for a peer: it checks a first message and, for a hello, maps the
// memfd and answers with a token; for the second half, it checks the
// token and the peer and completes the channel. Checks: the peer's uid
// (Listener.AllowUIDs), the hello (version, element type:
// ErrTypeMismatch; one-way Dial: ErrKindMismatch), that the memory is a
// memfd sealed against shrinking and growing, of exactly the size the two
// rings need and at most Listener.SetMaxMemory; both ring headers; that
// the second half carries a token this Listener issued and has not seen
// before and comes from the process and uid of the first.
//
// A connection that fails a check is closed and its error returned,
// wrapped (ErrNotAllowed, ErrTypeMismatch, ErrKindMismatch, ErrHandshake,
// ErrCorrupt, ...); the Listener stays usable, and the caller may simply
// call again. A half whose second half does not come within
// HandshakeTimeout is closed. After Close it returns an error wrapping
// ErrClosed. Safe for concurrent use. Options: WithSpin.
//
// A Listener serves either one-way channels (Accept) or duplex ones: do
// not call both on one Listener.
func AcceptDuplex[T any](ctx context.Context, l *Listener, opts ...Option) (*Sender[T], *Receiver[T], error) {
	cfg := newConfig(opts)
	desc, err := ring.Describe[T]()
	if err != nil {
		return nil, nil, fmt.Errorf("fdring: accept duplex: %w", err)
	}
	dx := l.duplex()
	if dx == nil {
		return nil, nil, acceptErr(net.ErrClosed)
	}
	for {
		var a arrival
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-l.done:
			return nil, nil, acceptErr(net.ErrClosed)
		case a = <-dx.arrivals:
		}
		tx, rx, err := handleArrival[T](dx, &a, desc, cfg)
		if err != nil {
			a.drop()
			return nil, nil, fmt.Errorf("fdring: accept duplex: %w", err)
		}
		if tx != nil {
			return tx, rx, nil
		}
	}
}

// handleArrival answers one first message: a hello parks a half-open
// connection (nil sides, nil error), a join completes one. The caller
// drops a on error.
func handleArrival[T any](dx *duplexAcceptor, a *arrival, desc ring.TypeInfo, cfg config) (*Sender[T], *Receiver[T], error) {
	if a.err != nil {
		return nil, nil, a.err
	}
	if len(a.msg) == joinSize {
		return completeDuplex[T](dx, a, cfg)
	}
	return nil, nil, openHalf[T](dx, a, desc)
}

// openHalf checks a duplex hello, maps and opens both rings and parks them
// under a fresh token, which it sends to the dialer. On success the
// pending table owns the connection and the memory.
func openHalf[T any](dx *duplexAcceptor, a *arrival, desc ring.TypeInfo) (err error) {
	h, err := decodeHello(a.msg)
	if err != nil {
		return a.reject(replyBad, err)
	}
	if len(a.fds) != handshakeFds {
		return a.reject(replyBad, fmt.Errorf("%w: %d fds, want %d", ErrHandshake, len(a.fds), handshakeFds))
	}
	if h.flags&flagDuplex == 0 {
		return a.reject(replyKind, kindErr("the dialer (one-way Dial)"))
	}
	dx.l.mu.Lock()
	maxMemory := dx.l.maxMemory
	dx.l.mu.Unlock()
	if h.capacity == 0 || h.capacity > ring.MaxCapacity {
		return a.reject(replyBad, fmt.Errorf("%w: capacity %d", ErrHandshake, h.capacity))
	}
	size, stride, total, ok := duplexLayout[T](int(h.capacity))
	if !ok || uint64(total) != h.memSize {
		return a.reject(replyBad, fmt.Errorf("%w: capacity %d with %d bytes of memory, two rings need %d", ErrHandshake, h.capacity, h.memSize, total))
	}
	one := h
	one.memSize = uint64(size)
	if status, err := checkHello[T](one, desc, maxMemory); err != nil {
		return a.reject(status, err)
	}
	if int64(total) > maxMemory {
		return a.reject(replyBad, fmt.Errorf("%w: %d bytes of ring memory, this listener takes at most %d (Listener.SetMaxMemory)", ErrHandshake, total, maxMemory))
	}
	regionA, err := shm.Map(a.fds[0], total)
	if err != nil {
		return a.reject(replyBad, fmt.Errorf("%w: %w", ErrHandshake, err))
	}
	a.fds[0] = -1 // regionA owns it now
	regionB, err := mapAgain(regionA)
	regionA.CloseFd()
	if err != nil {
		regionA.Close()
		return a.reject(replyBad, fmt.Errorf("%w: %w", ErrHandshake, err))
	}
	regionB.CloseFd()
	p := &halfOpen{conn: a.conn, pid: a.pid, uid: a.uid, regionA: regionA, regionB: regionB}
	defer func() {
		if err != nil {
			p.regionA.Close()
			p.regionB.Close()
		}
	}()
	ra, err := ring.Open[T](regionA.Bytes()[:size])
	if err != nil {
		return a.reject(replyBad, fmt.Errorf("%w: first ring: %w", ErrHandshake, err))
	}
	rb, err := ring.Open[T](regionB.Bytes()[stride : stride+size])
	if err != nil {
		return a.reject(replyBad, fmt.Errorf("%w: second ring: %w", ErrHandshake, err))
	}
	if uint64(ra.Cap()) != h.capacity || uint64(rb.Cap()) != h.capacity {
		return a.reject(replyBad, fmt.Errorf("%w: header capacities %d and %d, hello says %d", ErrHandshake, ra.Cap(), rb.Cap(), h.capacity))
	}
	peerPlain := h.flags&flagPlainStores != 0
	for _, r := range []*ring.Ring[T]{ra, rb} {
		r.SetShared()
		r.SetRemotePeer(peerPlain)
	}
	p.rings = duplexRings[T]{a: ra, b: rb}
	tok, ok := dx.park(p)
	if !ok {
		return a.reject(replyBad, fmt.Errorf("%w: the listener closed", ErrHandshake))
	}
	// From here on the table owns p (and a.conn through it).
	if _, werr := a.conn.Write(encodeDuplexReply(newReply(replyOK, ra.SharedPlain()), tok)); werr != nil {
		if dx.take(tok, p) != nil {
			p.timer.Stop()
			p.close()
		}
		a.conn = nil
		return fmt.Errorf("%w: the dialer hung up during the handshake: %w", ErrHandshake, werr)
	}
	a.conn = nil // parked: not the caller's to drop
	return nil
}

// completeDuplex pairs a join with its half-open connection and turns the
// two into this process's sides.
func completeDuplex[T any](dx *duplexAcceptor, a *arrival, cfg config) (*Sender[T], *Receiver[T], error) {
	j, err := decodeJoin(a.msg)
	if err != nil {
		return nil, nil, a.reject(replyBad, err)
	}
	if len(a.fds) != 0 {
		return nil, nil, a.reject(replyBad, fmt.Errorf("%w: the second half carries %d fds", ErrHandshake, len(a.fds)))
	}
	p := dx.take(j.token, nil)
	if p == nil {
		return nil, nil, a.reject(replyBad, fmt.Errorf("%w: a second half with a token this listener did not issue, or used or expired", ErrHandshake))
	}
	p.timer.Stop()
	if a.pid != p.pid || a.uid != p.uid {
		p.close()
		return nil, nil, a.reject(replyBad, fmt.Errorf("%w: the second half comes from pid %d uid %d, the first from pid %d uid %d",
			ErrHandshake, a.pid, a.uid, p.pid, p.uid))
	}
	rs, ok := p.rings.(duplexRings[T])
	if !ok {
		p.close()
		return nil, nil, a.reject(replyMismatch, fmt.Errorf("%w: the first half was accepted for another element type", ErrTypeMismatch))
	}
	if _, err := a.conn.Write(newReply(replyOK, rs.b.SharedPlain()).encode()); err != nil {
		p.close()
		return nil, nil, fmt.Errorf("%w: the dialer hung up during the handshake: %w", ErrHandshake, err)
	}
	p.conn.SetDeadline(time.Time{})
	a.conn.SetDeadline(time.Time{})
	rx, err := remoteSide(p.conn, rs.a, p.regionA, cfg.spin, newReceiver[T], rs.a.Receiver().SenderClosed, nil)
	p.conn.Close() // its fd lives on as a duplicate
	if err != nil {
		p.regionA.Close()
		p.regionB.Close()
		return nil, nil, err
	}
	txB := rs.b.Sender()
	tx, err := remoteSide(a.conn, rs.b, p.regionB, cfg.spin, newSender[T], txB.ReceiverClosed, txB.PeerGone)
	a.conn.Close()
	if err != nil {
		rx.Close()
		p.regionB.Close()
		return nil, nil, err
	}
	return tx, rx, nil
}
