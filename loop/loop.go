package loop

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fdring/fdring/notify"
	"golang.org/x/sys/unix"
)

// The loop.
//
// Ownership. Everything below "loop goroutine only" is touched by the
// goroutine running Run (or by whoever holds the loop while it is not
// running). The fields below "any goroutine" are atomics or guarded by the
// mutex named next to them.
//
// Lock order: (Group.mu,) lifeMu, then postMu, then the wake Notifier's own
// lock (inside its Signal and Close). No lock is held while user code runs.
//
// One round (round):
//
//  1. Decide the timeout (prepareSleep). Zero if rings are queued, posts are
//     pending, a stop was asked or a timer is due. Otherwise spin on the rings'
//     Ready for up to WithSpin, then Arm every active ring; a ring that
//     reports work is queued and the timeout is zero. Only then declare
//     sleeping (see waker.go) and take the earliest timer as the timeout.
//  2. Poll. Dispatch each event whose Token is still live: a ring source's fd
//     gets WaitClear and its ring is queued; other sources, conns and
//     listeners get their handler now.
//  3. Dispatch the queued rings, each once.
//  4. Run posted functions (and adopt the connections a Group queued), then
//     due timers. After every callback (a handler, a Post function, a
//     timer) the loop closes the Conns it closed and runs their OnClose
//     (conn.go).
//  5. Queue every ring whose Ready reports work (O(watched rings), no syscall),
//     so rings that still have work, or got some while the loop was busy and
//     had not armed them, are served next round without a wakeup.
//  6. Publish the counters.
//
// While rings have work, rounds repeat with a zero timeout: one non-blocking
// poll per round, no blocking syscall and no syscall per message.

// Loop is a single-threaded reactor. See the package documentation for which
// methods may be called from which goroutine.
type Loop struct {
	cfg    config
	poller poller
	wake   notify.Notifier // the loop's wake fd (waker.go)
	base   time.Time

	lastPoll time.Duration // since base, of the last poller.wait (loop goroutine only)

	// Loop goroutine only.
	slots      []slot
	free       []uint32
	rings      []uint32 // slots of active ring sources
	ready      []Token  // rings queued for dispatch
	spare      []Token  // the other ready buffer
	events     []pollEvent
	timers     timerHeap
	timerSeq   uint64
	readBuf    []byte
	closing    []*Conn // conns whose close waits for the running callback to return (conn.go)
	inCallback bool    // a round, an OnOpen or a release runs: Conn closes wait (conn.go)
	cancelled  *atomic.Bool
	counts     counters
	gone       bool // release ran: no slots, no timers; Token methods fail with ErrClosed

	// Any goroutine.
	state       atomic.Uint32 // stateAwake, stateSleeping, stateWoken (waker.go)
	postPending atomic.Bool
	ringWoken   atomic.Bool // a ring's wake function was called (wakeRing)
	stopReq     atomic.Bool
	closedFlag  atomic.Bool
	nconns      atomic.Int64 // open conns plus conns queued for this loop

	postMu     sync.Mutex // guards posts, incoming, postClosed
	posts      []func()
	postSpare  []func()
	incoming   []pendingConn // connections a Group's listener queued for this loop
	postClosed bool

	lifeMu   sync.Mutex // guards running, closed, released; orders Stop against Run's end
	running  bool
	closed   bool
	released bool
}

// New creates a loop with its poller and wake fd. It cleans up after itself
// when it fails.
func New(opts ...Option) (*Loop, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	p, err := newPoller(&cfg)
	if err != nil {
		return nil, err
	}
	w, err := notify.New()
	if err != nil {
		p.close()
		return nil, fmt.Errorf("loop: wake fd: %w", err)
	}
	if err := p.add(w.Fd(), wakeToken, Readable); err != nil {
		w.Close()
		p.close()
		return nil, fmt.Errorf("loop: register waker: %w", err)
	}
	return &Loop{
		cfg:       cfg,
		poller:    p,
		wake:      w,
		base:      time.Now(),
		events:    make([]pollEvent, cfg.maxEvents),
		readBuf:   make([]byte, cfg.readBuf),
		cancelled: new(atomic.Bool),
	}, nil
}

