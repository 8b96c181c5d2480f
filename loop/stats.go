package loop

import "sync/atomic"

// Statistics.
//
// The loop goroutine counts in plain words (counters.local) on the hot path.
// Once per round, publish stores the words that changed into atomics
// (counters.pub), which Stats reads from any goroutine. A reader therefore
// sees values as of the end of some round, never torn, and the per-event
// path carries no atomic operation.

// Stats is a snapshot of a loop's counters.
type Stats struct {
	Wakeups          uint64 // blocking polls that returned with events
	PollsBlocking    uint64 // polls with a non-zero timeout
	PollsNonBlocking uint64 // polls with a zero timeout (work was pending)
	Events           uint64 // readiness events dispatched (stale ones excluded)
	RingDispatches   uint64 // calls of ring source handlers
	Arms             uint64 // RingSource.Arm calls
	SpinHits         uint64 // sleeps avoided because a spin found work
	PostsRun         uint64 // Post functions run
	TimersFired      uint64 // timer callbacks run
	Accepted         uint64 // connections accepted by this loop's listeners
	AcceptErrors     uint64 // accept calls that failed (EAGAIN, "none pending", excluded)
	AcceptBackoffs   uint64 // times a listener stopped accepting for a while (out of fds or memory)
	Conns            int64  // connections open now (including ones queued for this loop by a Group)
}

type counter int

const (
	cWakeups counter = iota
	cPollsBlocking
	cPollsNonBlocking
	cEvents
	cRingDispatches
	cArms
	cSpinHits
	cPostsRun
	cTimersFired
	cAccepted
	cAcceptErrors
	cAcceptBackoffs
	nCounters
)

type counters struct {
	local [nCounters]uint64 // loop goroutine only
	seen  [nCounters]uint64 // loop goroutine only: last published
	pub   [nCounters]atomic.Uint64
}

func (c *counters) publish() {
	for i := range c.local {
		if c.local[i] != c.seen[i] {
			c.seen[i] = c.local[i]
			c.pub[i].Store(c.local[i])
		}
	}
}

// Stats returns the loop's counters as of the end of its latest round. Safe
// from any goroutine.
func (l *Loop) Stats() Stats {
	p := &l.counts.pub
	return Stats{
		Wakeups:          p[cWakeups].Load(),
		PollsBlocking:    p[cPollsBlocking].Load(),
		PollsNonBlocking: p[cPollsNonBlocking].Load(),
		Events:           p[cEvents].Load(),
		RingDispatches:   p[cRingDispatches].Load(),
		Arms:             p[cArms].Load(),
		SpinHits:         p[cSpinHits].Load(),
		PostsRun:         p[cPostsRun].Load(),
		TimersFired:      p[cTimersFired].Load(),
		Accepted:         p[cAccepted].Load(),
		AcceptErrors:     p[cAcceptErrors].Load(),
		AcceptBackoffs:   p[cAcceptBackoffs].Load(),
		Conns:            l.nconns.Load(),
	}
}
