package loop

// What the loop watches.
//
// Two kinds of registration, each with its own entry point, so that a ring
// cannot be served as a plain fd by accident:
//
//	WatchFd    a plain descriptor (socket, pipe, eventfd, ...): raw
//	           readiness, level-triggered, Readable/Writable interest.
//	WatchRing  one side of a ring (RingSource): the wakeup protocol (Ready,
//	           Arm, WaitClear), an on/off interest (SetRingActive), and
//	           EventReady when the ring has work.
//
// Watch, the older entry point, takes either through the Source interface
// and tells them apart by type; it refuses any other Source (see Watch).

// Source is anything backed by a file descriptor the loop can poll. Watch
// accepts two kinds of Source: an FD (a plain descriptor) and a RingSource.
type Source interface {
	// Fd returns the descriptor to poll.
	Fd() int
}

// FD adapts a raw file descriptor to Source, for Watch. The loop never
// closes an FD it was asked to Watch; the caller must Unwatch it before
// closing it.
type FD int

// Fd returns the descriptor.
func (f FD) Fd() int { return int(f) }

// RingSource is one side of a ring whose peer wakes it through Fd only
// after it declared, with Arm, that it sleeps. Every method is required, so
// a wrapper cannot drop one and still be registered as a ring; the fdring
// package's Sender and Receiver implement it.
type RingSource interface {
	// Fd becomes readable when the peer signalled.
	Fd() int
	// Ready reports whether work is available now (data for a receiver,
	// space for a sender, or a terminal state such as EOF, closed or an
	// error that the handler must observe). Cheap: no syscall.
	Ready() bool
	// Arm declares "I am going to sleep", then re-checks; true means work
	// is already there: do not sleep on it.
	Arm() bool
	// WaitClear consumes the signal on Fd after it fired.
	WaitClear() error
	// EdgeTriggered reports that every signal on Fd is a new readiness
	// edge and that signals never fill the fd up, so it never needs
	// clearing (true of an eventfd: each write adds to a 64-bit counter
	// and wakes epoll). The epoll backend then registers the fd
	// edge-triggered and does not call WaitClear: one syscall less per
	// wakeup. Backends without edge triggering (poll(2)) keep calling
	// WaitClear. False is always safe.
	EdgeTriggered() bool
	// SetWake gives the source a function that wakes the loop (safe from
	// any goroutine, coalesced), for a state change that comes without a
	// signal on Fd: closed from another goroutine, or its peer's death
	// noticed elsewhere. The source calls it when it must be looked at;
	// the loop then runs a round, in which it calls Ready on every ring
	// and the handler of each ready one. WatchRing sets it; Unwatch and
	// the loop's Close take it back with nil. A source whose state only
	// changes with a signal may ignore it. A source may keep Fd open from
	// SetWake(non-nil) until SetWake(nil), even if it is closed meanwhile
	// (the fdring sides do): the loop calls SetWake before it reads Fd,
	// and takes it back only once the fd left its poller, so it never
	// registers, modifies or removes a number that names another file by
	// then.
	SetWake(wake func())
}

// Handler receives the events of a watched fd or ring. It runs on the loop
// goroutine; tok is the Token WatchFd or WatchRing returned, ev the
// readiness observed (for a ring: EventReady, with EventError if WaitClear
// failed).
type Handler interface {
	// OnEvent handles one event of the registration tok.
	OnEvent(tok Token, ev Event)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(tok Token, ev Event)

// OnEvent calls f(tok, ev).
func (f HandlerFunc) OnEvent(tok Token, ev Event) { f(tok, ev) }