// Watch registers src and returns its Token: an FD as WatchFd(fd, h,
// interest) does, a RingSource as WatchRing(src, h, interest != 0) does (a
// ring's interest is on or off; which direction it names does not matter).
// Any other Source fails with ErrSourceKind: a type that has Fd but not the
// whole RingSource (a wrapper around a ring that forwards only Fd) would
// otherwise be served by raw readiness and never armed, and its wakeups
// lost. Prefer WatchFd and WatchRing, which say what they register. The
// loop does not own src. Loop goroutine only (or while the loop is not
// running).
func (l *Loop) Watch(src Source, h Handler, interest Interest) (Token, error) {
	switch s := src.(type) {
	case nil:
		return Token{}, errors.New("loop: watch: nil source")
	case RingSource:
		return l.WatchRing(s, h, interest != 0)
	case FD:
		return l.WatchFd(int(s), h, interest)
	default:
		return Token{}, fmt.Errorf("loop: watch %T: %w: watch a plain fd with WatchFd (or as a loop.FD), "+
			"a ring with WatchRing (a RingSource: Fd, Ready, Arm, WaitClear, EdgeTriggered, SetWake)", src, ErrSourceKind)
	}
}

// WatchFd registers the plain file descriptor fd with interest and returns
// its Token; h runs on the loop goroutine for each readiness event (see
// "Handlers of fd sources" in the package documentation). The loop never
// closes fd; Unwatch it before closing it. Loop goroutine only (or while
// the loop is not running).
func (l *Loop) WatchFd(fd int, h Handler, interest Interest) (Token, error) {
	if h == nil {
		return Token{}, errors.New("loop: watch fd: nil handler")
	}
	if l.closedFlag.Load() {
		return Token{}, fmt.Errorf("loop: watch fd %d: %w", fd, ErrClosed)
	}
	tok := l.alloc(kindFd, fd)
	l.slots[tok.slot].h = h
	if err := l.setInterest(tok.slot, interest); err != nil {
		l.freeSlot(tok.slot)
		return Token{}, fmt.Errorf("loop: watch fd %d: %w", fd, err)
	}
	return tok, nil
}

// WatchRing registers one side of a ring and returns its Token. The ring is
// served by the wakeup protocol (see "Ring sources" in the package
// documentation): while active, h is called with EventReady whenever the
// ring is Ready, once per round. active false registers it paused (no
// calls until SetRingActive turns it on). WatchRing gives src a wake
// function (RingSource.SetWake), which Unwatch takes back. The loop does
// not own src. Loop goroutine only (or while the loop is not running).
func (l *Loop) WatchRing(src RingSource, h Handler, active bool) (Token, error) {
	if src == nil || h == nil {
		return Token{}, errors.New("loop: watch ring: nil ring or handler")
	}
	if l.closedFlag.Load() {
		return Token{}, fmt.Errorf("loop: watch ring: %w", ErrClosed)
	}
	// SetWake before Fd: a source may keep its fd open from then on
	// until SetWake(nil), even when it is closed meanwhile, so the number
	// registered below never names another file (see RingSource.SetWake).
	src.SetWake(l.wakeRing)
	fd := src.Fd()
	tok := l.alloc(kindRing, fd)
	s := &l.slots[tok.slot]
	s.h = h
	s.ring = src
	s.edge = l.poller.edge() && src.EdgeTriggered()
	if err := l.setInterest(tok.slot, ringInterest(active)); err != nil {
		l.freeSlot(tok.slot)
		src.SetWake(nil)
		return Token{}, fmt.Errorf("loop: watch ring fd %d: %w", fd, err)
	}
	return tok, nil
}

// ringInterest is a ring slot's interest for active: Readable for on.
func ringInterest(active bool) Interest {
	if active {
		return Readable
	}
	return 0
}

// Modify changes the interest of a plain fd (WatchFd). Interest 0 pauses
// it: no handler calls until Modify asks for something again. A ring's
// Token fails with ErrSourceKind (use SetRingActive). It fails with
// ErrClosed once the loop was closed. Loop goroutine only.
func (l *Loop) Modify(tok Token, interest Interest) error {
	s, err := l.lookupKind(tok, kindFd)
	if err != nil {
		return fmt.Errorf("loop: modify: %w", err)
	}
	if err := l.setInterest(tok.slot, interest); err != nil {
		return fmt.Errorf("loop: modify fd %d: %w", s.fd, err)
	}
	return nil
}

// SetRingActive turns a ring's interest on or off. Off pauses it: its
// handler is not called (the ring keeps its work, its fd stays registered)
// until it is turned on again; on queues it at once if it is Ready. A plain
// fd's Token fails with ErrSourceKind. It fails with ErrClosed once the
// loop was closed. Loop goroutine only.
func (l *Loop) SetRingActive(tok Token, active bool) error {
	s, err := l.lookupKind(tok, kindRing)
	if err != nil {
		return fmt.Errorf("loop: set ring active: %w", err)
	}
	if err := l.setInterest(tok.slot, ringInterest(active)); err != nil {
		return fmt.Errorf("loop: set ring active fd %d: %w", s.fd, err)
	}
	return nil
}

