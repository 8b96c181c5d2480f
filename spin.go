package fdring

import (
	"time"

	"github.com/fdring/fdring/internal/spin"
)

// spinUntil polls ready for up to d (see spin.Until), starting with a
// pause of about 250 ns between polls: a peer that answers within the spin
// is picked up, and one that is busy publishing is left alone to batch.
func spinUntil(d time.Duration, ready func() bool) bool {
	return spin.Until(d, minBackoff, clockEvery, ready)
}

// minBackoff is the first pause between polls, in iterations of spin's
// pause (about half a nanosecond each); the clock is read every clockEvery
// polls at full backoff (about every 4 us).
const (
	minBackoff = 512
	clockEvery = 2
)

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
