package fdnet_test

import (
	"io"
	"os"
	"testing"

	"github.com/fdring/fdring/fdnet"
)

// TestNoFdLeak closes Pipes whose calls sleep on their wakeup fds (so each
// side made its waiter's duplicate fd) and checks that every fd is
// released: Close must free what blocked calls were using once they return.
func TestNoFdLeak(t *testing.T) {
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		return len(ents)
	}
	before := count()
	for range 50 {
		a, b, err := fdnet.Pipe(fdnet.WithBufferSize(4<<10), fdnet.WithSpin(0))
		if err != nil {
			t.Fatal(err)
		}
		// Nobody reads or writes on b: a's Read waits for data, a's
		// ReadFrom for room.
		rs, ws := readSleeps(a), writeSleeps(a)
		read := async(func() error { _, err := a.Read(make([]byte, 1)); return err })
		write := async(func() error { _, err := a.ReadFrom(zeros{}); return err })
		waitSleeping(t, func() uint64 { return readSleeps(a) }, rs)
		waitSleeping(t, func() uint64 { return writeSleeps(a) }, ws)
		a.Close()
		b.Close()
		for _, ch := range []<-chan error{read, write} {
			if err := await(t, ch); err == nil || err == io.EOF {
				t.Fatalf("blocked call returned %v after Close", err)
			}
		}
	}
	if after := count(); after > before { // fewer: an earlier test's blocked call released its fds late
		t.Fatalf("%d fds open before, %d after", before, after)
	}
}