// lookupKind is lookup for a Token that must name a registration of kind
// (kindFd or kindRing): a Token of the other of the two fails with
// ErrSourceKind, a conn's or listener's with ErrUnknownToken.
func (l *Loop) lookupKind(tok Token, kind slotKind) (*slot, error) {
	s, err := l.lookup(tok)
	switch {
	case err != nil:
		return nil, err
	case s.kind == kind:
		return s, nil
	case s.kind == kindFd || s.kind == kindRing:
		return nil, fmt.Errorf("%w: %v", ErrSourceKind, tok)
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnknownToken, tok)
	}
}

// Unwatch removes a registration. It is safe from any handler, including the
// handler of tok itself; an event for tok still pending in the current batch
// is not delivered. Unwatch before closing the fd. Once the loop was closed
// (and released its registrations) it fails with ErrClosed. Loop goroutine
// only.
func (l *Loop) Unwatch(tok Token) error {
	s, err := l.lookup(tok)
	if err == nil && s.kind != kindFd && s.kind != kindRing {
		err = fmt.Errorf("%w: %v", ErrUnknownToken, tok)
	}
	if err != nil {
		return fmt.Errorf("loop: unwatch: %w", err)
	}
	return l.forget(tok.slot)
}

// forget removes slot idx from the poller and frees it. A registration whose
// fd was already closed (ENOENT, EBADF) is freed all the same.
func (l *Loop) forget(idx uint32) error {
	fd := l.slots[idx].fd
	r := l.slots[idx].ring
	err := l.setInterest(idx, 0)
	l.freeSlot(idx)
	if r != nil {
		// After the fd left the poller: the source may close it now.
		r.SetWake(nil)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBADF) {
		return fmt.Errorf("loop: unwatch fd %d: %w", fd, err)
	}
	return nil
}

// setInterest brings the poller registration and the ring bookkeeping of slot
// idx in line with in. A ring source's fd is polled for Readable (its peer's
// signal) while the ring is active (in != 0).
func (l *Loop) setInterest(idx uint32, in Interest) error {
	s := &l.slots[idx]
	want := in
	if s.ring != nil && in != 0 {
		want = Readable
		if s.edge {
			want |= edgeTriggered
		}
	}
	var err error
	tok := Token{slot: idx, gen: s.gen}
	switch {
	case want == s.registered:
	case want == 0:
		err = l.poller.del(s.fd)
		s.registered = 0
	case s.registered == 0:
		err = l.poller.add(s.fd, tok, want)
		if err == nil {
			s.registered = want
		}
	default:
		err = l.poller.mod(s.fd, tok, want)
		if err == nil {
			s.registered = want
		}
	}
	if err != nil && want != 0 {
		return err
	}
	s.interest = in
	if s.ring == nil {
		return err
	}
	switch {
	case in != 0 && s.ringPos < 0:
		s.ringPos = int32(len(l.rings))
		l.rings = append(l.rings, idx)
	case in == 0 && s.ringPos >= 0:
		last := l.rings[len(l.rings)-1]
		l.rings[s.ringPos] = last
		l.slots[last].ringPos = s.ringPos
		l.rings = l.rings[:len(l.rings)-1]
		s.ringPos = -1
	}
	if in != 0 && !s.queued && s.ring.Ready() {
		l.queue(idx)
	}
	return err
}

// Post runs f on the loop goroutine during its next round. Safe from any
// goroutine; Posts from one goroutine run in order. Wakeups are coalesced:
// at most one fd write per loop sleep. Fails with ErrClosed after Close;
// functions posted but not run when the loop is closed are dropped.
func (l *Loop) Post(f func()) error {
	if f == nil {
		panic("loop: Post with nil func")
	}
	l.postMu.Lock()
	if l.postClosed {
		l.postMu.Unlock()
		return fmt.Errorf("loop: post: %w", ErrClosed)
	}
	l.posts = append(l.posts, f)
	l.postMu.Unlock()
	l.postPending.Store(true)
	l.wakeup()
	return nil
}

func (l *Loop) runPosts() {
	l.postPending.Store(false)
	l.postMu.Lock()
	batch := l.posts
	l.posts = l.postSpare[:0]
	var conns []pendingConn
	if len(l.incoming) > 0 {
		conns, l.incoming = l.incoming, nil
	}
	l.postMu.Unlock()
	for _, in := range conns {
		// On failure it was closed; the client sees the end.
		in.adoptOn(l)
	}
	for i, f := range batch {
		batch[i] = nil
		l.counts.local[cPostsRun]++
		f()
		l.afterCallback()
	}
	l.postSpare = batch[:0]
}

