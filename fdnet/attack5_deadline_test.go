package fdnet_test

import (
	"testing"
	"time"

	"github.com/fdring/fdring/fdnet"
)

// Attacks on sleeping Reads and Writes (WithSpin(0)) whose deadline
// contexts change between calls and while they sleep: each change may
// give the Waiter a new context to register on.

// TestAttack5DeadlinesWhileAsleep: a Read sleeps under a far deadline
// that is then moved into the past (a timeout), under a renewed one that
// data ends, under none that a short deadline set while it sleeps ends;
// a Write blocked on a full ring likewise; finally Close ends a sleeping
// Read and Write.
func TestAttack5DeadlinesWhileAsleep(t *testing.T) {
	a, b := pipe(t, fdnet.WithSpin(0), fdnet.WithBufferSize(4<<10))
	read := func() <-chan error {
		t.Helper()
		base := readSleeps(a)
		ch := async(func() error {
			var buf [1]byte
			n, err := a.Read(buf[:])
			if err == nil && n != 1 {
				t.Errorf("Read returned %d bytes", n)
			}
			return err
		})
		waitSleeping(t, func() uint64 { return readSleeps(a) }, base)
		return ch
	}
	for i := range 20 {
		if err := a.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		ch := read()
		if err := a.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		checkTimeout(t, await(t, ch))

		// Renewed after it passed: a fresh context; data ends the Read.
		if err := a.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		ch = read()
		if _, err := b.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := await(t, ch); err != nil {
			t.Fatalf("round %d: Read with data: %v", i, err)
		}

		// No deadline, then a short one set while the Read sleeps.
		if err := a.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		ch = read()
		if err := a.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		checkTimeout(t, await(t, ch))
		if err := a.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
	}

	// A Write blocked on the full ring, under a deadline moved into the
	// past while it sleeps: a timeout with part of the bytes written.
	big := make([]byte, 16<<10)
	for range 3 {
		if err := a.SetWriteDeadline(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		base := writeSleeps(a)
		ch := async(func() error { _, err := a.Write(big); return err })
		waitSleeping(t, func() uint64 { return writeSleeps(a) }, base)
		if err := a.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		checkTimeout(t, await(t, ch))
	}
	if err := a.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	// Close ends a sleeping Read and a sleeping Write.
	rch := read()
	base := writeSleeps(a)
	wch := async(func() error { _, err := a.Write(big); return err })
	waitSleeping(t, func() uint64 { return writeSleeps(a) }, base)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	checkClosed(t, await(t, rch))
	checkClosed(t, await(t, wch))
	if _, err := a.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read after Close succeeded")
	} else {
		checkClosed(t, err)
	}
}
