//go:build linux

package fdring_test

// Put, Get, TryPut and TryGet: the per-item API. Its fast path (TryPut and
// TryGet in the ring package, inlined) runs only in builds without the race
// detector on amd64 within a process; every other case (race builds, rings
// shared between processes) takes the slow path, so these tests run the
// same checks over a heap ring and a Dial/Accept channel, and CI runs them
// with and without -race.

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/fdring/fdring"
)

// pgPairs are the channels the tests run on: each makes a pair for the
// (sub)test it is given.
func pgPairs(capacity int, opts ...fdring.Option) map[string]func(t *testing.T) (*fdring.Sender[uint64], *fdring.Receiver[uint64]) {
	return map[string]func(t *testing.T) (*fdring.Sender[uint64], *fdring.Receiver[uint64]){
		"heap": func(t *testing.T) (*fdring.Sender[uint64], *fdring.Receiver[uint64]) {
			return newChan[uint64](t, capacity, opts...)
		},
		"dial": func(t *testing.T) (*fdring.Sender[uint64], *fdring.Receiver[uint64]) {
			tx, rx := dialPair(t, listen(t), capacity, opts...)
			t.Cleanup(func() { tx.Close(); rx.Close() })
			return tx, rx
		},
	}
}

func pgCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPutGetStream moves a numbered stream one element per call through a
// small ring, so both sides fill, drain and sleep many times (no spin):
// every element arrives once, in order, and the end is io.EOF.
func TestPutGetStream(t *testing.T) {
	for name, mk := range pgPairs(8, fdring.WithSpin(0)) {
		t.Run(name, func(t *testing.T) {
			tx, rx := mk(t)
			ctx := pgCtx(t)
			const total = 20000
			errc := make(chan error, 1)
			go func() {
				for i := range uint64(total) {
					if err := tx.Put(ctx, i); err != nil {
						errc <- err
						return
					}
				}
				errc <- tx.Close()
			}()
			for want := range uint64(total) {
				v, err := rx.Get(ctx)
				if err != nil {
					t.Fatalf("Get #%d: %v", want, err)
				}
				if v != want {
					t.Fatalf("Get #%d = %d", want, v)
				}
			}
			if v, err := rx.Get(ctx); !errors.Is(err, io.EOF) {
				t.Fatalf("Get after the stream = %d, %v; want io.EOF", v, err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("producer: %v", err)
			}
			if st := tx.Stats(); st.Waits == 0 && st.Signals == 0 {
				t.Logf("no side slept (stats %+v): the wake paths were not exercised this run", st)
			}
		})
	}
}

// TestTryPutTryGet: the non-blocking calls report a full and an empty ring
// without an error, and mix with the callback API in order.
func TestTryPutTryGet(t *testing.T) {
	for name, mk := range pgPairs(4) {
		t.Run(name, func(t *testing.T) {
			tx, rx := mk(t)
			if v, ok, err := rx.TryGet(); ok || err != nil {
				t.Fatalf("TryGet on an empty ring = %d, %v, %v; want false, nil", v, ok, err)
			}
			for i := range uint64(4) {
				if ok, err := tx.TryPut(i); !ok || err != nil {
					t.Fatalf("TryPut(%d) = %v, %v", i, ok, err)
				}
			}
			if ok, err := tx.TryPut(9); ok || err != nil {
				t.Fatalf("TryPut on a full ring = %v, %v; want false, nil", ok, err)
			}
			if v, ok, err := rx.TryGet(); !ok || err != nil || v != 0 {
				t.Fatalf("TryGet = %d, %v, %v; want 0", v, ok, err)
			}
			// The callback API sees the rest in order, and a Send after
			// the Puts lands behind them.
			if n, err := tx.Send(func(f []uint64) int { f[0] = 4; return 1 }); n != 1 || err != nil {
				t.Fatalf("Send = %d, %v", n, err)
			}
			var got []uint64
			for len(got) < 4 {
				if _, err := rx.Recv(func(d []uint64) int { got = append(got, d[0]); return 1 }); err != nil {
					t.Fatal(err)
				}
			}
			for i, v := range got {
				if v != uint64(i+1) {
					t.Fatalf("after TryGet, Recv got %v; want 1 2 3 4", got)
				}
			}
			if v, ok, err := rx.TryGet(); ok || err != nil {
				t.Fatalf("TryGet on a drained ring = %d, %v, %v", v, ok, err)
			}
		})
	}
}

// waitSleeping waits (bounded) until a side has gone to sleep at least
// want times (Stats.Waits counts a sleep just before it starts).
func waitSleeping(t *testing.T, waits func() uint64, want uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for waits() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the side did not go to sleep (waits %d, want %d)", waits(), want)
		}
		runtime.Gosched()
	}
}

