package loop

import (
	"math"
	"testing"
	"time"
)

// TestTimerFarFuture: a deadline beyond the clock's range means "never",
// not "now". now+d used to wrap around to a past deadline and fire at once.
func TestTimerFarFuture(t *testing.T) {
	for _, ns := range []int64{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 - int64(time.Millisecond) + 2} {
		if got := roundUpMillis(ns); got != math.MaxInt32 {
			t.Errorf("roundUpMillis(%d) = %d, want %d", ns, got, math.MaxInt32)
		}
	}
	l := newLoop(t)
	l.After(time.Duration(math.MaxInt64), func() { t.Error("After(MaxInt64) fired") })
	tick := l.Every(time.Duration(math.MaxInt64), func() { t.Error("Every(MaxInt64) fired") })
	fired := false
	l.After(0, func() { fired = true })
	for range 3 {
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
	}
	if !fired {
		t.Fatal("the due timer did not fire")
	}
	if ms := l.timerTimeout(); ms != math.MaxInt32 {
		t.Errorf("timeout %d ms with only far timers, want %d", ms, math.MaxInt32)
	}
	if !tick.Stop() {
		t.Error("the far ticker is not pending")
	}
	// A ticker that fired once and whose next deadline is past the range.
	var big *Timer
	n := 0
	big = l.Every(time.Millisecond, func() {
		n++
		big.period = math.MaxInt64 - 1 // as if created with a huge period
	})
	deadline := time.Now().Add(testTimeout)
	for i := 0; n == 0 && i < 100_000 && time.Now().Before(deadline); i++ {
		if err := l.round(true); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("the ticker fired %d times, want once", n)
	}
}
