package fdring

// Attacks on SendWait's gather (sendFull, gather, gathered, lowWater): a
// context that ends, a header scribbled on while it spins, closes from
// other goroutines, tiny and huge rings and elements, streams and
// protocols that need both sides to make progress.

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/fdring/fdring/ring"
)

// headWord and rxStateWord are the header's words in a WithMemory ring.
func headWord(mem []byte) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&mem[ring.OffHead]))
}

func rxStateWord(mem []byte) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&mem[ring.OffRxState]))
}

// A hostile receiver scribbles on the header while SendWait gathers with a
// spin of a minute (the ring holds 16 of which 1 was read): the SendWait
// ends with ErrCorrupt without calling fill, or, for values inside the
// protocol, gathers and writes only slots the receiver freed.
func TestAttack6GatherHostileHeader(t *testing.T) {
	cases := []struct {
		name string
		// scribble runs until stop is closed (bounded in count).
		scribble func(mem []byte, stop <-chan struct{})
		want     error // nil: fill is offered wantFree
		wantFree int
	}{
		{"head backwards", func(mem []byte, _ <-chan struct{}) { headWord(mem).Store(0) }, ErrCorrupt, 0},
		{"head past tail", func(mem []byte, _ <-chan struct{}) { headWord(mem).Store(17) }, ErrCorrupt, 0},
		{"head wraps", func(mem []byte, _ <-chan struct{}) { headWord(mem).Store(^uint64(0)) }, ErrCorrupt, 0},
		{"rxState 7", func(mem []byte, _ <-chan struct{}) { rxStateWord(mem).Store(7) }, ErrCorrupt, 0},
		{"head flips valid and invalid", func(mem []byte, stop <-chan struct{}) {
			for i := 0; i < 1e8; i++ {
				select {
				case <-stop:
					return
				default:
				}
				headWord(mem).Store([]uint64{1, 2, 1000, 2}[i%4])
			}
		}, ErrCorrupt, 0},
		{"head forward then back", func(mem []byte, stop <-chan struct{}) {
			// 3 then 2: a head that moved back within the window.
			headWord(mem).Store(3)
			for i := 0; i < 1e8; i++ {
				select {
				case <-stop:
					return
				default:
				}
				headWord(mem).Store([]uint64{3, 2}[i%2])
			}
		}, ErrCorrupt, 0},
		{"rxState flips waiting", func(mem []byte, stop <-chan struct{}) {
			for i := 0; i < 1000; i++ {
				rxStateWord(mem).Store(uint32(i % 2))
			}
			rxStateWord(mem).Store(0)
			headWord(mem).Store(5) // four more read: a quarter free
		}, nil, 5},
		{"head at tail", func(mem []byte, _ <-chan struct{}) { headWord(mem).Store(16) }, nil, 16},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := alignedBytes(ring.Size[uint64](16), 128)
			tx, _ := gatherRing(t, time.Minute, 1, WithMemory(mem))
			gathering := make(chan struct{})
			tx.gatherHook = func() { close(gathering) }
			data := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[ring.Size[uint64](16)-16*8])), 16)
			before := append([]uint64(nil), data...)
			done := make(chan sendResult, 1)
			go func() {
				got := -1
				_, err := tx.SendWait(context.Background(), func(f []uint64) int {
					got = len(f)
					for i := range f {
						f[i] = 0xdead
					}
					return len(f)
				})
				done <- sendResult{got, err}
			}()
			await(t, gathering, "gather")
			stop := make(chan struct{})
			scribbled := make(chan struct{})
			go func() { defer close(scribbled); c.scribble(mem, stop) }()
			r := await(t, done, "SendWait")
			close(stop)
			await(t, scribbled, "scribbler")
			if c.want != nil {
				if !errors.Is(r.err, c.want) || r.free != -1 {
					t.Fatalf("SendWait: fill offered %d, err %v; want no fill and %v", r.free, r.err, c.want)
				}
				for i := range data {
					if data[i] != before[i] {
						t.Fatalf("slot %d written (%#x) on a corrupt ring", i, data[i])
					}
				}
				return
			}
			if r.err != nil || r.free != c.wantFree {
				t.Fatalf("SendWait: fill offered %d, err %v; want %d and nil", r.free, r.err, c.wantFree)
			}
			// Only the freed slots (the first wantFree-1 after the 1 read
			// before the gather, and that one) were written.
			for i := range data {
				want := before[i]
				if i < c.wantFree {
					want = 0xdead
				}
				if data[i] != want {
					t.Fatalf("slot %d = %#x, want %#x", i, data[i], want)
				}
			}
		})
	}
}

