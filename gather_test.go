package fdring

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/fdring/fdring/ring"
)

// gatherRing returns a ring of 16 uint64 (lowWater 4) that is full, with
// its sender's cached view full too, after the receiver took freed
// elements: the state in which a SendWait looks at the receiver's index
// and finds a little room.
func gatherRing(t *testing.T, spin time.Duration, freed int, opts ...Option) (*Sender[uint64], *Receiver[uint64]) {
	t.Helper()
	tx, rx, err := New[uint64](16, append([]Option{WithSpin(spin)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close(); rx.Close() })
	if tx.low != 4 {
		t.Fatalf("lowWater of 16 uint64 = %d, want 4", tx.low)
	}
	// A gather here ends by what the test does, or with its spin; not
	// because the receiver (the test) freed nothing for gatherIdle.
	tx.idle = time.Hour
	for i := uint64(0); i < 16; i++ {
		if err := tx.Put(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := tx.TryPut(16); ok || err != nil {
		t.Fatalf("TryPut on a full ring: %v, %v", ok, err)
	}
	take(t, rx, freed)
	return tx, rx
}

// take receives n elements, one per call.
func take(t *testing.T, rx *Receiver[uint64], n int) {
	t.Helper()
	for range n {
		if k, err := rx.Recv(func(d []uint64) int { return 1 }); k != 1 || err != nil {
			t.Fatalf("Recv: %d, %v", k, err)
		}
	}
}

type sendResult struct {
	free int // len(free) fill was called with; -1 when not called
	err  error
}

// sendAll starts a SendWait whose fill writes everything it is offered.
func sendAll(tx *Sender[uint64]) <-chan sendResult {
	done := make(chan sendResult, 1)
	go func() {
		got := -1
		_, err := tx.SendWait(context.Background(), func(f []uint64) int { got = len(f); return len(f) })
		done <- sendResult{got, err}
	}()
	return done
}

func await[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
	}
	panic("unreachable")
}

// A SendWait that finds 1 slot free of 16 waits for a quarter of the ring
// before it writes: the receiver frees 3 more while it spins, and fill is
// offered 4.
func TestSendWaitGathers(t *testing.T) {
	tx, rx := gatherRing(t, time.Minute, 1)
	gathering := make(chan struct{})
	tx.gatherHook = func() { close(gathering) }
	done := sendAll(tx)
	await(t, gathering, "gather")
	take(t, rx, 3)
	if r := await(t, done, "SendWait"); r.err != nil || r.free != 4 {
		t.Fatalf("SendWait: fill offered %d, err %v; want 4 and nil", r.free, r.err)
	}
}

// A receiver that frees no more costs the spin, never a wait: fill gets
// the one slot there is once the spin ends.
func TestSendWaitGatherTimesOut(t *testing.T) {
	tx, _ := gatherRing(t, time.Millisecond, 1)
	gathered := false
	tx.gatherHook = func() { gathered = true }
	r := await(t, sendAll(tx), "SendWait")
	if r.err != nil || r.free != 1 || !gathered {
		t.Fatalf("SendWait: fill offered %d, err %v, gathered %v; want 1, nil, true", r.free, r.err, gathered)
	}
	if st := tx.Stats(); st.Waits != 0 {
		t.Errorf("the gather slept: %d waits", st.Waits)
	}
}

// With no spin there is no gather: fill gets the one slot at once.
func TestSendWaitNoSpinNoGather(t *testing.T) {
	tx, _ := gatherRing(t, 0, 1)
	tx.gatherHook = func() { t.Error("gathered with WithSpin(0)") }
	if r := await(t, sendAll(tx), "SendWait"); r.err != nil || r.free != 1 {
		t.Fatalf("SendWait: fill offered %d, err %v; want 1 and nil", r.free, r.err)
	}
}

// Room enough already: no gather.
func TestSendWaitEnoughRoomNoGather(t *testing.T) {
	tx, _ := gatherRing(t, time.Minute, 4)
	tx.gatherHook = func() { t.Error("gathered with a quarter of the ring free") }
	if r := await(t, sendAll(tx), "SendWait"); r.err != nil || r.free != 4 {
		t.Fatalf("SendWait: fill offered %d, err %v; want 4 and nil", r.free, r.err)
	}
}

// A gather ends as soon as the ring takes nothing more, however long the
// spin: the receiver's Close, this side's Close from another goroutine,
// or a hostile head index; the SendWait then reports it without calling
// fill.
func TestSendWaitGatherStops(t *testing.T) {
	cases := []struct {
		name string
		stop func(tx *Sender[uint64], rx *Receiver[uint64], mem []byte)
		want error
	}{
		{"receiver closes", func(_ *Sender[uint64], rx *Receiver[uint64], _ []byte) { rx.Close() }, ErrClosed},
		{"sender closes", func(tx *Sender[uint64], _ *Receiver[uint64], _ []byte) { tx.Close() }, ErrClosed},
		{"head beyond tail", func(_ *Sender[uint64], _ *Receiver[uint64], mem []byte) {
			// The header's head word (offset 256): past the 16 published.
			(*atomic.Uint64)(unsafe.Pointer(&mem[256])).Store(1000)
		}, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := alignedBytes(ring.Size[uint64](16), 128)
			tx, rx := gatherRing(t, time.Minute, 1, WithMemory(mem))
			gathering := make(chan struct{})
			tx.gatherHook = func() { close(gathering) }
			done := sendAll(tx)
			await(t, gathering, "gather")
			c.stop(tx, rx, mem)
			r := await(t, done, "SendWait")
			if !errors.Is(r.err, c.want) || r.free != -1 {
				t.Fatalf("SendWait: fill offered %d, err %v; want no fill and %v", r.free, r.err, c.want)
			}
		})
	}
}

// The gather allocates nothing: a SendWait that finds 1 slot of 16 free
// spins its 2 us and writes it, over and over.
func TestSendWaitGatherNoAllocs(t *testing.T) {
	gatherNoAllocs(t, context.Background(), "SendWait with a gather")
}

// gatherNoAllocs checks that 100 SendWaits on ctx, each of which gathers
// (1 slot of 16 free, a 2 us spin) and writes that slot, allocate nothing.
func gatherNoAllocs(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	tx, rx := gatherRing(t, 2*time.Microsecond, 1)
	gathers := 0
	tx.gatherHook = func() { gathers++ }
	fill := func(f []uint64) int { return 1 }
	read := func(d []uint64) int { return 1 }
	if a := testing.AllocsPerRun(100, func() {
		if n, err := tx.SendWait(ctx, fill); n != 1 || err != nil {
			t.Fatalf("SendWait: %d, %v", n, err)
		}
		if n, err := rx.Recv(read); n != 1 || err != nil {
			t.Fatalf("Recv: %d, %v", n, err)
		}
	}); a != 0 {
		t.Errorf("%s: %v allocs", what, a)
	}
	if gathers < 100 {
		t.Errorf("%d gathers in 101 SendWaits, want every one", gathers)
	}
}

func TestLowWater(t *testing.T) {
	for _, c := range []struct {
		capacity int
		size     uintptr
		want     int
	}{
		{1024, 8, 256},
		{16, 8, 4},
		{4 << 20, 1, 64 << 10},
		{1 << 20, 4096, 16},
		{2, 8, 1},
		{1, 8, 1},
		{64, 0, 16},
	} {
		if got := lowWater(c.capacity, c.size); got != c.want {
			t.Errorf("lowWater(%d, %d) = %d, want %d", c.capacity, c.size, got, c.want)
		}
	}
}
