package ring_test

// Attacks on the per-item calls (TryPut/Put, TryGet/Get) mixed with the
// slice calls of the same side. TryPut and TryGet run their inlined fast
// path only without the race detector on amd64; under -race they always
// leave the work to Put and Get. Whatever the build, a side must behave
// the same: these tests run in both.

import (
	"testing"

	"github.com/fdring/fdring/ring"
)

// put is the documented per-item pattern: TryPut, and Put when it says no.
func put[T any](tx *ring.Sender[T], v T) ring.Result {
	if tx.TryPut(v) {
		return ring.OK
	}
	return tx.Put(v)
}

// get is the documented per-item pattern: TryGet, and Get when it says no.
func get[T any](rx *ring.Receiver[T]) (T, ring.Result) {
	v, ok := rx.TryGet()
	if ok {
		return v, ring.OK
	}
	return rx.Get(v)
}

// drain reads everything readable.
func drain(rx *ring.Receiver[uint64]) []uint64 {
	var got []uint64
	for range 64 {
		n, _ := rx.Recv(func(d []uint64) int {
			got = append(got, d...)
			return len(d)
		})
		if n == 0 {
			break
		}
	}
	return got
}

// TestAttack4PutEndsReservation: a Put between Reserve and Commit ends the
// reservation (Put says so; under -race that is what happens: Commit of
// more than 0 panics as beyond the reservation). Without -race the inlined
// TryPut kept it, so Commit published the reserved slots one further on:
// the element the caller wrote into free[n-1]'s successor was never
// written, and the receiver got a stale slot as data.
func TestAttack4PutEndsReservation(t *testing.T) {
	r := newRing[uint64](t, 8)
	tx, rx := r.Sender(), r.Receiver()
	// A lap first, so every slot holds an old value a stale commit would show.
	for i := range uint64(8) {
		put(tx, 1000+i)
	}
	if got := drain(rx); len(got) != 8 {
		t.Fatalf("first lap: %v", got)
	}
	free := tx.Reserve()
	if len(free) < 2 {
		t.Fatalf("Reserve = %d slots", len(free))
	}
	free[0], free[1] = 100, 101
	if res := put(tx, 7); res != ring.OK {
		t.Fatalf("Put = %v", res)
	}
	mustPanic(t, "Commit(2) after a Put ended the reservation", func() { tx.Commit(2) })
	got := drain(rx)
	if len(got) != 1 || got[0] != 7 {
		t.Fatalf("receiver got %v; want [7] (only what was published)", got)
	}
}

// TestAttack4PushEndsReservation: the same for a Push between Reserve and
// Commit (the slots Commit would publish are not the ones written).
func TestAttack4PushEndsReservation(t *testing.T) {
	r := newRing[uint64](t, 8)
	tx, rx := r.Sender(), r.Receiver()
	free := tx.Reserve()
	free[0], free[1] = 100, 101
	tx.Push(func(f []uint64) int { f[0] = 5; return 1 })
	mustPanic(t, "Commit(2) after a Push ended the reservation", func() { tx.Commit(2) })
	if got := drain(rx); len(got) != 1 || got[0] != 5 {
		t.Fatalf("receiver got %v; want [5]", got)
	}
}

// TestAttack4GetEndsPeek: a Get between Peek and Release ends the peek (Get
// says so; under -race Release of more than 0 panics). Without -race the
// inlined TryGet kept it, so Release freed the peeked count one element
// further on: an element never delivered.
func TestAttack4GetEndsPeek(t *testing.T) {
	r := newRing[uint64](t, 8)
	tx, rx := r.Sender(), r.Receiver()
	for i := range uint64(4) {
		put(tx, i)
	}
	if p := rx.Peek(); len(p) != 4 || p[0] != 0 {
		t.Fatalf("Peek = %v", p)
	}
	if v, res := get(rx); res != ring.OK || v != 0 {
		t.Fatalf("Get = %d, %v", v, res)
	}
	mustPanic(t, "Release(2) after a Get ended the peek", func() { rx.Release(2) })
	var got []uint64
	for range 8 {
		v, res := get(rx)
		if res != ring.OK {
			break
		}
		got = append(got, v)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("after the Get: %v; want [1 2 3] (nothing lost)", got)
	}
}