// Close and Stats race with gathers: this side's Close from another
// goroutine ends a SendWait that gathers with ErrClosed, Stats never goes
// backwards, and nothing races (run with -race).
func TestAttack6GatherCloseStatsRace(t *testing.T) {
	for round := range 20 {
		tx, rx := gatherRing(t, time.Minute, 1)
		gathering := make(chan struct{})
		tx.gatherHook = func() { close(gathering) }
		done := sendAll(tx)
		stats := make(chan struct{})
		go func() {
			defer close(stats)
			var last Stats
			for range 200 {
				for _, st := range []Stats{tx.Stats(), rx.Stats()} {
					if st.Sent < last.Sent || st.Received < last.Received {
						t.Errorf("Stats went back: %+v after %+v", st, last)
					}
					last = st
				}
			}
		}()
		await(t, gathering, "gather")
		if round%2 == 0 {
			tx.Close()
		} else {
			rx.Close()
		}
		r := await(t, done, "SendWait")
		if !errors.Is(r.err, ErrClosed) || r.free != -1 {
			t.Fatalf("round %d: SendWait: fill offered %d, err %v; want no fill and ErrClosed", round, r.free, r.err)
		}
		await(t, stats, "Stats")
		if n, err := tx.SendWait(context.Background(), func(f []uint64) int { return len(f) }); n != 0 || !errors.Is(err, ErrClosed) {
			t.Fatalf("round %d: SendWait after the close: %d, %v", round, n, err)
		}
	}
}

// A fill that returns 0 after a gather: SendWait returns (0, nil) at once,
// with fill called once. A fill that returns a count beyond its slice
// after a gather panics and publishes nothing.
func TestAttack6GatherFillCounts(t *testing.T) {
	tx, rx := gatherRing(t, time.Millisecond, 1)
	calls := 0
	n, err := tx.SendWait(context.Background(), func(f []uint64) int { calls++; return 0 })
	if n != 0 || err != nil || calls != 1 {
		t.Fatalf("SendWait with a fill of 0: %d, %v after %d calls", n, err, calls)
	}
	sent := tx.Stats().Sent
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a fill beyond its slice did not panic")
			}
		}()
		tx.SendWait(context.Background(), func(f []uint64) int { return len(f) + 1 })
	}()
	if got := tx.Stats().Sent; got != sent {
		t.Fatalf("a panicking fill published: Sent %d, was %d", got, sent)
	}
	// The ring still works: the slot is written, then read in order.
	if n, err := tx.SendWait(context.Background(), func(f []uint64) int { f[0] = 16; return 1 }); n != 1 || err != nil {
		t.Fatalf("SendWait after the panic: %d, %v", n, err)
	}
	for want := uint64(1); want <= 16; want++ {
		v, ok, err := rx.TryGet()
		if !ok || err != nil || v != want {
			t.Fatalf("TryGet = %d, %v, %v; want %d", v, ok, err, want)
		}
	}
}

