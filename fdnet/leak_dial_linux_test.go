//go:build linux

package fdnet_test

import (
	"io"
	"os"
	"testing"

	"github.com/fdring/fdring/fdnet"
)

// TestDialNoFdLeak: Dial/Accept/Close cycles, some with a Read and a Write
// blocked on their wakeup sockets at Close, release every fd (sockets,
// duplicates, memfds, epoll instances).
func TestDialNoFdLeak(t *testing.T) {
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		return len(ents)
	}
	l := listen(t, fdnet.WithSpin(0))
	cycle := func(block bool) {
		a, b, err := dialPair(t, l, fdnet.WithBufferSize(4<<10), fdnet.WithSpin(0))
		if err != nil {
			t.Fatal(err)
		}
		if block {
			rs, ws := readSleeps(a), writeSleeps(a)
			read := async(func() error { _, err := a.Read(make([]byte, 1)); return err })
			write := async(func() error { _, err := a.ReadFrom(zeros{}); return err })
			waitSleeping(t, func() uint64 { return readSleeps(a) }, rs)
			waitSleeping(t, func() uint64 { return writeSleeps(a) }, ws)
			a.Close()
			for _, ch := range []<-chan error{read, write} {
				if err := await(t, ch); err == nil || err == io.EOF {
					t.Fatalf("blocked call returned %v after Close", err)
				}
			}
		}
		a.Close()
		b.Close()
	}
	cycle(true) // warm up: the listener's acceptor, the runtime's poller
	before := count()
	for i := range 40 {
		cycle(i%2 == 0)
	}
	if after := count(); after > before { // fewer: an earlier test's blocked call released its fds late
		t.Fatalf("%d fds open before, %d after", before, after)
	}
}
