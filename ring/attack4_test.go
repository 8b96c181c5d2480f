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

// FuzzAttack4MixedCalls drives both sides of one ring, in one goroutine,
// with a script that mixes the per-item calls (TryPut/Put, TryGet/Get)
// with the slice calls (Push, Reserve/Commit, Pull, Peek/Release) and the
// closes. A model tracks what each call may do: the stream the receiver
// sees is exactly the elements published, in order, nothing after the
// end; Commit and Release panic exactly when they exceed the reservation
// or peek still held (a publish or read since ended it); nothing is
// published after the side stopped.
func FuzzAttack4MixedCalls(f *testing.F) {
	f.Add([]byte{0, 3, 1, 4, 2, 5, 6, 7, 8, 9})
	f.Add([]byte{2, 0, 3, 0, 5, 1, 4, 6, 7, 10, 1, 1})
	f.Add([]byte{5, 9, 1, 11, 0, 0, 0, 2, 2, 2})
	f.Add([]byte{2, 8, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 12, 1, 1, 1})
	f.Fuzz(func(t *testing.T, script []byte) {
		const capacity = 8
		r := newRing[uint64](t, capacity)
		tx, rx := r.Sender(), r.Receiver()
		var (
			sent, got      uint64 // next value to publish, next value expected
			resv           []uint64
			resAt          uint64 // sent when resv was reserved
			peek           []uint64
			peekAt         uint64
			txStop, rxStop bool // the side reported ring.Stopped
			ended          bool // the receiver reported the end
			rxClosed       bool
		)
		recv := func(v uint64, what string) {
			if rxStop || ended {
				t.Fatalf("%s delivered %d after the receiver stopped", what, v)
			}
			if v != got {
				t.Fatalf("%s delivered %d, want %d", what, v, got)
			}
			got++
		}
		sentRes := func(res ring.Result, n int, what string) {
			if txStop && n > 0 {
				t.Fatalf("%s published %d after ring.Stopped", what, n)
			}
			if res == ring.Stopped {
				txStop = true
			}
		}
		for i, op := range script {
			arg := 0
			if i+1 < len(script) {
				arg = int(script[i+1] % (capacity + 2))
			}
			switch op % 13 {
			case 0: // Put
				res := put(tx, sent)
				if res == ring.OK || res == ring.Wake {
					sentRes(res, 1, "Put")
					sent++
				} else {
					sentRes(res, 0, "Put")
				}
			case 1: // Get
				v, res := get(rx)
				switch res {
				case ring.OK, ring.Wake:
					recv(v, "Get")
				case ring.Stopped:
					rxStop = rxStop || rxClosed
					ended = ended || rx.Done()
				}
			case 2: // Push up to arg
				n, res := tx.Push(func(f []uint64) int {
					k := min(len(f), arg)
					for j := range k {
						f[j] = sent + uint64(j)
					}
					return k
				})
				sentRes(res, n, "Push")
				sent += uint64(n)
			case 3: // Pull up to arg
				n, res := rx.Pull(func(d []uint64) int {
					k := min(len(d), arg)
					for _, v := range d[:k] {
						recv(v, "Pull")
					}
					return k
				})
				if res == ring.Stopped {
					rxStop = rxStop || rxClosed
					ended = ended || rx.Done()
				}
				_ = n
			case 4: // Reserve and fill the slice with what a Commit would publish
				resv = tx.Reserve()
				resAt = sent
				for j := range resv {
					resv[j] = sent + uint64(j)
				}
			case 5: // Commit arg
				held := 0
				if resAt == sent {
					held = len(resv)
				}
				resv = nil
				if tx.Closed() {
					if res := tx.Commit(arg); res != ring.Stopped {
						t.Fatalf("Commit after Close = %v", res)
					}
					txStop = true
					continue
				}
				if arg > held {
					mustPanic(t, "Commit beyond the held reservation", func() { tx.Commit(arg) })
					continue
				}
				res := tx.Commit(arg)
				if res == ring.Stopped && arg > 0 && !txStop {
					// The commit published, then saw the stop.
					sent += uint64(arg)
					txStop = true
					continue
				}
				sentRes(res, arg, "Commit")
				sent += uint64(arg)
			case 6: // Peek and check what it shows
				peek = rx.Peek()
				peekAt = got
				if len(peek) > 0 && (rxStop || ended) {
					t.Fatalf("Peek showed %d after the receiver stopped", len(peek))
				}
				for j, v := range peek {
					if v != got+uint64(j) {
						t.Fatalf("Peek[%d] = %d, want %d", j, v, got+uint64(j))
					}
				}
			case 7: // Release arg
				held := 0
				if peekAt == got {
					held = len(peek)
				}
				peek = nil
				if rx.Closed() {
					if res := rx.Release(arg); res != ring.Stopped {
						t.Fatalf("Release after Close = %v", res)
					}
					continue
				}
				if arg > held {
					mustPanic(t, "Release beyond the held peek", func() { rx.Release(arg) })
					continue
				}
				rx.Release(arg)
				got += uint64(arg)
			case 8:
				tx.Close()
			case 9:
				rx.Close()
				rxClosed = true
			case 10:
				tx.Arm()
				tx.Disarm()
			case 11:
				rx.Arm()
				rx.Disarm()
			case 12:
				tx.Ready()
				rx.Ready()
			}
		}
		if got > sent {
			t.Fatalf("received %d of %d sent", got, sent)
		}
	})
}