// Rings of capacity 1 and 2 (lowWater 1) and elements beyond 64 KiB
// (lowWater 1) never gather: one free slot is written at once.
func TestAttack6GatherTinyRings(t *testing.T) {
	for _, capacity := range []int{1, 2} {
		tx, rx, err := New[uint64](capacity, WithSpin(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		tx.gatherHook = func() { t.Errorf("capacity %d gathered", capacity) }
		for i := range uint64(50) {
			for range capacity {
				if n, err := tx.SendWait(context.Background(), func(f []uint64) int { f[0] = i; return 1 }); n != 1 || err != nil {
					t.Fatalf("capacity %d: SendWait: %d, %v", capacity, n, err)
				}
			}
			for range capacity {
				if _, ok, err := rx.TryGet(); !ok || err != nil {
					t.Fatalf("capacity %d: TryGet: %v, %v", capacity, ok, err)
				}
			}
		}
		tx.Close()
		rx.Close()
	}
	type big [80 << 10]byte
	tx, rx, err := New[big](8, WithSpin(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	defer rx.Close()
	if tx.low != 1 {
		t.Fatalf("lowWater of 80 KiB elements = %d, want 1", tx.low)
	}
	tx.gatherHook = func() { t.Error("80 KiB elements gathered") }
	for range 8 {
		if n, err := tx.Send(func(f []big) int { return 1 }); n != 1 || err != nil {
			t.Fatalf("Send: %d, %v", n, err)
		}
	}
	if n, err := rx.Recv(func(d []big) int { return 1 }); n != 1 || err != nil {
		t.Fatalf("Recv: %d, %v", n, err)
	}
	if n, err := tx.SendWait(context.Background(), func(f []big) int { return len(f) }); n != 1 || err != nil {
		t.Fatalf("SendWait: %d, %v", n, err)
	}
}

// Put, TryPut and SendWait mixed on one Sender over a nearly full ring,
// with a receiver that reads a few at a time: every element arrives once,
// in order.
func TestAttack6GatherMixedPut(t *testing.T) {
	tx, rx, err := New[uint64](16, WithSpin(20*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	defer rx.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const total = 20000
	errc := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(6, 1))
		next := uint64(0)
		for next < total {
			switch rng.IntN(3) {
			case 0:
				if err := tx.Put(ctx, next); err != nil {
					errc <- err
					return
				}
				next++
			case 1:
				ok, err := tx.TryPut(next)
				if err != nil {
					errc <- err
					return
				}
				if ok {
					next++
				}
			default:
				k := 1 + rng.IntN(8)
				n, err := tx.SendWait(ctx, func(f []uint64) int {
					k = min(k, len(f), int(total-next))
					for i := range k {
						f[i] = next + uint64(i)
					}
					return k
				})
				next += uint64(n)
				if err != nil {
					errc <- err
					return
				}
			}
		}
		errc <- nil
	}()
	rng := rand.New(rand.NewPCG(6, 2))
	for want := uint64(0); want < total; {
		k := 1 + rng.IntN(3)
		_, err := rx.RecvWait(ctx, func(d []uint64) int {
			k = min(k, len(d))
			for i := range k {
				if d[i] != want+uint64(i) {
					t.Errorf("element %d = %d", want+uint64(i), d[i])
				}
			}
			want += uint64(k)
			return k
		})
		if err != nil {
			t.Fatalf("RecvWait at %d: %v", want, err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// Two goroutines stream with SendWait and RecvWait of random batch sizes
// over small rings that run nearly full: every element arrives once, in
// order.
func TestAttack6GatherStream(t *testing.T) {
	for _, capacity := range []int{4, 16, 256} {
		tx, rx, err := New[uint64](capacity, WithSpin(50*time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		const total = 100000
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(capacity), 3))
			for next := uint64(0); next < total; {
				k := 1 + rng.IntN(capacity)
				n, err := tx.SendWait(ctx, func(f []uint64) int {
					k = min(k, len(f), int(total-next))
					for i := range k {
						f[i] = next + uint64(i)
					}
					return k
				})
				next += uint64(n)
				if err != nil {
					t.Errorf("SendWait at %d: %v", next, err)
					return
				}
			}
			tx.Close()
		}()
		rng := rand.New(rand.NewPCG(uint64(capacity), 4))
		want := uint64(0)
		for {
			k := 1 + rng.IntN(capacity)
			_, err := rx.RecvWait(ctx, func(d []uint64) int {
				k = min(k, len(d))
				for i := range k {
					if d[i] != want+uint64(i) {
						t.Errorf("capacity %d: element %d = %d", capacity, want+uint64(i), d[i])
					}
				}
				want += uint64(k)
				return k
			})
			if err != nil {
				if want != total {
					t.Fatalf("capacity %d: RecvWait at %d of %d: %v", capacity, want, total, err)
				}
				break
			}
			if t.Failed() {
				break
			}
		}
		cancel()
		wg.Wait()
		rx.Close()
	}
}

// A protocol where each side needs the other's progress: the receiver
// reads one element, then waits until the producer sent one more before it
// reads again, over a full ring. The producer's gathers find too little
// room each time and end with the spin: the exchange runs to its end.
func TestAttack6GatherLockstep(t *testing.T) {
	tx, rx := gatherRing(t, 200*time.Microsecond, 0)
	sent := make(chan uint64, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const steps = 200
	errc := make(chan error, 1)
	go func() {
		for i := uint64(16); i < 16+steps; i++ {
			if _, err := tx.SendWait(ctx, func(f []uint64) int { f[0] = i; return 1 }); err != nil {
				errc <- err
				return
			}
			sent <- i
		}
		errc <- nil
	}()
	for i := uint64(0); i < steps; i++ {
		v, err := rx.Get(ctx)
		if err != nil || v != i {
			t.Fatalf("Get = %d, %v; want %d", v, err, i)
		}
		select {
		case got := <-sent:
			if got != 16+i {
				t.Fatalf("sent %d, want %d", got, 16+i)
			}
		case <-ctx.Done():
			t.Fatalf("step %d: the producer sent nothing", i)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if st := tx.Stats(); st.Waits != 0 {
		t.Logf("%d producer sleeps", st.Waits)
	}
}

// Writer.Write over a byte ring that runs nearly full gathers and still
// delivers every byte in order.
func TestAttack6GatherWriter(t *testing.T) {
	tx, rx, err := New[byte](64, WithSpin(50*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if tx.low != 16 {
		t.Fatalf("lowWater of 64 bytes = %d, want 16", tx.low)
	}
	var gathers atomic.Int64
	tx.gatherHook = func() { gathers.Add(1) }
	w := NewWriter(tx)
	msg := make([]byte, 100000)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		for off := 0; off < len(msg); off += 37 {
			if _, err := w.Write(msg[off:min(off+37, len(msg))]); err != nil {
				errc <- err
				return
			}
		}
		errc <- w.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make([]byte, 0, len(msg))
	for {
		_, err := rx.RecvWait(ctx, func(d []byte) int {
			k := min(len(d), 5)
			got = append(got, d[:k]...)
			return k
		})
		if err != nil {
			break
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if string(got) != string(msg) {
		t.Fatalf("received %d bytes, not what was written (%d)", len(got), len(msg))
	}
	t.Logf("%d gathers", gathers.Load())
}

// A receiver that reads one element at a time with gaps between (here:
// nothing runs while the producer gathers) costs the producer one spin per
// SendWait and never a sleep: each SendWait gathers once, times out, and
// writes the one slot there is.
func TestAttack6GatherOneSpinPerRefill(t *testing.T) {
	tx, rx := gatherRing(t, 200*time.Microsecond, 0)
	gathers := 0
	tx.gatherHook = func() { gathers++ }
	for round := range 50 {
		take(t, rx, 1)
		before := gathers
		n, err := tx.SendWait(context.Background(), func(f []uint64) int { return len(f) })
		if n != 1 || err != nil {
			t.Fatalf("round %d: SendWait: %d, %v; want 1 and nil", round, n, err)
		}
		if g := gathers - before; g != 1 {
			t.Fatalf("round %d: %d gathers in one SendWait, want 1", round, g)
		}
	}
	if st := tx.Stats(); st.Waits != 0 {
		t.Fatalf("the producer slept %d times", st.Waits)
	}
	// With nothing read, a SendWait does not gather (room 0): it sleeps
	// until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	before := gathers
	if n, err := tx.SendWait(ctx, func(f []uint64) int { return len(f) }); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendWait on a full ring: %d, %v", n, err)
	}
	if gathers != before {
		t.Fatal("gathered on a ring with no room")
	}
}
