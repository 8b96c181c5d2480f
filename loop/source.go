package loop

// Source is anything backed by a file descriptor the loop can poll.
type Source interface {
	Fd() int
}

// FD adapts a raw file descriptor to Source. The loop never closes an FD it
// was asked to Watch; the caller must Unwatch it before closing it.
type FD int

// Fd returns the descriptor.
func (f FD) Fd() int { return int(f) }

// RingSource is one side of a ring whose peer wakes us through Fd only when we declared we sleep.
type RingSource interface {
	Fd() int          // becomes readable when the peer signalled
	Ready() bool      // true when work is available now (data for a receiver, space for a sender, or a terminal state such as EOF/closed/error the handler must observe); cheap, no syscall
	Arm() bool        // declare "I am going to sleep", then re-check; true means work is already there: do not sleep on it
	WaitClear() error // consume the signal on Fd after it fired
}

// EdgeSource is an optional extension of RingSource. EdgeTriggered reports
// that every signal on Fd is a new readiness edge and that signals never
// fill the fd up, so it never needs clearing (true of an eventfd: each write
// adds to a 64-bit counter and wakes epoll). The epoll backend then
// registers such an fd edge-triggered and does not call WaitClear: one
// syscall less per wakeup. Backends without edge triggering (poll(2)) keep
// calling WaitClear.
type EdgeSource interface {
	RingSource
	EdgeTriggered() bool
}

// WakeSource is an optional extension of RingSource for a source whose
// state can change without a signal on its fd: closed from another
// goroutine, or its peer's death noticed elsewhere. Watch gives it a
// function that wakes the loop (safe from any goroutine, coalesced), and
// Unwatch (or the loop's Close) takes it back with nil. The source calls it
// when it must be looked at; the loop then runs a round, in which it calls
// Ready on every ring and the handler of each ready one. The fdring
// package's Sender and Receiver implement it.
type WakeSource interface {
	RingSource
	SetWake(wake func())
}

// Handler receives the events of a watched Source. It runs on the loop
// goroutine; tok is the Token Watch returned, ev the readiness observed.
type Handler interface {
	OnEvent(tok Token, ev Event)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(tok Token, ev Event)

// OnEvent calls f(tok, ev).
func (f HandlerFunc) OnEvent(tok Token, ev Event) { f(tok, ev) }