// Stop makes the running Run (or, if none runs, the next one) return nil
// after the current round. A Stop made while a Run runs is for that Run,
// even when the Run is already returning for another reason (its context
// ended): it is never left over for the next one. Safe from any goroutine,
// including handlers.
func (l *Loop) Stop() {
	// lifeMu orders the request against Run's end: either Run has not yet
	// cleared stopReq (and will), or running is false and the request is
	// for the next Run.
	l.lifeMu.Lock()
	l.stopReq.Store(true)
	l.lifeMu.Unlock()
	l.wakeup()
}

// dropStop forgets a Stop made while l was not running (Group.Run, for
// Stops that reached a loop after its Run had returned).
func (l *Loop) dropStop() {
	l.lifeMu.Lock()
	if !l.running {
		l.stopReq.Store(false)
	}
	l.lifeMu.Unlock()
}

func (l *Loop) shouldStop() bool { return l.stopReq.Load() || l.cancelled.Load() }

// Run runs the loop on the calling goroutine, locked to its OS thread, until
// ctx ends (it returns ctx.Err()) or Stop is called (it returns nil). It also
// returns a poller error. A loop may be Run again after it returned, but not
// twice at once (ErrRunning), and not after Close (ErrClosed).
func (l *Loop) Run(ctx context.Context) error {
	l.lifeMu.Lock()
	switch {
	case l.closed:
		l.lifeMu.Unlock()
		return fmt.Errorf("loop: run: %w", ErrClosed)
	case l.running:
		l.lifeMu.Unlock()
		return fmt.Errorf("loop: run: %w", ErrRunning)
	}
	l.running = true
	l.lifeMu.Unlock()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	cancelled := new(atomic.Bool)
	l.cancelled = cancelled
	stopWatch := context.AfterFunc(ctx, func() {
		cancelled.Store(true)
		l.wakeup()
	})
	var err error
	for {
		if l.stopReq.Load() {
			break
		}
		if cancelled.Load() || ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		if err = l.round(true); err != nil {
			break
		}
	}
	stopWatch()
	l.cancelled = new(atomic.Bool)

	l.lifeMu.Lock()
	l.running = false
	l.stopReq.Store(false) // under lifeMu: see Stop
	closeNow := l.closed
	l.lifeMu.Unlock()
	if closeNow {
		if cerr := l.release(); err == nil {
			err = cerr
		}
	}
	return err
}

// round runs one iteration (see the top of this file). With mayBlock false it
// never blocks (tests drive the loop this way).
func (l *Loop) round(mayBlock bool) error {
	l.inCallback = true
	defer func() { l.inCallback = false }()
	msec := 0
	if mayBlock {
		msec = l.prepareSleep()
	}
	var n int
	var err error
	if !mayBlock || msec != 0 || l.fdPollDue() {
		n, err = l.poller.wait(l.events, msec)
		l.lastPoll = time.Since(l.base)
		if msec != 0 {
			l.state.Store(stateAwake)
			l.counts.local[cPollsBlocking]++
			if n > 0 {
				l.counts.local[cWakeups]++
			}
		} else {
			l.counts.local[cPollsNonBlocking]++
		}
		if err != nil {
			return fmt.Errorf("loop: poll: %w", err)
		}
	}
	for i := range l.events[:n] {
		l.dispatch(l.events[i])
	}
	l.runRings()
	if l.postPending.Load() {
		l.runPosts()
	}
	if len(l.timers) > 0 {
		l.runTimers()
	}
	l.closeDeferred()
	if l.ringWoken.Load() {
		// Before the scan: a wake after this store is seen by the next
		// prepareSleep; one before it, by the scan.
		l.ringWoken.Store(false)
	}
	l.scanRings()
	l.counts.publish()
	return nil
}

// fdPollInterval bounds how long fd sources wait while rings keep the loop
// busy: a round that does not block polls the fds only if this much time
// passed since the last poll, so a loop fed by rings (or a spin that found
// work) makes no syscall per round, and sockets still wait at most this
// long for service.
const fdPollInterval = 20 * time.Microsecond

// fdPollDue reports whether a round that does not block should poll the
// fds: fdPollInterval passed since the last poll.
func (l *Loop) fdPollDue() bool {
	return time.Since(l.base)-l.lastPoll >= fdPollInterval
}

