package loop

import "errors"

// Sentinel errors. Errors returned by this package wrap them (and the
// underlying syscall errors), so test with errors.Is.
var (
	// ErrClosed: the Loop, Conn or Listener was closed.
	ErrClosed = errors.New("loop: closed")
	// ErrRunning: Run was called while the loop is already running.
	ErrRunning = errors.New("loop: already running")
	// ErrUnknownToken: the Token was never handed out by this loop (or is the zero Token).
	ErrUnknownToken = errors.New("loop: unknown token")
	// ErrStaleToken: the Token's registration was removed; its slot may since
	// belong to someone else, who is protected from the stale Token.
	ErrStaleToken = errors.New("loop: stale token")
	// ErrSourceKind: a source or Token of the wrong kind for the call: Watch
	// given a Source that is neither an FD nor a RingSource, Modify given a
	// ring's Token, SetRingActive given a plain fd's.
	ErrSourceKind = errors.New("loop: wrong kind of source")
)
