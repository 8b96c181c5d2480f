// Package loop is a single-threaded reactor in the style of mio: one Loop per
// OS thread serves file descriptors (sockets, listeners, raw fds) and rings
// (through their wakeup fds) side by side.
//
// # Backends
//
// On Linux the loop uses epoll (level-triggered); elsewhere, and on Linux with
// WithPoll, poll(2). Both fill one small internal contract (poller.go); there
// is one loop above them. The loop's own waker is a notify.Notifier (an
// eventfd on Linux, a pipe elsewhere), the kind of wakeup fd the rings use.
//
// # Goroutines
//
// Run runs the loop on the calling goroutine, locked to its OS thread. Every
// handler, Post function, timer callback and ConnHandler method runs there.
//
// Loop goroutine only (that is, from a handler, a Post function or a timer
// callback, or on any one goroutine while the loop is not running): Watch,
// WatchFd, WatchRing, Modify, SetRingActive, Unwatch, After, Every, Timer.Stop, Listen, WatchConn, WatchConnFd,
// Listener.Close and all Conn methods. To do any of these from elsewhere,
// Post a function that does it.
//
// Any goroutine: Post, Stop, Close, Stats, NewWaker and Waker.Wake, and the
// same on a Group. Post and Waker.Wake coalesce wakeups: they write the wake
// fd at most once per loop sleep, and not at all while the loop is awake.
//
// # Closing
//
// Close may come from any goroutine at any time. On a running loop it only
// asks: the loop finishes its round and releases everything on its way out
// of Run, so Close may return before that; wait for Run to return before
// calling loop-goroutine-only methods from another goroutine. On a loop
// that is not running Close releases at once, on the calling goroutine,
// which must then be the one goroutine using the loop. Once released, no
// method panics: Watch, WatchFd, WatchRing, Modify, SetRingActive,
// Unwatch, Listen, WatchConn, WatchConnFd, Post, Waker.Wake and Run fail
// with ErrClosed; After and Every return a
// Timer that never fires, and Timer.Stop reports false (a closed loop has
// no pending timers); every Conn is closed (its methods fail with
// ErrClosed, Close does nothing) and every Listener too (Close does
// nothing); Stop, Stats and Close are harmless.
//
// # Handlers of fd sources
//
// Readiness is level-triggered: a handler may read or write as much as it
// likes; whatever readiness remains is reported again next round. Draining
// until EAGAIN is the most efficient; consuming a bounded amount for fairness
// is fine. Events may be spurious: a readable event with nothing to read
// (EAGAIN), or a writable one with no room, must be tolerated. A handler may
// Unwatch any Token, including its own, at any time: an event for it still
// pending in the current batch is not delivered. Tokens carry a generation,
// so a Token outlives nothing: once unwatched, calls with it fail with
// ErrStaleToken and no event reaches whoever reuses the slot or the fd
// number. Unwatch a source before closing its fd.
//
// # Ring sources
//
// A ring side (a RingSource, as the fdring package's Sender and Receiver
// are) is registered with WatchRing and served by the wakeup protocol, not
// by raw readiness. Its interest is on or off (WatchRing's active,
// SetRingActive): while on, its handler is called with EventReady whenever
// the ring is Ready, once per round, plus EventError if WaitClear failed.
// A plain fd is registered with WatchFd instead. The two paths are
// separate so that a ring cannot be served as a plain fd by accident (a
// wrapper that forwards only Fd would never be armed and lose its
// wakeups): Watch, which takes either through Source, accepts an FD or a
// whole RingSource and refuses anything else with ErrSourceKind, and
// Modify and SetRingActive each refuse the other kind's Token.
//
// While any ring has work the loop does not block, and it polls its
// fds (with a zero timeout) at most every 20 microseconds, so it makes no
// blocking syscall and no syscall per message. Only when no ring,
// Post or timer has work does it (after spinning on Ready for up to
// WithSpin) call Arm on every active ring, and it blocks only if none
// reports work. When a ring's fd fires, the loop calls WaitClear and then
// the handler; a ring whose EdgeTriggered reports an eventfd is registered
// edge-triggered on epoll instead and never cleared (one syscall less per
// wakeup). A ring's state can also change without a signal (closed from
// another goroutine, its peer's death): the ring then calls the wake
// function WatchRing gave it (SetWake), and the loop runs a round. Arming
// costs O(active rings) per sleep, and every round calls Ready on every
// active ring (cheap, no syscall), so a ring that received work while the
// loop was busy elsewhere is served without a wakeup.
//
// A ring handler should drain the ring, or consume a bounded amount for
// fairness: it is called again next round while Ready stays true. It may be
// called spuriously, with nothing to consume. A handler that leaves its ring
// Ready but will not consume (it wants to stop, or its downstream is full)
// must Unwatch it or turn it off (SetRingActive), or the loop spins on it.
//
// # Connections
//
// Listen and WatchConn/WatchConnFd give connections (Conn) served through a
// ConnHandler: OnOpen, OnData (the data is valid only during the call, it
// lives in one buffer the loop reuses for every read), OnClose (nil for a
// clean close, the socket error otherwise; never a panic). Conn.Write
// buffers what the socket does not take; reading pauses while a
// connection's unsent output is above the high-water mark (WithWaterMarks),
// which bounds memory per connection. The peer's FIN flushes pending output,
// then closes, unless the handler chose half-close (Conn.SetHalfClose): then
// the FIN only ends reading, and the Conn writes on until CloseWrite or
// Close. OnClose never runs nested inside another callback: a Conn closed
// during one (by Close, or by a failed Write) acts closed at once and gets
// OnClose when that callback returns. A handler that wants to know when its
// output drained, or that reads the socket itself, installs a hook in
// OnOpen (Conn.SetOnDrain, Conn.SetOnReadable), so a wrapping handler
// cannot lose it. See conn.go for the details.
//
// A listener that cannot accept for lack of fds or memory (EMFILE, ENFILE,
// ENOBUFS, ENOMEM) backs off: it stops watching its socket and retries on a
// timer, 5 ms doubling to 1 s, rather than spin on a socket that stays
// readable (Stats.AcceptErrors, Stats.AcceptBackoffs). See listener.go.
//
// # Timers
//
// After and Every schedule callbacks kept in a heap and served through the
// poll timeout, rounded up to whole milliseconds (never down to a busy
// zero). They fire in deadline order, on the loop goroutine.
//
// # Groups
//
// A Group runs N loops, one per locked OS thread; its listener accepts on
// loop 0 and hands connections to the loops round-robin or by least
// connections (WithBalance). Stop, on a Loop or a Group, is for the Run in
// progress, or for the next Run if none is: a Stop made during a Run is
// never left over for the next one, even when the Run was returning for
// another reason (its context ended) at the time.
//
// # Locks
//
// The loop goroutine's state has no lock. The cross-goroutine parts use,
// in this order when nested: Group.mu (a Group's running state, held by
// Group.Stop), Loop.lifeMu (running/closed, and the stop request against
// the end of Run), Loop.postMu (the Post queue), the wake Notifier's lock
// (its fd's lifetime, read-held by a signaller). No lock is held while user
// code runs.
package loop
