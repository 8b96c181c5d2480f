package spin

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilSeesReady(t *testing.T) {
	var polls int
	ok := Until(10*time.Second, 64, 1, func() bool { polls++; return polls == 5 })
	if !ok || polls != 5 {
		t.Fatalf("Until = %v after %d polls, want true after 5", ok, polls)
	}
}

func TestUntilGivesUp(t *testing.T) {
	var polls atomic.Int64
	start := time.Now()
	if Until(time.Millisecond, 512, 2, func() bool { polls.Add(1); return false }) {
		t.Fatal("Until reported ready for a condition that never holds")
	}
	if time.Since(start) < time.Millisecond {
		t.Fatal("Until gave up before its time")
	}
	if polls.Load() < 2 {
		t.Fatalf("%d polls, want at least the first and the last", polls.Load())
	}
}

func TestUntilZero(t *testing.T) {
	if Until(0, 64, 1, func() bool { t.Fatal("polled with no spin time"); return true }) {
		t.Fatal("Until(0) = true")
	}
}