// TestGetWakesSleepingPut: a Put sleeps on a full ring; the Get that frees
// a slot (its inlined take sees the sleeping producer and leaves the wake
// to the slow path) returns that element and wakes the Put. And the mirror
// image: a Get sleeps on an empty ring and a Put wakes it.
func TestGetWakesSleepingPut(t *testing.T) {
	for name, mk := range pgPairs(2, fdring.WithSpin(0)) {
		t.Run(name, func(t *testing.T) {
			tx, rx := mk(t)
			ctx := pgCtx(t)
			for round := range uint64(50) {
				base := round * 3
				if err := tx.Put(ctx, base); err != nil {
					t.Fatal(err)
				}
				if err := tx.Put(ctx, base+1); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				waits := tx.Stats().Waits
				go func() { done <- tx.Put(ctx, base+2) }()
				waitSleeping(t, func() uint64 { return tx.Stats().Waits }, waits+1)
				for i := range uint64(3) {
					v, err := rx.Get(ctx)
					if err != nil || v != base+i {
						t.Fatalf("round %d: Get = %d, %v; want %d", round, v, err, base+i)
					}
				}
				if err := <-done; err != nil {
					t.Fatalf("round %d: the sleeping Put: %v", round, err)
				}
			}
			// The mirror image.
			for round := range uint64(50) {
				got := make(chan uint64, 1)
				errc := make(chan error, 1)
				waits := rx.Stats().Waits
				go func() {
					v, err := rx.Get(ctx)
					errc <- err
					got <- v
				}()
				waitSleeping(t, func() uint64 { return rx.Stats().Waits }, waits+1)
				if err := tx.Put(ctx, 1000+round); err != nil {
					t.Fatal(err)
				}
				if err := <-errc; err != nil {
					t.Fatalf("round %d: the sleeping Get: %v", round, err)
				}
				if v := <-got; v != 1000+round {
					t.Fatalf("round %d: the sleeping Get = %d", round, v)
				}
			}
		})
	}
}

// TestPutAfterReceiverClose: Puts after the receiver closed fail with
// ErrClosed (at most one more Put, whose own publish saw the close, reports
// success), and a Put sleeping on a full ring is woken by the close.
func TestPutAfterReceiverClose(t *testing.T) {
	for name, mk := range pgPairs(2, fdring.WithSpin(0)) {
		t.Run(name, func(t *testing.T) {
			tx, rx := mk(t)
			ctx := pgCtx(t)
			if err := tx.Put(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := tx.Put(ctx, 2); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			waits := tx.Stats().Waits
			go func() { done <- tx.Put(ctx, 3) }()
			waitSleeping(t, func() uint64 { return tx.Stats().Waits }, waits+1)
			rx.Close()
			if err := <-done; !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("the Put sleeping on a full ring when the receiver closed = %v, want ErrClosed", err)
			}
			if err := tx.Put(ctx, 4); !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("Put after the receiver closed = %v, want ErrClosed", err)
			}
			if ok, err := tx.TryPut(5); ok || !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("TryPut after the receiver closed = %v, %v; want ErrClosed", ok, err)
			}
		})
	}
	t.Run("room", func(t *testing.T) {
		tx, rx := newChan[uint64](t, 8)
		ctx := pgCtx(t)
		rx.Close()
		var err error
		puts := 0
		for ; puts < 3 && err == nil; puts++ {
			err = tx.Put(ctx, uint64(puts))
		}
		if !errors.Is(err, fdring.ErrClosed) || puts > 2 {
			t.Fatalf("Puts into a ring with room after the receiver closed: %d calls, last error %v; want ErrClosed by the second", puts, err)
		}
	})
}

// TestGetContext: a Get on an empty ring returns the context's error, and
// the ring still works after it.
func TestGetContext(t *testing.T) {
	tx, rx := newChan[uint64](t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if v, err := rx.Get(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get on an empty ring = %d, %v; want DeadlineExceeded", v, err)
	}
	for i := range uint64(4) {
		if err := tx.Put(pgCtx(t), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Put(ctx, 9); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put on a full ring with an ended context = %v; want DeadlineExceeded", err)
	}
	if v, err := rx.Get(pgCtx(t)); err != nil || v != 0 {
		t.Fatalf("Get = %d, %v", v, err)
	}
}

// TestPutGetNoAllocs: the per-item calls allocate nothing, on their fast
// path and when they fill and drain the ring.
func TestPutGetNoAllocs(t *testing.T) {
	tx, rx := newChan[uint64](t, 16)
	ctx := context.Background()
	if a := testing.AllocsPerRun(1000, func() {
		for i := range uint64(16) {
			tx.Put(ctx, i)
		}
		tx.TryPut(16)
		for range 16 {
			rx.Get(ctx)
		}
		rx.TryGet()
	}); a != 0 {
		t.Errorf("Put/TryPut/Get/TryGet allocs = %v", a)
	}
}
