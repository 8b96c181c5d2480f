package loop

// The backend contract.
//
// A poller is one OS readiness facility. Exactly one exists per Loop, and only
// the loop goroutine calls it, so backends need no locking. Each backend file
// provides a constructor and the methods below; the loop above them owns all
// policy (tokens, rings, timers, wakeups), so there is one loop, not one per OS.
//
//	open   newEpoller (poller_linux.go), newPollPoller (poller_poll.go, all
//	       Unix including Linux); newDefaultPoller picks per OS.
//	add    start watching fd for in (Readable/Writable); events for fd carry tok.
//	       Hangup and error conditions are always reported. Adding an fd twice
//	       fails with EEXIST.
//	mod    change the interest (and token) of a watched fd.
//	del    stop watching fd. Must be called before the fd is closed.
//	wait   block for at most msec milliseconds (-1: forever, 0: do not block)
//	       and fill out with ready registrations; returns how many. EINTR is
//	       not an error: it returns 0 events, and the loop recomputes its
//	       timeout. Level-triggered: a registration that is still ready is
//	       reported again by the next wait.
//	edge   whether add/mod honour the internal edgeTriggered interest bit
//	       (register edge-triggered: reported once per new readiness).
//	close  release the backend.
//
// The loop's wake fd is not the backend's: it is a notify.Notifier (an
// eventfd on Linux, a pipe elsewhere; see waker.go), which the loop
// registers with the poller under wakeToken like any fd.
type poller interface {
	add(fd int, tok Token, in Interest) error
	mod(fd int, tok Token, in Interest) error
	del(fd int) error
	wait(out []pollEvent, msec int) (int, error)
	edge() bool
	close() error
}

// pollEvent is one ready registration reported by wait.
type pollEvent struct {
	tok Token
	ev  Event
}

func newPoller(c *config) (poller, error) {
	if c.poll {
		return newPollPoller(c.maxEvents), nil
	}
	return newDefaultPoller(c.maxEvents)
}