// TestAttack4PullEndsPeek: the same for a Pull between Peek and Release.
func TestAttack4PullEndsPeek(t *testing.T) {
	r := newRing[uint64](t, 8)
	tx, rx := r.Sender(), r.Receiver()
	for i := range uint64(4) {
		put(tx, i)
	}
	rx.Peek()
	rx.Pull(func(d []uint64) int { return 1 })
	mustPanic(t, "Release(2) after a Pull ended the peek", func() { rx.Release(2) })
	if got := drain(rx); len(got) != 3 || got[0] != 1 {
		t.Fatalf("after the Pull: %v; want [1 2 3]", got)
	}
}

// TestAttack4NoPutAfterStop: once the sender saw the receiver's close (a
// Push reported Stopped), Put reports Stopped and publishes nothing, also
// when a reservation made before that Push was never committed. Without
// -race the inlined TryPut kept writing into the window that reservation
// held open and Put reported OK: elements "sent" into a ring nobody reads,
// after the sender was told it stopped (under -race: Stopped).
func TestAttack4NoPutAfterStop(t *testing.T) {
	r := newRing[uint64](t, 8)
	tx, rx := r.Sender(), r.Receiver()
	if free := tx.Reserve(); len(free) != 8 {
		t.Fatalf("Reserve = %d", len(free))
	}
	rx.Close()
	if n, res := tx.Push(func(f []uint64) int { f[0] = 1; return 1 }); n != 1 || res != ring.Stopped {
		t.Fatalf("Push after the receiver's close = %d, %v; want 1, Stopped", n, res)
	}
	sent := tx.Sent()
	for i := range uint64(4) {
		if res := put(tx, i); res != ring.Stopped {
			t.Fatalf("Put #%d after the stop = %v; want Stopped", i, res)
		}
	}
	if tx.Sent() != sent {
		t.Fatalf("Sent moved from %d to %d after the stop", sent, tx.Sent())
	}
}

// TestAttack4EOFIsFinal: once the receiver saw the end of the stream (the
// producer closed and everything was read: Get reports Stopped, Done is
// true), it stays at the end. A Put (or Push) racing with a Close from
// another goroutine can check the halt word before the Close and store its
// tail after the Close's state swap; the receiver may have taken the end
// in between. Here a second view of the same memory plays that late store
// deterministically. Before the fix the next Get delivered the element:
// io.EOF, then data.
func TestAttack4EOFIsFinal(t *testing.T) {
	m := mem(ring.Size[uint64](8))
	a, err := ring.Init[uint64](m, 8)
	if err != nil {
		t.Fatal(err)
	}
	tx := a.Sender()
	put(tx, 1)
	put(tx, 2)
	late, err := ring.Open[uint64](m) // the in-flight Put: tail 2, halt clear
	if err != nil {
		t.Fatal(err)
	}
	b, err := ring.Open[uint64](m)
	if err != nil {
		t.Fatal(err)
	}
	rx := b.Receiver()
	for want := uint64(1); want <= 2; want++ {
		if v, res := get(rx); res != ring.OK || v != want {
			t.Fatalf("Get = %d, %v; want %d", v, res, want)
		}
	}
	tx.Close()
	if _, res := get(rx); res != ring.Stopped || !rx.Done() {
		t.Fatalf("Get at the end = %v (Done %v); want Stopped, Done", res, rx.Done())
	}
	put(late.Sender(), 3) // the racing Put's store lands now
	for k := range 3 {
		if v, res := get(rx); res != ring.Stopped {
			t.Fatalf("Get #%d after the end = %d, %v; want Stopped", k, v, res)
		}
		if n, res := rx.Pull(func(d []uint64) int { return len(d) }); n != 0 || res != ring.Stopped {
			t.Fatalf("Pull #%d after the end = %d, %v; want 0, Stopped", k, n, res)
		}
		if p := rx.Peek(); len(p) != 0 {
			t.Fatalf("Peek #%d after the end = %v", k, p)
		}
		if !rx.Done() {
			t.Fatalf("Done #%d after the end = false", k)
		}
	}
}
