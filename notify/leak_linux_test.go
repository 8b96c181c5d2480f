package notify

import (
	"os"
	"testing"
)

// openFds counts this process's open descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestNoFdLeak checks that Close releases every fd: of each kind, and of
// Waiters, including after a Wait registered the fd with the poller.
func TestNoFdLeak(t *testing.T) {
	const cycles = 1000
	ctx := testContext(t)
	cycle := func(k kind) {
		n, err := k.make()
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		defer n.Close()
		if err := n.Signal(); err != nil {
			t.Fatalf("%s: Signal: %v", k.name, err)
		}
		if err := n.Clear(); err != nil {
			t.Fatalf("%s: Clear: %v", k.name, err)
		}
		w, err := NewWaiter(n.Fd())
		if err != nil {
			t.Fatalf("%s: NewWaiter: %v", k.name, err)
		}
		defer w.Close()
		if err := n.Signal(); err != nil {
			t.Fatalf("%s: Signal: %v", k.name, err)
		}
		if err := w.Wait(ctx); err != nil {
			t.Fatalf("%s: Wait: %v", k.name, err)
		}
	}
	for _, k := range kinds() {
		cycle(k) // warm up: the runtime opens its poller once
		before := openFds(t)
		for range cycles {
			cycle(k)
		}
		if after := openFds(t); after != before {
			t.Errorf("%s: %d open fds before %d cycles, %d after", k.name, before, cycles, after)
		}
	}
}