// prepareSleep returns the poll timeout for this round, in milliseconds
// (-1: no timer, block until an event). It is zero, and the loop does not
// block, when rings are queued, posts are pending, a stop was asked, a
// timer is due, the spin (WithSpin) found work, or arming the rings found
// some. Otherwise it declares the loop sleeping (waker.go), re-checks the
// cross-goroutine reasons not to sleep, and returns the earliest timer's
// timeout; the caller must store stateAwake once the poll returns.
func (l *Loop) prepareSleep() int {
	if len(l.ready) > 0 || l.mustWake() {
		return 0
	}
	msec := l.timerTimeout()
	if msec == 0 {
		return 0
	}
	if l.cfg.spin > 0 && len(l.rings) > 0 && l.spin() {
		l.counts.local[cSpinHits]++
		return 0
	}
	if l.armRings() {
		return 0
	}
	l.state.Store(stateSleeping)
	if l.mustWake() {
		l.state.Store(stateAwake)
		return 0
	}
	return msec
}

// dispatch delivers one poller event.
func (l *Loop) dispatch(e pollEvent) {
	if e.tok == wakeToken {
		// The fd is level-triggered: if clearing fails, the next poll
		// reports it again; there is nothing better to do here.
		_ = l.wake.Clear()
		return
	}
	s := l.live(e.tok)
	if s == nil {
		return // unwatched earlier in this batch
	}
	l.counts.local[cEvents]++
	switch s.kind {
	case kindFd:
		// Interest may have changed earlier in this batch.
		if ev := e.ev & (Event(s.interest) | EventHangup | EventError); s.interest != 0 && ev != 0 {
			s.h.OnEvent(e.tok, ev)
		}
	case kindRing:
		if !s.edge {
			err := s.ring.WaitClear()
			if s = l.live(e.tok); s == nil {
				return
			}
			if err != nil {
				s.extra |= EventError
			}
		}
		if s.interest != 0 {
			l.queue(e.tok.slot)
		}
	case kindConn:
		s.conn.handle(e.ev)
	case kindListener:
		s.ln.handle()
	}
	l.afterCallback()
}

// Close releases everything the loop owns: the poller, the wake fd, and the
// conns and listeners it created or adopted (their handlers get OnClose with
// ErrClosed, on the goroutine that releases). Fds and rings registered with
// WatchFd, WatchRing or Watch are not closed (a ring gets its wake function
// taken back). Idempotent; safe from any goroutine. If the loop is
// running, Close stops it and Run releases on its way out (Close may return
// first). What each method does on a closed loop: see "Closing" in the
// package documentation.
func (l *Loop) Close() error {
	l.lifeMu.Lock()
	if l.closed {
		l.lifeMu.Unlock()
		return nil
	}
	l.closed = true
	l.closedFlag.Store(true)
	running := l.running
	l.lifeMu.Unlock()

	l.postMu.Lock()
	l.postClosed = true
	l.posts = nil
	l.postMu.Unlock()
	// Connections queued but not adopted are closed by release.

	if running {
		l.Stop()
		return nil
	}
	return l.release()
}

// release frees what Close promises, once: it closes the queued and the
// registered conns (OnClose with ErrClosed) and listeners, takes the rings'
// wake functions back, closes the poller and the wake fd, and drops the
// tables. It runs on the goroutine that owns the loop: Run's on the way
// out, or Close's when the loop is not running.
func (l *Loop) release() error {
	l.lifeMu.Lock()
	if l.released {
		l.lifeMu.Unlock()
		return nil
	}
	l.released = true
	l.lifeMu.Unlock()

	var errs []error
	l.postMu.Lock()
	conns := l.incoming
	l.incoming = nil
	l.postMu.Unlock()
	for _, in := range conns {
		in.discard(l)
	}
	// Closes queued by the last callback first, with their own errors;
	// then every Conn's OnClose runs as a callback of its own (conn.go).
	l.closeDeferred()
	l.inCallback = true
	for i := range l.slots {
		s := &l.slots[i]
		switch s.kind {
		case kindConn:
			s.conn.closeWith(ErrClosed)
		case kindListener:
			errs = append(errs, s.ln.Close())
		case kindRing:
			if s.conn != nil {
				s.conn.closeWith(ErrClosed) // a ring Conn (ringconn.go)
				continue
			}
			s.ring.SetWake(nil)
		}
	}
	l.inCallback = false
	l.closeDeferred()
	errs = append(errs, l.poller.close())
	// The Notifier's Close waits for a Signal in flight (see waker.go).
	errs = append(errs, l.wake.Close())
	// Last, after every OnClose above ran (they may have added timers or
	// queued closes): from here on Token and Timer methods see a closed
	// loop instead of indexing released tables.
	l.gone = true
	l.dropTimers()
	l.slots, l.free, l.rings, l.ready, l.spare, l.closing = nil, nil, nil, nil, nil, nil
	return errors.Join(errs...)
}
