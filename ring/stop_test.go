package ring_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/fdring/fdring/ring"
)

// TestStopKeepsPeek: a side that stops (a bad peer state word seen by Done)
// while its caller holds a peeked slice keeps that slice releasable, and
// nothing afterwards computes a slice end below its start (the panic
// "slice bounds out of range [13:10]" this used to give).
func TestStopKeepsPeek(t *testing.T) {
	r := newRing[uint64](t, 16)
	tx, rx := r.Sender(), r.Receiver()
	tx.Send(func(f []uint64) int { return 10 })
	d := rx.Peek()
	if len(d) != 10 {
		t.Fatalf("peek %d", len(d))
	}
	binary.NativeEndian.PutUint32(r.Mem()[ring.OffTxState:], 7)
	if rx.Done() {
		t.Fatal("done on a corrupt ring")
	}
	if !errors.Is(rx.Err(), ring.ErrCorrupt) {
		t.Fatalf("Err = %v", rx.Err())
	}
	rx.Release(len(d))
	for range 3 {
		if got := rx.Peek(); len(got) != 0 {
			t.Fatalf("a stopped side handed out %d more", len(got))
		}
		if n, res := rx.Pull(func(d []uint64) int { return len(d) }); n != 0 || res != ring.Stopped {
			t.Fatalf("Pull after stop = %d, %v", n, res)
		}
	}

	// The sending side: the commit that sees a bad state stops it.
	r = newRing[uint64](t, 16)
	tx = r.Sender()
	free := tx.Reserve()
	binary.NativeEndian.PutUint32(r.Mem()[ring.OffRxState:], 9)
	if res := tx.Commit(len(free)); res != ring.Stopped || !errors.Is(tx.Err(), ring.ErrCorrupt) {
		t.Fatalf("Commit on a bad rxState = %v, Err %v", res, tx.Err())
	}
	for range 3 {
		if got := tx.Reserve(); len(got) != 0 {
			t.Fatalf("a stopped side reserved %d more", len(got))
		}
	}
}

// TestBadOwnStateStops: a peer that writes a value outside the protocol into
// a side's own state word, or "closed" into it although the side did not
// close, makes Arm report corruption instead of "do not sleep" for ever.
func TestBadOwnStateStops(t *testing.T) {
	for _, v := range []uint32{2, 5, 1 << 31} {
		r := newRing[uint64](t, 8)
		rx := r.Receiver()
		binary.NativeEndian.PutUint32(r.Mem()[ring.OffRxState:], v)
		if !rx.Arm() {
			t.Fatalf("state %d: Arm would sleep", v)
		}
		if !errors.Is(rx.Err(), ring.ErrCorrupt) {
			t.Fatalf("state %d: Err = %v", v, rx.Err())
		}
		if n, res := rx.Pull(func(d []uint64) int { return len(d) }); n != 0 || res != ring.Stopped {
			t.Fatalf("state %d: Pull = %d, %v", v, n, res)
		}
	}
}

// TestPushReportsReceiverClose: the publish that sees the receiver's close
// says so (Stopped) on the same call, and the next Push does not call fill.
func TestPushReportsReceiverClose(t *testing.T) {
	r := newRing[uint64](t, 8)
	tx, rx := r.Sender(), r.Receiver()
	rx.Close()
	if n, res := tx.Push(func(f []uint64) int { f[0] = 1; return 1 }); n != 1 || res != ring.Stopped {
		t.Fatalf("Push after the receiver closed = %d, %v, want 1, Stopped", n, res)
	}
	called := false
	if n, res := tx.Push(func(f []uint64) int { called = true; return 1 }); n != 0 || res != ring.Stopped || called {
		t.Fatalf("second Push = %d, %v, fill called %v", n, res, called)
	}
}
