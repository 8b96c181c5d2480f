// Package spin is the bounded busy-wait that fdring's blocking calls and
// fdnet's reply wait make before they sleep on an fd.
package spin

import (
	"runtime"
	"time"
)

// Until polls ready for up to d and reports whether it became true,
// backing off exponentially between polls from minBackoff iterations of a
// pause (about half a nanosecond each) up to MaxBackoff. The backoff matters
// as much as the spin: every poll pulls the peer's index line into this
// core's cache, and the peer's next publish must then win it back; a
// poller that leaves the peer alone for a few hundred nanoseconds lets it
// publish many elements at local-cache speed, and then picks them all up
// with one miss. The clock is read once per clockEvery polls at full
// backoff (each about 2 us apart), and so is runtime.Gosched: should the
// peer goroutine share this P, it gets to run (spinning would only delay
// it); otherwise Gosched returns at once. A d of 0 or less polls nothing.
func Until(d time.Duration, minBackoff, clockEvery int, ready func() bool) bool {
	if d <= 0 {
		return false
	}
	start := time.Now()
	backoff := max(minBackoff, 1)
	for i := 1; ; i++ {
		if ready() {
			return true
		}
		pause(backoff)
		if backoff < MaxBackoff {
			backoff *= 2
			continue
		}
		if i%max(clockEvery, 1) == 0 {
			if time.Since(start) >= d {
				return ready()
			}
			runtime.Gosched()
		}
	}
}

// MaxBackoff bounds the pause between polls, in iterations of pause.
const MaxBackoff = 4096

// pause burns about n cycles without touching memory.
//
//go:noinline
func pause(n int) {
	for i := 0; i < n; i++ {
	}
}
