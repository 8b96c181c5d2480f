package fdring

import (
	"runtime"
	"time"
)

// spinUntil polls ready for up to d, backing off exponentially between
// polls. The backoff matters as much as the spin: every poll pulls the
// peer's index line into this core's cache, and the peer's next publish
// must then win it back; a poller that leaves the peer alone for a few
// hundred nanoseconds lets it publish many elements at local-cache speed,
// and then picks them all up with one miss. The clock is read once per
// clockEvery polls at full backoff (about every 4 us), and so is
// runtime.Gosched: should the peer goroutine share this P, it gets to run
// (spinning would only delay it); otherwise Gosched returns at once.
func spinUntil(d time.Duration, ready func() bool) bool {
	if d <= 0 {
		return false
	}
	start := time.Now()
	backoff := minBackoff
	for i := 1; ; i++ {
		if ready() {
			return true
		}
		pause(backoff)
		if backoff < maxBackoff {
			backoff *= 2
			continue
		}
		if i%clockEvery == 0 {
			if time.Since(start) >= d {
				return ready()
			}
			runtime.Gosched()
		}
	}
}

// Backoff bounds, in iterations of pause (about half a nanosecond each),
// and how many full-backoff polls pass between clock reads.
const (
	minBackoff = 512
	maxBackoff = 4096
	clockEvery = 2
)

// pause burns about n cycles without touching memory.
//
//go:noinline
func pause(n int) {
	for i := 0; i < n; i++ {
	}
}

// wakeSpin is how long a side that just woke its peer spins before it
// sleeps itself: about two wakeup latencies, since the peer is about to
// run. Without it, two sides whose spin is shorter than a wakeup take turns
// sleeping forever (each wakes the other, then sleeps before it answers),
// and a stream runs at the speed of wakeups. A channel configured not to
// spin (WithSpin(0)) does not spin here either.
func wakeSpin(spin time.Duration) time.Duration {
	if spin <= 0 {
		return 0
	}
	return 50 * time.Microsecond
}

// spinTime is how long the next wait spins before it sleeps: the
// channel's spin, or longer right after this side woke its peer (see
// wakeSpin).
func (s *side) spinTime() time.Duration {
	if s.wokePeer {
		s.wokePeer = false
		return max(s.spin, wakeSpin(s.spin))
	}
	return s.spin
}
